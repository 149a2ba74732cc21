// cairn::peer::PeerTransport — how this member's raft talks to the other members of its cluster
// over the peer port (cairnpb.Peer, api/cairnpb/peer.proto).
//
// Sending. Send() groups raft messages by `to` and queues them on that peer's StreamSender: one
// long-lived Peer.Raft stream per peer, order kept, whatever is queued written as one batch. A
// peer that is down costs nothing but a few queued messages: writes that fail and messages that
// do not fit are dropped and reported through on_unreachable (raft then probes the peer and
// retransmits); the stream is reopened with backoff (50 ms .. 1 s). Messages for a peer that was
// never added are dropped and counted. MSG_SNAPSHOT messages go to a SnapshotSender instead (one
// transfer per peer at a time; a second one while the first is in flight is dropped), which asks
// the snapshot source for the image file, streams it in 1 MiB chunks and reports
// on_snapshot_status.
//
// Receiving. service() is the Peer service for the member's peer listener (see PeerService for
// what it does with each call). Configure that listener with ConfigurePeerServer() (channel.h).
//
// Lease forwarding. A follower hands keep-alives and TimeToLive to the leader with
// ForwardLeaseRenew / ForwardLeaseTimeToLive (deadline: lease_call_timeout); the leader's member
// answers them through the handlers given to SetLeaseHandlers. Status code and message pass
// through unchanged both ways. Membership-change checks (ForwardMembershipCheck, answered through
// SetMembershipCheckHandler) travel the same way.
//
// Threads and callbacks. Every method is thread-safe. Send, AddPeer, RemovePeer and the Forward*
// calls never block on the network and never run a callback of the transport's owner inline,
// except that a Forward* `done` runs inline when the leader is not a known peer or the transport
// is stopped. Callbacks run on transport or gRPC threads and must not block:
//   on_message          gRPC threads; in order per sender
//   on_unreachable      the transport's notifier thread (reports for one peer merge while queued)
//   on_snapshot_status  the snapshot's sender thread
// None runs after Stop() returns; all may run while Stop() is in progress.
//
// Lifetime. The owner: Stop() (closes every stream in both directions, cancels lease calls and
// snapshot transfers, joins every thread; safe to call twice), then shuts its grpc::Server down,
// then destroys the transport (which waits for the service's calls to end). Stop() must come
// before grpc::Server::Shutdown() unless Shutdown is given a deadline: peers' inbound streams are
// long-lived and Shutdown() without one waits for them. The destructor calls Stop() itself.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cairnpb/peer.grpc.pb.h"
#include "etcdserverpb/rpc.pb.h"
#include "server/peer/channel.h"
#include "server/peer/lease_client.h"
#include "server/peer/peer_service.h"
#include "server/peer/snapshot_sender.h"
#include "server/peer/stream_sender.h"
#include "server/peer/unreachable_notifier.h"

namespace cairn::peer {

struct PeerTransportOptions {
  uint64_t self_id = 0;
  uint64_t cluster_id = 0;
  std::function<void(cairnpb::Message)> on_message;
  std::function<void(uint64_t peer)> on_unreachable;
  std::function<void(uint64_t peer, bool ok)> on_snapshot_status;

  // Per peer. While the peer's stream is not known to work only disconnected_queue_limit wait.
  size_t max_queued_messages = 4096;
  size_t max_queued_bytes = 64 << 20;
  size_t disconnected_queue_limit = 128;
  absl::Duration reconnect_backoff_min = absl::Milliseconds(50);
  absl::Duration reconnect_backoff_max = absl::Seconds(1);

  absl::Duration lease_call_timeout = absl::Seconds(1);
  std::string snapshot_dir;  // incoming snapshots are written here; must exist
  // How peers at https:// addresses are dialed (see MakePeerChannel); plain host:port and http://
  // addresses are dialed without TLS.
  std::shared_ptr<grpc::ChannelCredentials> tls_credentials;
};

struct PeerStats {
  uint64_t id = 0;
  std::string address;
  uint64_t messages_sent = 0;
  uint64_t messages_dropped = 0;   // includes snapshot messages dropped while one was in flight
  uint64_t messages_received = 0;  // delivered to on_message with this peer as sender
  uint64_t bytes_sent = 0;         // serialized message batches written to this peer's stream
  uint64_t bytes_received = 0;     // serialized message batches received from this peer
  bool connected = false;          // the stream's last write succeeded
  std::string last_error;          // how the last broken stream ended
  uint64_t snapshots_sent = 0;
  uint64_t snapshots_failed = 0;
};

struct TransportStats {
  std::vector<PeerStats> peers;  // ordered by id
  uint64_t dropped_unknown_peer = 0;
  uint64_t received_misaddressed = 0;
  uint64_t streams_refused = 0;  // inbound streams/calls from another cluster
  uint64_t snapshots_received = 0;
  uint64_t snapshots_receive_failed = 0;
};

class PeerTransport {
 public:
  explicit PeerTransport(PeerTransportOptions options);
  ~PeerTransport();

  PeerTransport(const PeerTransport&) = delete;
  PeerTransport& operator=(const PeerTransport&) = delete;

  // The Peer service to register on the member's peer listener. Owned by the transport.
  grpc::Service* service() { return &service_; }

  // Adds a peer, or moves it to a new address (its stream, transfer and channel start over).
  // Adding the same address again changes nothing; this member's own ID is ignored. The address
  // is "host:port" or a peer URL ("https://host:port" dials TLS).
  void AddPeer(uint64_t id, std::string address);
  // Forgets a peer: its queue is dropped, its stream and snapshot transfer cancelled.
  void RemovePeer(uint64_t id);
  void Send(std::vector<cairnpb::Message> messages);

  // Set before the first snapshot is sent / received, or at any time.
  void SetSnapshotSource(SnapshotSource source);
  void SetSnapshotSink(SnapshotSink sink);
  // What Peer.Members answers (this member's membership); the cluster ID comes from the options.
  void SetMembershipSource(MembershipSource source) { service_.SetMembershipSource(std::move(source)); }
  // What Peer.HashKV answers (this member's store hash), for the corruption checks.
  void SetHashKVSource(HashKVSource source) { service_.SetHashKVSource(std::move(source)); }
  void SetLeaseHandlers(LeaseRenewHandler renew, LeaseTimeToLiveHandler time_to_live);
  // What Peer.CheckMembershipChange answers (the leader's membership-change rules).
  void SetMembershipCheckHandler(MembershipCheckHandler handler) {
    service_.SetMembershipCheckHandler(std::move(handler));
  }

  // Asks `leader` (a known peer). `done` runs exactly once (see the threads note above).
  void ForwardLeaseRenew(uint64_t leader, const etcdserverpb::LeaseKeepAliveRequest& request,
                         std::function<void(absl::StatusOr<etcdserverpb::LeaseKeepAliveResponse>)> done);
  void ForwardLeaseTimeToLive(uint64_t leader, const etcdserverpb::LeaseTimeToLiveRequest& request,
                              std::function<void(absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse>)> done);

  // Asks `leader` whether it accepts a membership change; `done` as for the lease calls.
  void ForwardMembershipCheck(uint64_t leader, const cairnpb::MembershipChangeCheck& request,
                              std::function<void(absl::Status)> done);

  void Stop();
  TransportStats Stats() const;

 private:
  struct Peer;
  struct SnapshotCounts {
    uint64_t sent = 0;
    uint64_t failed = 0;
  };

  std::unique_ptr<Peer> MakePeer(uint64_t id, std::string address);
  void StartSnapshotLocked(uint64_t id, Peer& peer, cairnpb::Message message) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Stops a peer's threads without waiting and keeps it until they have ended.
  void RetireLocked(std::unique_ptr<Peer> peer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReapRetiredLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  ForwardTarget TargetFor(uint64_t id) const;
  void OnSnapshotDone(uint64_t id, bool ok);

  const PeerTransportOptions options_;
  std::atomic<bool> stopping_{false};
  PeerService service_;
  UnaryCalls lease_calls_;
  UnreachableNotifier unreachable_;

  absl::Mutex stop_mu_;  // serializes Stop()

  mutable absl::Mutex mu_;
  std::map<uint64_t, std::unique_ptr<Peer>> peers_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Peer>> retired_ ABSL_GUARDED_BY(mu_);
  SnapshotSource snapshot_source_ ABSL_GUARDED_BY(mu_);
  uint64_t dropped_unknown_peer_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint64_t, uint64_t> snapshot_dropped_ ABSL_GUARDED_BY(mu_);

  mutable absl::Mutex counts_mu_;
  std::map<uint64_t, SnapshotCounts> snapshot_counts_ ABSL_GUARDED_BY(counts_mu_);
};

}  // namespace cairn::peer
