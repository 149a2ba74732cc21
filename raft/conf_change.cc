// Membership changes, one member at a time (thesis §4.1). A change takes effect when the caller
// applies its committed entry; the leader accepts the next one only after that.
#include "raft/raft.h"

namespace cairn::raft {

cairnpb::ConfState Raft::ApplyConfChange(const cairnpb::ConfChange& cc) {
  const uint64_t id = cc.node_id();
  if (id != 0) {
    const uint64_t next = log_.LastIndex() + 1;
    switch (cc.type()) {
      case cairnpb::CONF_CHANGE_ADD_NODE:
        if (tracker_.IsLearner(id)) {
          tracker_.PromoteLearner(id);
        } else if (!tracker_.IsVoter(id)) {
          tracker_.AddVoter(id, next);
        }
        break;
      case cairnpb::CONF_CHANGE_ADD_LEARNER_NODE:
        // Demoting a voter in one step is not supported; it is a no-op.
        if (!tracker_.IsVoter(id)) tracker_.AddLearner(id, next);
        break;
      case cairnpb::CONF_CHANGE_REMOVE_NODE:
        tracker_.Remove(id);
        break;
      case cairnpb::CONF_CHANGE_UPDATE_NODE:  // only the member's addresses change, not the configuration
      default:
        break;
    }
  }
  if (role_ != Role::kLeader && role_ != Role::kFollower && !tracker_.IsVoter(id_)) {
    // A campaign started before our removal must not go on to win an election.
    BecomeFollower(term_, 0);
  }
  if (role_ == Role::kLeader) {
    if (lead_transferee_ != 0 && !tracker_.IsVoter(lead_transferee_)) AbortLeaderTransfer();
    if (!tracker_.IsVoter(id_)) {
      // We removed ourselves (or were demoted): let the remaining voters elect a leader.
      BecomeFollower(term_, 0);
    } else {
      // A removal may shrink the quorum enough to commit what was waiting.
      if (MaybeCommit()) {
        ReleaseReadsWaitingForCommit();
        BroadcastAppend();
      } else if (id != 0 && id != id_ && tracker_.Get(id) != nullptr) {
        SendAppend(id);
      }
    }
  }
  return tracker_.ConfState();
}

}  // namespace cairn::raft
