// The leader's side of log replication (§5.3): appends with per-follower flow control,
// heartbeats, snapshots for followers that fell behind compaction, and commitment (§5.4.2).
#include <algorithm>

#include "raft/check.h"
#include "raft/raft.h"

namespace cairn::raft {

bool Raft::MaybeSendAppend(uint64_t to, bool send_if_empty) {
  Progress* pr = tracker_.Get(to);
  if (pr == nullptr || pr->IsPaused()) return false;
  auto prev_term = log_.Term(pr->next - 1);
  auto ents = log_.EntriesFrom(pr->next, max_msg_size_);
  if (ents.ok() && ents->empty() && !send_if_empty) return false;
  if (!prev_term.ok() || !ents.ok()) return SendSnapshot(to, pr);  // compacted away

  cairnpb::Message m;
  m.set_type(cairnpb::MSG_APPEND);
  m.set_to(to);
  m.set_index(pr->next - 1);
  m.set_log_term(*prev_term);
  m.set_commit(log_.committed());
  if (!ents->empty()) {
    const uint64_t last = ents->back().index();
    for (auto& e : *ents) *m.add_entries() = std::move(e);
    if (pr->state == ProgressState::kReplicate) {
      pr->OptimisticUpdate(last);
      pr->inflights.Add(last);
    } else if (pr->state == ProgressState::kProbe) {
      pr->probe_sent = true;
    }
  }
  Send(std::move(m));
  return true;
}

bool Raft::SendSnapshot(uint64_t to, Progress* pr) {
  // A member we have not heard from lately may be down; do not ship it a whole snapshot.
  if (!pr->recent_active) return false;
  auto snap = log_.Snapshot();
  if (!snap.ok()) {
    if (IsSnapshotTemporarilyUnavailable(snap.status())) return false;
    CAIRN_RAFT_CHECK(false, "storage GetSnapshot failed: %s", snap.status().ToString().c_str());
  }
  CAIRN_RAFT_CHECK(snap->metadata().index() != 0, "log compacted without a snapshot");
  pr->BecomeSnapshot(snap->metadata().index());
  cairnpb::Message m;
  m.set_type(cairnpb::MSG_SNAPSHOT);
  m.set_to(to);
  *m.mutable_snapshot() = std::move(*snap);
  Send(std::move(m));
  return true;
}

void Raft::SendHeartbeat(uint64_t to, const std::string& context) {
  const Progress* pr = tracker_.Get(to);
  // Never let a follower commit past what it is known to share with us.
  const uint64_t commit = std::min(pr ? pr->match : 0, log_.committed());
  cairnpb::Message m;
  m.set_type(cairnpb::MSG_HEARTBEAT);
  m.set_to(to);
  m.set_commit(commit);
  m.set_context(context);
  Send(std::move(m));
}

void Raft::BroadcastAppend() {
  for (auto& [id, pr] : tracker_.progress()) {
    if (id != id_) SendAppend(id);
  }
}

void Raft::BroadcastHeartbeat(const std::string& context) {
  for (auto& [id, pr] : tracker_.progress()) {
    if (id != id_) SendHeartbeat(id, context);
  }
}

bool Raft::MaybeCommit() {
  return log_.MaybeCommit(tracker_.QuorumMatch(), term_);
}

void Raft::HandleAppendResponse(const cairnpb::Message& m, Progress* pr) {
  pr->recent_active = true;
  if (m.reject()) {
    // Fast backtracking: the follower told us the last index at which its log could match
    // (reject_hint) and that entry's term; skip every entry of ours that cannot match it.
    uint64_t match_hint = m.reject_hint();
    if (m.log_term() > 0) match_hint = log_.FindConflictByTerm(m.reject_hint(), m.log_term()).first;
    if (pr->MaybeDecreaseTo(m.index(), match_hint)) {
      if (pr->state == ProgressState::kReplicate) pr->BecomeProbe();
      SendAppend(m.from());
    }
    return;
  }
  const bool was_paused = pr->IsPaused();
  if (!pr->MaybeUpdate(m.index())) return;
  switch (pr->state) {
    case ProgressState::kProbe:
      pr->BecomeReplicate();
      break;
    case ProgressState::kSnapshot:
      if (pr->match >= pr->pending_snapshot) pr->BecomeProbe();
      break;
    case ProgressState::kReplicate:
      pr->inflights.FreeUpTo(m.index());
      break;
  }
  if (MaybeCommit()) {
    ReleaseReadsWaitingForCommit();
    BroadcastAppend();  // tell everyone the new commit index
  } else if (was_paused) {
    SendAppend(m.from());
  }
  // Fill the window with whatever else is waiting.
  while (MaybeSendAppend(m.from(), false)) {
  }
  if (m.from() == lead_transferee_ && pr->match == log_.LastIndex()) SendTimeoutNow(m.from());
}

void Raft::HandleHeartbeatResponse(const cairnpb::Message& m, Progress* pr) {
  pr->recent_active = true;
  pr->probe_sent = false;
  // A full window whose acknowledgements were lost would stall forever; a heartbeat answer
  // proves the member is alive, so let one more append through.
  if (pr->state == ProgressState::kReplicate && pr->inflights.Full()) pr->inflights.FreeFirstOne();
  if (pr->match < log_.LastIndex()) SendAppend(m.from());
  if (m.context().empty() || !tracker_.IsVoter(m.from())) return;
  if (reads_.Ack(m.context(), m.from()) < tracker_.Quorum()) return;
  for (auto& read : reads_.Release(m.context())) ServeRead(read.request, read.index);
}

void Raft::ReportUnreachable(uint64_t id) {
  if (role_ != Role::kLeader) return;
  Progress* pr = tracker_.Get(id);
  if (pr != nullptr && pr->state == ProgressState::kReplicate) pr->BecomeProbe();
}

void Raft::ReportSnapshot(uint64_t id, bool ok) {
  if (role_ != Role::kLeader) return;
  Progress* pr = tracker_.Get(id);
  if (pr == nullptr || pr->state != ProgressState::kSnapshot) return;
  if (!ok) pr->pending_snapshot = 0;
  pr->BecomeProbe();
  // Wait for the member's answer (or a heartbeat round) before probing again.
  pr->probe_sent = true;
}

}  // namespace cairn::raft
