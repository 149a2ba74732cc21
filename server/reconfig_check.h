// Where a membership change is checked against the safety rules (server/reconfig_rules.h) before
// it is proposed. Only the leader hears every voter, so: on the leader, the rules run here against
// its own peer-activity snapshot; on a follower, the leader is asked over the peer transport
// (Peer.CheckMembershipChange) and its verdict comes back with code and message unchanged;
// without a leader, "etcdserver: no leader". Leadership may move between the check and the
// proposal; etcd has the same window.
//
// Thread safety: thread-safe. `done` runs exactly once: inline, or on a gRPC callback thread with
// the leader's answer; it must not block. The pipeline and transport must outlive the checker, and
// the transport must be stopped (which cancels calls in flight and waits for their callbacks)
// before whatever `done` refers to is destroyed.
#pragma once

#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "cairnpb/peer.pb.h"
#include "cairnpb/raft.pb.h"
#include "server/peer/peer_transport.h"
#include "server/reconfig_rules.h"
#include "server/write_pipeline.h"

namespace cairn::server {

class MembershipChangeChecker {
 public:
  MembershipChangeChecker(WritePipeline* pipeline, peer::PeerTransport* transport, uint64_t self_id,
                          ReconfigPolicy policy);

  // Checks `change` with this member's policy wherever the rules can answer.
  void Check(const cairnpb::ConfChange& change, std::function<void(absl::Status)> done) const;
  // The leader's side of Peer.CheckMembershipChange: the rules here, with the asker's strictness.
  absl::Status CheckHere(const cairnpb::MembershipChangeCheck& request) const;

 private:
  WritePipeline* const pipeline_;
  peer::PeerTransport* const transport_;
  const uint64_t self_id_;
  const ReconfigPolicy policy_;
};

}  // namespace cairn::server
