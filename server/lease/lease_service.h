// cairn::lease::LeaseService — etcd's Lease gRPC service (callback API) over the Lessor.
//
//   LeaseGrant       TTL checked and raised to the minimum, ID picked if 0, then proposed to the log;
//                    answers {ID, TTL} once applied. Errors: too large TTL, lease already exists,
//                    database space exceeded (NOSPACE alarm).
//   LeaseRevoke      proposed to the log; the store deletes the attached keys in one revision.
//   LeaseKeepAlive   bidirectional stream; each request renews in memory and answers {ID, TTL};
//                    TTL 0 when the lease does not exist (etcd's answer, not an error). A request for
//                    an expired lease waits until its revoke has landed, then answers TTL 0.
//   LeaseTimeToLive  {ID, TTL remaining, grantedTTL, keys if asked}; TTL -1 for an unknown lease.
//   LeaseLeases      every live lease ID.
// Headers carry cluster_id, member_id, raft_term from `header` and the store's current revision
// (keep-alive: the revision before the renewal, as etcd does).
//
// Not primary (a follower): keep-alives and TimeToLive go to the leader through the
// LeaderForwarder if one is set, else fail with "etcdserver: no leader".
//
// Keep-alive streams: one write in flight at a time, answers queued in order behind it; a stream
// stops reading while `max_queued_responses` answers wait (a client that sends but never reads
// cannot grow the queue) or while it waits for a revoke. A client half-close ends the stream with OK
// once every answer is written.
//
// Lifetime rules for the owner:
//   service.Shutdown()        finishes every open keep-alive stream and refuses new ones
//   grpc::Server::Shutdown(), Wait()
//   destroy the service (waits for every stream's OnDone), then the lessor.
// Thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "server/applier.h"
#include "server/lease/lease_records.h"
#include "server/lease/lessor.h"

namespace cairn::lease {

// How a member that is not the lease primary reaches the one that is (set by replication).
// Callbacks run exactly once, on any thread.
class LeaderForwarder {
 public:
  virtual ~LeaderForwarder() = default;
  // The leader's answer to a keep-alive: the TTL, 0 if the lease is unknown there.
  virtual void Renew(int64_t id, std::function<void(absl::StatusOr<int64_t>)> done) = 0;
  virtual void TimeToLive(const etcdserverpb::LeaseTimeToLiveRequest& request,
                          std::function<void(absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse>)> done) = 0;
};

struct LeaseServiceOptions {
  size_t max_queued_responses = 64;  // per keep-alive stream, before it stops reading
  // True when a grant must be refused for space (cairnd: a NOSPACE alarm is in the replicated set,
  // or this member's store has no room, which raises the alarm). Grants are then refused with
  // "etcdserver: mvcc: database space exceeded" before proposing, as etcd's quota check does;
  // revokes and keep-alives still work (they free space or cost none).
  std::function<bool()> no_space;
  // The refusal an active alarm gives a grant (cairnd: CORRUPT's "etcdserver: corrupt cluster"),
  // OK when none. Asked before the grant's own checks (TTL, ID in use), as etcd's alarm applier
  // refuses a grant before its lessor looks at it. Unset: no alarm refuses.
  std::function<absl::Status()> alarm_refusal;
  // Asked before a grant or revoke is proposed (cairnd: auth); a refusal fails the call with it.
  // `lease` is the id to revoke, 0 for a grant. Unset: everything is allowed.
  std::function<absl::Status(const grpc::CallbackServerContext& context, int64_t lease)> authorize;
};

class LeaseService final : public etcdserverpb::Lease::CallbackService {
 public:
  // `lessor` and `records` must outlive the service. `proposer` carries grants and revokes to the log.
  LeaseService(Lessor* lessor, const LeaseRecords* records, Proposer proposer, server::HeaderInfo header,
               LeaseServiceOptions options = {});
  ~LeaseService() override;  // waits until every keep-alive stream's OnDone has run

  // The leader's side of calls a follower forwarded (see LeaderForwarder): answered from this
  // member's lessor, or "etcdserver: no leader" when it is not the primary. `done` runs once, inline
  // or on the thread that settles an expiring lease.
  absl::Status AnswerTimeToLive(const etcdserverpb::LeaseTimeToLiveRequest& request,
                                etcdserverpb::LeaseTimeToLiveResponse* response) const;
  void AnswerRenew(const etcdserverpb::LeaseKeepAliveRequest& request,
                   std::function<void(absl::StatusOr<etcdserverpb::LeaseKeepAliveResponse>)> done);

  // Optional; set before serving. `forwarder` must outlive the service.
  void SetLeaderForwarder(LeaderForwarder* forwarder);

  grpc::ServerUnaryReactor* LeaseGrant(grpc::CallbackServerContext* context,
                                       const etcdserverpb::LeaseGrantRequest* request,
                                       etcdserverpb::LeaseGrantResponse* response) override;
  grpc::ServerUnaryReactor* LeaseRevoke(grpc::CallbackServerContext* context,
                                        const etcdserverpb::LeaseRevokeRequest* request,
                                        etcdserverpb::LeaseRevokeResponse* response) override;
  grpc::ServerBidiReactor<etcdserverpb::LeaseKeepAliveRequest, etcdserverpb::LeaseKeepAliveResponse>*
  LeaseKeepAlive(grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* LeaseTimeToLive(grpc::CallbackServerContext* context,
                                            const etcdserverpb::LeaseTimeToLiveRequest* request,
                                            etcdserverpb::LeaseTimeToLiveResponse* response) override;
  grpc::ServerUnaryReactor* LeaseLeases(grpc::CallbackServerContext* context,
                                        const etcdserverpb::LeaseLeasesRequest* request,
                                        etcdserverpb::LeaseLeasesResponse* response) override;

  // Finishes all open keep-alive streams with UNAVAILABLE "etcdserver: server stopped" and every
  // later one at once. Idempotent.
  void Shutdown();
  size_t OpenStreams() const;

 private:
  class KeepAliveReactor;
  void Unregister(KeepAliveReactor* reactor);
  void FillHeader(etcdserverpb::ResponseHeader* header) const;
  LeaderForwarder* forwarder() const;

  Lessor* const lessor_;
  const LeaseRecords* const records_;
  const Proposer proposer_;
  const server::HeaderInfo header_;
  const LeaseServiceOptions options_;

  mutable absl::Mutex mu_;
  LeaderForwarder* forwarder_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::flat_hash_set<KeepAliveReactor*> reactors_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace cairn::lease
