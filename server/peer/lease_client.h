// Forwarded calls to the leader, client side: unary callback calls to a peer's Peer.LeaseRenew,
// Peer.LeaseTimeToLive and Peer.CheckMembershipChange with a deadline, answered as absl::StatusOr
// with the peer's status code and message unchanged.
//
// UnaryCalls tracks the calls in flight so the transport can cancel them all and wait for their
// callbacks when it stops.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cairnpb/peer.grpc.pb.h"
#include "etcdserverpb/rpc.pb.h"

namespace cairn::peer {

// The calls in flight. Thread-safe.
class UnaryCalls {
 public:
  // False once stopping: the call must not start. `context` may keep its owner alive (an aliasing
  // shared_ptr) so CancelAllAndWait can cancel it without holding the lock.
  bool Add(std::shared_ptr<grpc::ClientContext> context);
  // Forgets a finished call and destroys it (the set's reference must be the last one) before
  // CancelAllAndWait can return: a ClientContext keeps its channel alive, and a channel whose last
  // reference went after the member's gRPC server had shut down would drop gRPC's shared callback
  // completion queue from one of that queue's own threads, which aborts the process.
  void Remove(grpc::ClientContext* context);
  // Refuses new calls, cancels the open ones and waits until each has run its callback and been
  // removed. Must not be called from a call's callback.
  void CancelAllAndWait();

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<grpc::ClientContext*, std::shared_ptr<grpc::ClientContext>> open_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

struct ForwardTarget {
  std::shared_ptr<cairnpb::Peer::Stub> stub;  // null: the peer is unknown
  uint64_t peer_id = 0;
  uint64_t cluster_id = 0;
  absl::Duration timeout;
};

// `done` runs exactly once: on a gRPC thread with the peer's answer, or inline (before the call
// returns) with UNAVAILABLE when the peer is unknown or the transport is stopping.
void ForwardLeaseRenew(UnaryCalls& calls, const ForwardTarget& target,
                       const etcdserverpb::LeaseKeepAliveRequest& request,
                       std::function<void(absl::StatusOr<etcdserverpb::LeaseKeepAliveResponse>)> done);
void ForwardLeaseTimeToLive(UnaryCalls& calls, const ForwardTarget& target,
                            const etcdserverpb::LeaseTimeToLiveRequest& request,
                            std::function<void(absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse>)> done);

// The leader's verdict on a membership change (OK or its refusal, code and message unchanged).
void ForwardMembershipCheck(UnaryCalls& calls, const ForwardTarget& target,
                            const cairnpb::MembershipChangeCheck& request, std::function<void(absl::Status)> done);

}  // namespace cairn::peer
