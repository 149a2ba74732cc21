#include "server/peer/peer_transport.h"

#include <utility>

namespace cairn::peer {

// One peer: its channel (shared by the stream, the snapshot transfer and lease calls) and the
// threads sending to it.
struct PeerTransport::Peer {
  std::string address;
  std::shared_ptr<cairnpb::Peer::Stub> stub;
  std::unique_ptr<StreamSender> stream;
  std::unique_ptr<SnapshotSender> snapshot;  // the current or last transfer

  void BeginStop() {
    stream->BeginStop();
    if (snapshot != nullptr) snapshot->Cancel();
  }
  bool Finished() const { return stream->Finished() && (snapshot == nullptr || snapshot->Finished()); }
};

namespace {

PeerServiceOptions ServiceOptions(const PeerTransportOptions& options) {
  PeerServiceOptions service;
  service.self_id = options.self_id;
  service.cluster_id = options.cluster_id;
  service.snapshot_dir = options.snapshot_dir;
  service.on_message = options.on_message;
  return service;
}

}  // namespace

PeerTransport::PeerTransport(PeerTransportOptions options)
    : options_(std::move(options)),
      service_(ServiceOptions(options_)),
      unreachable_([this](uint64_t peer) {
        if (!stopping_.load() && options_.on_unreachable) options_.on_unreachable(peer);
      }) {}

PeerTransport::~PeerTransport() { Stop(); }

std::unique_ptr<PeerTransport::Peer> PeerTransport::MakePeer(uint64_t id, std::string address) {
  auto peer = std::make_unique<Peer>();
  peer->stub = std::shared_ptr<cairnpb::Peer::Stub>(cairnpb::Peer::NewStub(MakePeerChannel(address, options_.tls_credentials)));
  peer->address = std::move(address);
  StreamSenderOptions stream;
  stream.peer_id = id;
  stream.cluster_id = options_.cluster_id;
  stream.max_queued_messages = options_.max_queued_messages;
  stream.max_queued_bytes = options_.max_queued_bytes;
  stream.disconnected_queue_limit = options_.disconnected_queue_limit;
  stream.backoff_min = options_.reconnect_backoff_min;
  stream.backoff_max = options_.reconnect_backoff_max;
  stream.on_drop = [this, id] { unreachable_.Mark(id); };
  peer->stream = std::make_unique<StreamSender>(std::move(stream), peer->stub);
  return peer;
}

void PeerTransport::AddPeer(uint64_t id, std::string address) {
  if (stopping_.load() || id == options_.self_id) return;
  absl::MutexLock lock(&mu_);
  ReapRetiredLocked();
  auto found = peers_.find(id);
  if (found != peers_.end()) {
    if (found->second->address == address) return;
    RetireLocked(std::move(found->second));
    peers_.erase(found);
  }
  peers_[id] = MakePeer(id, std::move(address));
}

void PeerTransport::RemovePeer(uint64_t id) {
  absl::MutexLock lock(&mu_);
  ReapRetiredLocked();
  auto found = peers_.find(id);
  if (found == peers_.end()) return;
  RetireLocked(std::move(found->second));
  peers_.erase(found);
}

void PeerTransport::RetireLocked(std::unique_ptr<Peer> peer) {
  peer->BeginStop();
  retired_.push_back(std::move(peer));
}

void PeerTransport::ReapRetiredLocked() {
  // Only peers whose threads have ended: destroying them joins without waiting.
  std::erase_if(retired_, [](const std::unique_ptr<Peer>& peer) { return peer->Finished(); });
}

void PeerTransport::Send(std::vector<cairnpb::Message> messages) {
  if (stopping_.load()) return;
  absl::MutexLock lock(&mu_);
  for (cairnpb::Message& message : messages) {
    auto found = peers_.find(message.to());
    if (found == peers_.end()) {
      ++dropped_unknown_peer_;
      continue;
    }
    if (message.type() == cairnpb::MSG_SNAPSHOT) {
      StartSnapshotLocked(found->first, *found->second, std::move(message));
    } else {
      found->second->stream->Enqueue(std::move(message));
    }
  }
}

void PeerTransport::StartSnapshotLocked(uint64_t id, Peer& peer, cairnpb::Message message) {
  if (peer.snapshot != nullptr && !peer.snapshot->Finished()) {
    // Raft waits for the status of the transfer in flight; a second image would only compete.
    ++snapshot_dropped_[id];
    return;
  }
  peer.snapshot.reset();  // finished: joins at once
  peer.snapshot = std::make_unique<SnapshotSender>(id, options_.cluster_id, peer.stub, std::move(message),
                                                   snapshot_source_,
                                                   [this, id](bool ok) { OnSnapshotDone(id, ok); });
}

void PeerTransport::OnSnapshotDone(uint64_t id, bool ok) {
  {
    absl::MutexLock lock(&counts_mu_);
    SnapshotCounts& counts = snapshot_counts_[id];
    ++(ok ? counts.sent : counts.failed);
  }
  if (!stopping_.load() && options_.on_snapshot_status) options_.on_snapshot_status(id, ok);
}

void PeerTransport::SetSnapshotSource(SnapshotSource source) {
  absl::MutexLock lock(&mu_);
  snapshot_source_ = std::move(source);
}

void PeerTransport::SetSnapshotSink(SnapshotSink sink) { service_.SetSnapshotSink(std::move(sink)); }

void PeerTransport::SetLeaseHandlers(LeaseRenewHandler renew, LeaseTimeToLiveHandler time_to_live) {
  service_.SetLeaseHandlers(std::move(renew), std::move(time_to_live));
}

ForwardTarget PeerTransport::TargetFor(uint64_t id) const {
  ForwardTarget target;
  target.peer_id = id;
  target.cluster_id = options_.cluster_id;
  target.timeout = options_.lease_call_timeout;
  absl::MutexLock lock(&mu_);
  auto found = peers_.find(id);
  if (found != peers_.end()) target.stub = found->second->stub;
  return target;
}

void PeerTransport::ForwardLeaseRenew(
    uint64_t leader, const etcdserverpb::LeaseKeepAliveRequest& request,
    std::function<void(absl::StatusOr<etcdserverpb::LeaseKeepAliveResponse>)> done) {
  peer::ForwardLeaseRenew(lease_calls_, TargetFor(leader), request, std::move(done));
}

void PeerTransport::ForwardLeaseTimeToLive(
    uint64_t leader, const etcdserverpb::LeaseTimeToLiveRequest& request,
    std::function<void(absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse>)> done) {
  peer::ForwardLeaseTimeToLive(lease_calls_, TargetFor(leader), request, std::move(done));
}

void PeerTransport::ForwardMembershipCheck(uint64_t leader, const cairnpb::MembershipChangeCheck& request,
                                           std::function<void(absl::Status)> done) {
  peer::ForwardMembershipCheck(lease_calls_, TargetFor(leader), request, std::move(done));
}

void PeerTransport::Stop() {
  absl::MutexLock stop_lock(&stop_mu_);
  stopping_.store(true);
  std::vector<std::unique_ptr<Peer>> stopping;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [id, peer] : peers_) {
      peer->BeginStop();
      stopping.push_back(std::move(peer));
    }
    peers_.clear();
    for (auto& peer : retired_) stopping.push_back(std::move(peer));
    retired_.clear();
  }
  lease_calls_.CancelAllAndWait();
  service_.Stop();
  unreachable_.Stop();
  stopping.clear();  // joins every sender thread; each was cancelled above
}

TransportStats PeerTransport::Stats() const {
  TransportStats stats;
  const PeerServiceStats inbound = service_.Stats();
  stats.received_misaddressed = inbound.misaddressed;
  stats.streams_refused = inbound.streams_refused;
  stats.snapshots_received = inbound.snapshots_received;
  stats.snapshots_receive_failed = inbound.snapshots_failed;
  std::map<uint64_t, SnapshotCounts> snapshot_counts;
  {
    absl::MutexLock lock(&counts_mu_);
    snapshot_counts = snapshot_counts_;
  }
  absl::MutexLock lock(&mu_);
  stats.dropped_unknown_peer = dropped_unknown_peer_;
  for (const auto& [id, peer] : peers_) {
    PeerStats entry;
    entry.id = id;
    entry.address = peer->address;
    const StreamSenderStats stream = peer->stream->Stats();
    entry.messages_sent = stream.sent;
    entry.bytes_sent = stream.sent_bytes;
    entry.messages_dropped = stream.dropped;
    if (auto dropped = snapshot_dropped_.find(id); dropped != snapshot_dropped_.end()) {
      entry.messages_dropped += dropped->second;
    }
    entry.connected = stream.connected;
    entry.last_error = stream.last_error;
    if (auto received = inbound.received_from.find(id); received != inbound.received_from.end()) {
      entry.messages_received = received->second;
    }
    if (auto bytes = inbound.received_bytes_from.find(id); bytes != inbound.received_bytes_from.end()) {
      entry.bytes_received = bytes->second;
    }
    if (auto counts = snapshot_counts.find(id); counts != snapshot_counts.end()) {
      entry.snapshots_sent = counts->second.sent;
      entry.snapshots_failed = counts->second.failed;
    }
    stats.peers.push_back(std::move(entry));
  }
  return stats;
}

}  // namespace cairn::peer
