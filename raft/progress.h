// What a leader knows about each member's log, and the membership/quorum arithmetic built on it.
// Internal to raft; not thread-safe.
//
// A follower's progress is in one of three states:
//   probe     — we do not know where its log matches ours; send one append at a time and wait for
//               the answer (or a heartbeat response) before sending the next.
//   replicate — its log matches up to `match`; stream appends optimistically, at most
//               `max_inflight` unacknowledged messages.
//   snapshot  — it needs entries we compacted; a snapshot is on its way and nothing else is sent
//               until it is reported installed or failed.
#ifndef CAIRN_RAFT_PROGRESS_H_
#define CAIRN_RAFT_PROGRESS_H_

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <vector>

#include "cairnpb/raft.pb.h"

namespace cairn::raft {

// Last indexes of the append messages sent but not acknowledged, oldest first.
class Inflights {
 public:
  explicit Inflights(size_t capacity) : capacity_(capacity) {}
  void Add(uint64_t last_index) { in_flight_.push_back(last_index); }
  // Acknowledges every message whose last index is <= index.
  void FreeUpTo(uint64_t index) {
    while (!in_flight_.empty() && in_flight_.front() <= index) in_flight_.pop_front();
  }
  void FreeFirstOne() {
    if (!in_flight_.empty()) in_flight_.pop_front();
  }
  bool Full() const { return in_flight_.size() >= capacity_; }
  size_t Count() const { return in_flight_.size(); }
  void Reset() { in_flight_.clear(); }

 private:
  size_t capacity_;
  std::deque<uint64_t> in_flight_;
};

enum class ProgressState { kProbe, kReplicate, kSnapshot };
const char* ProgressStateName(ProgressState s);

struct Progress {
  explicit Progress(size_t max_inflight) : inflights(max_inflight) {}

  uint64_t match = 0;  // highest index known to be replicated on the member
  uint64_t next = 1;   // next index to send
  ProgressState state = ProgressState::kProbe;
  bool probe_sent = false;        // probe state: an append is outstanding
  uint64_t pending_snapshot = 0;  // snapshot state: index of the snapshot sent
  bool recent_active = false;     // heard from since the last CheckQuorum round
  bool is_learner = false;
  Inflights inflights;

  void BecomeProbe();
  void BecomeReplicate();
  void BecomeSnapshot(uint64_t snapshot_index);
  // The member acknowledged entries up to n. Returns whether match advanced.
  bool MaybeUpdate(uint64_t n);
  // Optimistic: we just sent entries up to n.
  void OptimisticUpdate(uint64_t n) { next = n + 1; }
  // The member rejected an append at `rejected`; `match_hint` is where its log may match ours.
  // Returns false if the rejection is stale.
  bool MaybeDecreaseTo(uint64_t rejected, uint64_t match_hint);
  // Whether sending more appends must wait.
  bool IsPaused() const;
};

// Membership and per-member progress of one group.
class ProgressTracker {
 public:
  explicit ProgressTracker(size_t max_inflight) : max_inflight_(max_inflight) {}

  // Replaces membership and progress with the given configuration; every new progress starts
  // probing at next_index.
  void Reset(const cairnpb::ConfState& cs, uint64_t next_index);
  cairnpb::ConfState ConfState() const;

  bool IsVoter(uint64_t id) const { return voters_.count(id) != 0; }
  bool IsLearner(uint64_t id) const { return learners_.count(id) != 0; }
  const std::set<uint64_t>& voters() const { return voters_; }
  const std::set<uint64_t>& learners() const { return learners_; }
  size_t Quorum() const { return voters_.size() / 2 + 1; }

  Progress* Get(uint64_t id);
  const Progress* Get(uint64_t id) const;
  // Ordered by id so iteration (and thus message order) is deterministic.
  std::map<uint64_t, Progress>& progress() { return progress_; }
  const std::map<uint64_t, Progress>& progress() const { return progress_; }

  void AddVoter(uint64_t id, uint64_t next_index);
  void AddLearner(uint64_t id, uint64_t next_index);
  void PromoteLearner(uint64_t id);
  void Remove(uint64_t id);

  // Largest index replicated on a quorum of voters (0 with no voters).
  uint64_t QuorumMatch() const;
  // Whether a quorum of voters was recently active (self counts as active).
  bool QuorumActive(uint64_t self) const;

  // Election bookkeeping.
  void ResetVotes() { votes_.clear(); }
  void RecordVote(uint64_t id, bool granted);
  enum class VoteResult { kPending, kWon, kLost };
  VoteResult TallyVotes() const;

 private:
  size_t max_inflight_;
  std::set<uint64_t> voters_;
  std::set<uint64_t> learners_;
  std::map<uint64_t, Progress> progress_;
  std::map<uint64_t, bool> votes_;
};

}  // namespace cairn::raft

#endif  // CAIRN_RAFT_PROGRESS_H_
