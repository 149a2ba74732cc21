// Leadership transfer (thesis §3.10): bring the transferee's log up to date, then tell it to
// campaign at once. Proposals are refused meanwhile so its log stays current.
#include "raft/raft.h"

namespace cairn::raft {

void Raft::HandleTransferLeader(const cairnpb::Message& m) {
  const uint64_t transferee = m.from();
  if (!tracker_.IsVoter(transferee)) return;  // learners and strangers cannot lead
  if (lead_transferee_ != 0) {
    if (lead_transferee_ == transferee) return;  // already under way
    AbortLeaderTransfer();
  }
  if (transferee == id_) return;  // already leader
  // The transfer must finish within one election timeout, or it is abandoned.
  election_elapsed_ = 0;
  lead_transferee_ = transferee;
  const Progress* pr = tracker_.Get(transferee);
  if (pr->match == log_.LastIndex()) {
    SendTimeoutNow(transferee);
  } else {
    SendAppend(transferee);
  }
}

void Raft::SendTimeoutNow(uint64_t to) {
  cairnpb::Message m;
  m.set_type(cairnpb::MSG_TIMEOUT_NOW);
  m.set_to(to);
  Send(std::move(m));
}

}  // namespace cairn::raft
