#include "raft/progress.h"

#include <algorithm>

namespace cairn::raft {

const char* ProgressStateName(ProgressState s) {
  switch (s) {
    case ProgressState::kProbe: return "probe";
    case ProgressState::kReplicate: return "replicate";
    case ProgressState::kSnapshot: return "snapshot";
  }
  return "?";
}

void Progress::BecomeProbe() {
  // After a snapshot, the member's log matches at least up to the snapshot.
  if (state == ProgressState::kSnapshot) {
    next = std::max(match + 1, pending_snapshot + 1);
  } else {
    next = match + 1;
  }
  state = ProgressState::kProbe;
  probe_sent = false;
  pending_snapshot = 0;
  inflights.Reset();
}

void Progress::BecomeReplicate() {
  state = ProgressState::kReplicate;
  next = match + 1;
  probe_sent = false;
  pending_snapshot = 0;
  inflights.Reset();
}

void Progress::BecomeSnapshot(uint64_t snapshot_index) {
  state = ProgressState::kSnapshot;
  pending_snapshot = snapshot_index;
  probe_sent = false;
  inflights.Reset();
}

bool Progress::MaybeUpdate(uint64_t n) {
  bool updated = false;
  if (match < n) {
    match = n;
    updated = true;
    probe_sent = false;
  }
  next = std::max(next, n + 1);
  return updated;
}

bool Progress::MaybeDecreaseTo(uint64_t rejected, uint64_t match_hint) {
  if (state == ProgressState::kReplicate) {
    if (rejected <= match) return false;  // stale: already known to match past it
    next = match + 1;
    return true;
  }
  // Probing sends one message at a time from next - 1; any other rejection is an old one.
  if (next - 1 != rejected) return false;
  next = std::max<uint64_t>(std::min(rejected, match_hint + 1), match + 1);
  next = std::max<uint64_t>(next, 1);
  probe_sent = false;
  return true;
}

bool Progress::IsPaused() const {
  switch (state) {
    case ProgressState::kProbe: return probe_sent;
    case ProgressState::kReplicate: return inflights.Full();
    case ProgressState::kSnapshot: return true;
  }
  return true;
}

void ProgressTracker::Reset(const cairnpb::ConfState& cs, uint64_t next_index) {
  voters_.clear();
  learners_.clear();
  progress_.clear();
  for (uint64_t id : cs.voters()) AddVoter(id, next_index);
  for (uint64_t id : cs.learners()) {
    if (!IsVoter(id)) AddLearner(id, next_index);
  }
}

cairnpb::ConfState ProgressTracker::ConfState() const {
  cairnpb::ConfState cs;
  for (uint64_t id : voters_) cs.add_voters(id);
  for (uint64_t id : learners_) cs.add_learners(id);
  return cs;
}

Progress* ProgressTracker::Get(uint64_t id) {
  auto it = progress_.find(id);
  return it == progress_.end() ? nullptr : &it->second;
}

const Progress* ProgressTracker::Get(uint64_t id) const {
  auto it = progress_.find(id);
  return it == progress_.end() ? nullptr : &it->second;
}

void ProgressTracker::AddVoter(uint64_t id, uint64_t next_index) {
  voters_.insert(id);
  learners_.erase(id);
  auto [it, inserted] = progress_.try_emplace(id, max_inflight_);
  if (inserted) {
    it->second.next = next_index;
    // A newcomer has had no chance to answer yet; do not count it against CheckQuorum at once.
    it->second.recent_active = true;
  }
  it->second.is_learner = false;
}

void ProgressTracker::AddLearner(uint64_t id, uint64_t next_index) {
  if (IsVoter(id)) return;
  learners_.insert(id);
  auto [it, inserted] = progress_.try_emplace(id, max_inflight_);
  if (inserted) {
    it->second.next = next_index;
    it->second.recent_active = true;
  }
  it->second.is_learner = true;
}

void ProgressTracker::PromoteLearner(uint64_t id) {
  learners_.erase(id);
  voters_.insert(id);
  if (Progress* pr = Get(id)) pr->is_learner = false;
}

void ProgressTracker::Remove(uint64_t id) {
  voters_.erase(id);
  learners_.erase(id);
  progress_.erase(id);
  votes_.erase(id);
}

uint64_t ProgressTracker::QuorumMatch() const {
  if (voters_.empty()) return 0;
  std::vector<uint64_t> matches;
  matches.reserve(voters_.size());
  for (uint64_t id : voters_) {
    const Progress* pr = Get(id);
    matches.push_back(pr ? pr->match : 0);
  }
  std::sort(matches.begin(), matches.end(), std::greater<uint64_t>());
  return matches[Quorum() - 1];
}

bool ProgressTracker::QuorumActive(uint64_t self) const {
  size_t active = 0;
  for (uint64_t id : voters_) {
    const Progress* pr = Get(id);
    if (id == self || (pr && pr->recent_active)) ++active;
  }
  return active >= Quorum();
}

void ProgressTracker::RecordVote(uint64_t id, bool granted) {
  if (!IsVoter(id)) return;
  votes_.try_emplace(id, granted);  // the first answer from a member counts
}

ProgressTracker::VoteResult ProgressTracker::TallyVotes() const {
  size_t granted = 0, rejected = 0;
  for (const auto& [id, g] : votes_) (g ? granted : rejected)++;
  if (granted >= Quorum()) return VoteResult::kWon;
  if (rejected > voters_.size() - Quorum()) return VoteResult::kLost;
  return VoteResult::kPending;
}

}  // namespace cairn::raft
