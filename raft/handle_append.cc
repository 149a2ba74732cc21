// The follower's side of replication: AppendEntries (§5.3) with conflict hints for fast
// backtracking, heartbeats, and installing a leader's snapshot (§7).
#include <algorithm>
#include <vector>

#include "raft/raft.h"

namespace cairn::raft {

void Raft::HandleAppend(const cairnpb::Message& m) {
  cairnpb::Message resp;
  resp.set_type(cairnpb::MSG_APPEND_RESPONSE);
  resp.set_to(m.from());
  if (m.index() < log_.committed()) {
    // Everything up to our commit is settled; tell the leader where to continue.
    resp.set_index(log_.committed());
    Send(std::move(resp));
    return;
  }
  std::vector<cairnpb::Entry> ents(m.entries().begin(), m.entries().end());
  if (auto last = log_.MaybeAppend(m.index(), m.log_term(), m.commit(), ents)) {
    resp.set_index(*last);
    Send(std::move(resp));
    return;
  }
  // Mismatch at m.index. Point the leader at the last entry that could still match: the largest
  // index not above m.index whose term is not above the leader's term there.
  const uint64_t probe = std::min(m.index(), log_.LastIndex());
  auto [hint_index, hint_term] = log_.FindConflictByTerm(probe, m.log_term());
  resp.set_index(m.index());
  resp.set_reject(true);
  resp.set_reject_hint(hint_index);
  resp.set_log_term(hint_term);
  Send(std::move(resp));
}

void Raft::HandleHeartbeat(const cairnpb::Message& m) {
  log_.CommitTo(m.commit());
  cairnpb::Message resp;
  resp.set_type(cairnpb::MSG_HEARTBEAT_RESPONSE);
  resp.set_to(m.from());
  resp.set_context(m.context());
  Send(std::move(resp));
}

void Raft::HandleSnapshot(const cairnpb::Message& m) {
  cairnpb::Message resp;
  resp.set_type(cairnpb::MSG_APPEND_RESPONSE);
  resp.set_to(m.from());
  if (Restore(m.snapshot())) {
    resp.set_index(log_.LastIndex());
  } else {
    resp.set_index(log_.committed());
  }
  Send(std::move(resp));
}

bool Raft::Restore(const cairnpb::Snapshot& s) {
  const auto& meta = s.metadata();
  if (meta.index() <= log_.committed()) return false;  // older than what we have committed
  if (log_.MatchTerm(meta.index(), meta.term())) {
    // We already hold the snapshot's last entry: just learn that it is committed.
    log_.CommitTo(meta.index());
    return false;
  }
  log_.Restore(s);
  tracker_.Reset(meta.conf_state(), log_.LastIndex() + 1);
  return true;
}

}  // namespace cairn::raft
