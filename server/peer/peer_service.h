// cairn::peer::PeerService — the receiving side of the peer protocol (cairnpb.Peer, callback API).
//
//   Raft            a sender's long-lived stream of MessageBatch. Each message addressed to this
//                   member goes to on_message in stream order; others are counted and dropped.
//                   A batch from another cluster ends the stream with FAILED_PRECONDITION.
//   Snapshot        chunks are written to a temp file in snapshot_dir (on the gRPC thread: plain
//                   buffered writes); once complete, a finisher thread fsyncs it and calls the
//                   snapshot sink, and the sink's status is the answer (ack.ok on success).
//                   One transfer per sending member at a time (a second one gets ABORTED).
//   Members         the cluster ID and the membership source's answer; not cluster-checked (the
//                   caller is a member joining, which does not know the cluster ID yet).
//   HashKV          the caller's cluster ID (in the request) is checked, then the hash source
//                   answers on the gRPC thread (it reads the whole store: a large store holds
//                   one callback thread for as long as the hash takes). UNAVAILABLE without one.
//   LeaseRenew,     handed to the lease handlers; their absl::Status becomes the gRPC status with
//   LeaseTimeToLive code and message unchanged. The caller's cluster ID travels in metadata.
//   CheckMembershipChange  the same way, through the membership-check handler.
//
// Callbacks and their threads:
//   on_message      gRPC threads; per sender in order; must not block. Never runs after Stop().
//   snapshot sink   the finisher thread; may block (it installs the image). On OK the received
//                   file belongs to the sink (move or delete it); on error it is deleted.
//   lease handlers  gRPC threads; must answer through `done` exactly once, on any thread, and
//                   must not block. The membership-check handler likewise.
//
// Lifetime: Stop() finishes every open call with UNAVAILABLE and refuses later ones, waits for
// the finisher thread. The destructor stops and then waits for every call's OnDone, so destroy
// the service after the grpc::Server has been shut down (or at least after Stop()). Thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cairnpb/peer.grpc.pb.h"
#include "etcdserverpb/rpc.pb.h"

namespace cairn::peer {

using LeaseRenewHandler = std::function<void(
    const etcdserverpb::LeaseKeepAliveRequest&,
    std::function<void(absl::StatusOr<etcdserverpb::LeaseKeepAliveResponse>)> done)>;
using LeaseTimeToLiveHandler = std::function<void(
    const etcdserverpb::LeaseTimeToLiveRequest&,
    std::function<void(absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse>)> done)>;
using MembershipCheckHandler = std::function<void(
    const cairnpb::MembershipChangeCheck&,
    std::function<void(absl::StatusOr<cairnpb::MembershipChangeVerdict>)> done)>;
// Installs a received store image; `message` is the MSG_SNAPSHOT (its snapshot.data empty).
using SnapshotSink = std::function<absl::Status(const cairnpb::Message& message,
                                                const std::string& received_file_path)>;

// The membership as this member knows it (for Members calls).
using MembershipSource = std::function<cairnpb::Membership()>;
// This member's HashKV at a revision (<= 0: current), for HashKV calls; errors are returned as
// the call's status. May block for as long as hashing the store takes.
using HashKVSource = std::function<absl::StatusOr<cairnpb::PeerHashKVResponse>(int64_t revision)>;

struct PeerServiceOptions {
  uint64_t self_id = 0;
  uint64_t cluster_id = 0;
  std::string snapshot_dir;  // where incoming snapshots are written; must exist
  std::function<void(cairnpb::Message)> on_message;
};

struct PeerServiceStats {
  std::map<uint64_t, uint64_t> received_from;  // sender ID -> messages delivered to on_message
  std::map<uint64_t, uint64_t> received_bytes_from;  // sender ID -> serialized bytes of its batches
  uint64_t misaddressed = 0;      // messages whose `to` is not this member
  uint64_t streams_refused = 0;   // streams and calls from another cluster
  uint64_t snapshots_received = 0;
  uint64_t snapshots_failed = 0;
};

class PeerService final : public cairnpb::Peer::CallbackService {
 public:
  explicit PeerService(PeerServiceOptions options);
  ~PeerService() override;

  // Set before serving, or at any time (later calls see the new handler).
  void SetLeaseHandlers(LeaseRenewHandler renew, LeaseTimeToLiveHandler time_to_live);
  void SetSnapshotSink(SnapshotSink sink);
  void SetMembershipCheckHandler(MembershipCheckHandler handler);
  void SetMembershipSource(MembershipSource source);
  void SetHashKVSource(HashKVSource source);

  void Stop();  // idempotent
  PeerServiceStats Stats() const;

  grpc::ServerReadReactor<cairnpb::MessageBatch>* Raft(grpc::CallbackServerContext* context,
                                                       cairnpb::StreamAck* response) override;
  grpc::ServerReadReactor<cairnpb::SnapshotChunk>* Snapshot(grpc::CallbackServerContext* context,
                                                            cairnpb::SnapshotAck* response) override;
  grpc::ServerUnaryReactor* LeaseRenew(grpc::CallbackServerContext* context,
                                       const etcdserverpb::LeaseKeepAliveRequest* request,
                                       etcdserverpb::LeaseKeepAliveResponse* response) override;
  grpc::ServerUnaryReactor* LeaseTimeToLive(grpc::CallbackServerContext* context,
                                            const etcdserverpb::LeaseTimeToLiveRequest* request,
                                            etcdserverpb::LeaseTimeToLiveResponse* response) override;
  grpc::ServerUnaryReactor* CheckMembershipChange(grpc::CallbackServerContext* context,
                                                  const cairnpb::MembershipChangeCheck* request,
                                                  cairnpb::MembershipChangeVerdict* response) override;
  grpc::ServerUnaryReactor* Members(grpc::CallbackServerContext* context, const cairnpb::MembersRequest* request,
                                    cairnpb::MembersResponse* response) override;
  grpc::ServerUnaryReactor* HashKV(grpc::CallbackServerContext* context, const cairnpb::PeerHashKVRequest* request,
                                   cairnpb::PeerHashKVResponse* response) override;

 private:
  class InboundCall;
  class RaftReceiver;
  class SnapshotReceiver;

  // False (and the call is not tracked) once stopped.
  bool Register(InboundCall* call);
  void Unregister(InboundCall* call);
  // Hands a batch to on_message; false once stopped.
  bool Deliver(cairnpb::MessageBatch& batch);
  // The refusal for a foreign cluster ID, logged once per foreign ID.
  grpc::Status RefuseCluster(uint64_t their_cluster_id);
  // The cluster check for unary calls, from metadata.
  grpc::Status CheckCallerCluster(grpc::CallbackServerContext* context);
  // A call forwarded by a peer (lease calls, membership-change checks): checks the caller's
  // cluster, then answers through the handler `which` points at, or UNAVAILABLE when none is set
  // (or the service refuses calls).
  template <typename Handler, typename Request, typename Response>
  grpc::ServerUnaryReactor* ServeForwardedCall(grpc::CallbackServerContext* context, Handler PeerService::*which,
                                               const Request* request, Response* response);
  bool ClaimSnapshotSlot(uint64_t sender);
  void ReleaseSnapshotSlot(uint64_t sender);
  // Runs `task` on the finisher thread; false once stopped (the task is not run).
  bool RunOnFinisher(std::function<void()> task);
  void FinisherLoop();
  absl::Status InstallSnapshot(const cairnpb::Message& message, const std::string& path);
  void CountSnapshot(bool ok);

  const PeerServiceOptions options_;

  absl::Mutex stop_mu_;  // serializes Stop()

  // Readers deliver to on_message; Stop() takes it exclusively, so no delivery outlives Stop().
  absl::Mutex deliver_mu_;
  bool stopped_ ABSL_GUARDED_BY(deliver_mu_) = false;

  mutable absl::Mutex mu_;
  absl::flat_hash_set<InboundCall*> calls_ ABSL_GUARDED_BY(mu_);
  bool refusing_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_set<uint64_t> snapshot_senders_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<uint64_t> logged_foreign_clusters_ ABSL_GUARDED_BY(mu_);
  LeaseRenewHandler renew_ ABSL_GUARDED_BY(mu_);
  LeaseTimeToLiveHandler time_to_live_ ABSL_GUARDED_BY(mu_);
  MembershipCheckHandler membership_check_ ABSL_GUARDED_BY(mu_);
  MembershipSource membership_source_ ABSL_GUARDED_BY(mu_);
  HashKVSource hash_source_ ABSL_GUARDED_BY(mu_);
  SnapshotSink sink_ ABSL_GUARDED_BY(mu_);
  std::deque<std::function<void()>> finisher_tasks_ ABSL_GUARDED_BY(mu_);
  bool finisher_stopping_ ABSL_GUARDED_BY(mu_) = false;

  mutable absl::Mutex stats_mu_;
  PeerServiceStats stats_ ABSL_GUARDED_BY(stats_mu_);

  std::thread finisher_;
};

}  // namespace cairn::peer
