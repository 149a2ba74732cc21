#include "server/peer/peer_service.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "server/peer/channel.h"

namespace cairn::peer {
namespace {

grpc::Status Stopped() { return grpc::Status(grpc::StatusCode::UNAVAILABLE, "peer transport: member is stopping"); }

std::string ErrnoText() { return std::strerror(errno); }

}  // namespace

// What the service tracks of an open streaming call, so Stop() can finish it.
//
// Lifetime: reference-counted. gRPC holds one reference until OnDone; Stop() and the snapshot
// finisher hold one while they use the call. The last reference deletes it.
class PeerService::InboundCall {
 public:
  explicit InboundCall(PeerService* service) : service_(service) {}
  virtual ~InboundCall() = default;

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
  // Finishes the call with `status` unless it is already finished.
  void Abort(const grpc::Status& status) {
    {
      absl::MutexLock lock(&finish_mu_);
      if (finish_called_) return;
      finish_called_ = true;
    }
    FinishCall(status);
  }

 protected:
  virtual void FinishCall(const grpc::Status& status) = 0;
  bool finishing() const {
    absl::MutexLock lock(&finish_mu_);
    return finish_called_;
  }

  PeerService* const service_;

 private:
  std::atomic<int> refs_{1};
  mutable absl::Mutex finish_mu_;
  bool finish_called_ ABSL_GUARDED_BY(finish_mu_) = false;
};

class PeerService::RaftReceiver final : public grpc::ServerReadReactor<cairnpb::MessageBatch>,
                                        public InboundCall {
 public:
  explicit RaftReceiver(PeerService* service) : InboundCall(service) {}

  void Start() { StartRead(&batch_); }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the sender closed the stream, or it broke
      Abort(grpc::Status::OK);
      return;
    }
    if (batch_.cluster_id() != service_->options_.cluster_id) {
      Abort(service_->RefuseCluster(batch_.cluster_id()));
      return;
    }
    if (!service_->Deliver(batch_)) {
      Abort(Stopped());
      return;
    }
    if (!finishing()) StartRead(&batch_);
  }

  void OnDone() override {
    service_->Unregister(this);
    Unref();
  }

 private:
  void FinishCall(const grpc::Status& status) override { Finish(status); }

  cairnpb::MessageBatch batch_;
};

// One incoming snapshot. Reads run on gRPC threads one at a time; after the last one, Complete()
// runs on the finisher thread; so the transfer state needs no lock.
class PeerService::SnapshotReceiver final : public grpc::ServerReadReactor<cairnpb::SnapshotChunk>,
                                            public InboundCall {
 public:
  SnapshotReceiver(PeerService* service, cairnpb::SnapshotAck* ack) : InboundCall(service), ack_(ack) {}

  ~SnapshotReceiver() override {
    if (fd_ >= 0) close(fd_);
    if (own_file_) unlink(path_.c_str());
  }

  void Start() { StartRead(&chunk_); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      OnEnd();
      return;
    }
    const grpc::Status status = started_ ? Append(chunk_.data()) : Begin();
    if (!status.ok()) {
      Fail(status);
      return;
    }
    if (!finishing()) StartRead(&chunk_);
  }

  void OnDone() override {
    if (slot_claimed_) service_->ReleaseSnapshotSlot(sender_);
    service_->Unregister(this);
    Unref();
  }

 private:
  void FinishCall(const grpc::Status& status) override { Finish(status); }

  grpc::Status Begin() {
    if (chunk_.cluster_id() != service_->options_.cluster_id) return service_->RefuseCluster(chunk_.cluster_id());
    if (!chunk_.has_message() || chunk_.message().type() != cairnpb::MSG_SNAPSHOT) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "peer transport: the first snapshot chunk must carry a MSG_SNAPSHOT message");
    }
    if (chunk_.message().to() != service_->options_.self_id) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrFormat("peer transport: snapshot addressed to member %x, this is %x",
                                          chunk_.message().to(), service_->options_.self_id));
    }
    sender_ = chunk_.message().from();
    if (!service_->ClaimSnapshotSlot(sender_)) {
      return grpc::Status(grpc::StatusCode::ABORTED,
                          absl::StrFormat("peer transport: a snapshot from member %x is already arriving", sender_));
    }
    slot_claimed_ = true;
    std::string name = service_->options_.snapshot_dir + "/incoming-snapshot-XXXXXX";
    fd_ = mkstemp(name.data());
    if (fd_ < 0) {
      return grpc::Status(grpc::StatusCode::INTERNAL,
                          absl::StrFormat("peer transport: creating %s: %s", name, ErrnoText()));
    }
    path_ = std::move(name);
    own_file_ = true;
    message_ = std::move(*chunk_.mutable_message());
    total_ = chunk_.total_bytes();
    started_ = true;
    return Append(chunk_.data());
  }

  grpc::Status Append(const std::string& data) {
    if (received_ + data.size() > total_) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrFormat("peer transport: snapshot larger than the announced %d bytes", total_));
    }
    size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = write(fd_, data.data() + done, data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        return grpc::Status(grpc::StatusCode::INTERNAL,
                            absl::StrFormat("peer transport: writing %s: %s", path_, ErrnoText()));
      }
      done += static_cast<size_t>(n);
    }
    received_ += data.size();
    return grpc::Status::OK;
  }

  void OnEnd() {
    if (!started_) {
      Abort(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "peer transport: snapshot stream without chunks"));
      return;
    }
    if (received_ != total_) {
      Fail(grpc::Status(grpc::StatusCode::DATA_LOSS,
                        absl::StrFormat("peer transport: snapshot ended after %d of %d bytes", received_, total_)));
      return;
    }
    Ref();
    if (!service_->RunOnFinisher([this] {
          Complete();
          Unref();
        })) {
      Unref();
      Abort(Stopped());
    }
  }

  // On the finisher thread: make the file durable, hand it over, answer.
  void Complete() {
    if (finishing()) return;  // stopped meanwhile
    if (fsync(fd_) != 0) {
      Fail(grpc::Status(grpc::StatusCode::INTERNAL,
                        absl::StrFormat("peer transport: syncing %s: %s", path_, ErrnoText())));
      return;
    }
    close(fd_);
    fd_ = -1;
    const absl::Status installed = service_->InstallSnapshot(message_, path_);
    service_->CountSnapshot(installed.ok());
    if (installed.ok()) {
      own_file_ = false;
      ack_->set_ok(true);
    }
    Abort(ToGrpc(installed));
  }

  void Fail(const grpc::Status& status) {
    if (started_) service_->CountSnapshot(false);
    Abort(status);
  }

  cairnpb::SnapshotAck* const ack_;
  cairnpb::SnapshotChunk chunk_;
  cairnpb::Message message_;
  bool started_ = false;
  uint64_t total_ = 0;
  uint64_t received_ = 0;
  int fd_ = -1;
  std::string path_;
  bool own_file_ = false;
  bool slot_claimed_ = false;
  uint64_t sender_ = 0;
};

PeerService::PeerService(PeerServiceOptions options)
    : options_(std::move(options)), finisher_([this] { FinisherLoop(); }) {}

PeerService::~PeerService() {
  Stop();
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](absl::flat_hash_set<InboundCall*>* calls) { return calls->empty(); }, &calls_));
}

void PeerService::SetMembershipSource(MembershipSource source) {
  absl::MutexLock lock(&mu_);
  membership_source_ = std::move(source);
}

grpc::ServerUnaryReactor* PeerService::Members(grpc::CallbackServerContext* context,
                                               const cairnpb::MembersRequest* /*request*/,
                                               cairnpb::MembersResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  MembershipSource source;
  {
    absl::MutexLock lock(&mu_);
    if (!refusing_) source = membership_source_;
  }
  if (!source) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "peer transport: membership is not served here"));
    return reactor;
  }
  response->set_cluster_id(options_.cluster_id);
  *response->mutable_membership() = source();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

void PeerService::SetHashKVSource(HashKVSource source) {
  absl::MutexLock lock(&mu_);
  hash_source_ = std::move(source);
}

grpc::ServerUnaryReactor* PeerService::HashKV(grpc::CallbackServerContext* context,
                                              const cairnpb::PeerHashKVRequest* request,
                                              cairnpb::PeerHashKVResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (request->cluster_id() != options_.cluster_id) {
    reactor->Finish(RefuseCluster(request->cluster_id()));
    return reactor;
  }
  HashKVSource source;
  {
    absl::MutexLock lock(&mu_);
    if (!refusing_) source = hash_source_;
  }
  if (!source) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "peer transport: HashKV is not served here"));
    return reactor;
  }
  absl::StatusOr<cairnpb::PeerHashKVResponse> answer = source(request->revision());
  if (answer.ok()) *response = std::move(*answer);
  reactor->Finish(ToGrpc(answer.status()));
  return reactor;
}

void PeerService::SetLeaseHandlers(LeaseRenewHandler renew, LeaseTimeToLiveHandler time_to_live) {
  absl::MutexLock lock(&mu_);
  renew_ = std::move(renew);
  time_to_live_ = std::move(time_to_live);
}

void PeerService::SetMembershipCheckHandler(MembershipCheckHandler handler) {
  absl::MutexLock lock(&mu_);
  membership_check_ = std::move(handler);
}

void PeerService::SetSnapshotSink(SnapshotSink sink) {
  absl::MutexLock lock(&mu_);
  sink_ = std::move(sink);
}

void PeerService::Stop() {
  absl::MutexLock stop_lock(&stop_mu_);
  {
    absl::WriterMutexLock lock(&deliver_mu_);  // waits for deliveries in progress
    stopped_ = true;
  }
  std::vector<InboundCall*> open;
  {
    absl::MutexLock lock(&mu_);
    refusing_ = true;
    finisher_stopping_ = true;
    for (InboundCall* call : calls_) {
      call->Ref();
      open.push_back(call);
    }
  }
  for (InboundCall* call : open) {
    call->Abort(Stopped());
    call->Unref();
  }
  if (finisher_.joinable()) finisher_.join();
}

PeerServiceStats PeerService::Stats() const {
  absl::MutexLock lock(&stats_mu_);
  return stats_;
}

bool PeerService::Register(InboundCall* call) {
  absl::MutexLock lock(&mu_);
  if (refusing_) return false;
  calls_.insert(call);
  return true;
}

void PeerService::Unregister(InboundCall* call) {
  absl::MutexLock lock(&mu_);
  calls_.erase(call);
}

bool PeerService::Deliver(cairnpb::MessageBatch& batch) {
  uint64_t sender = 0, delivered = 0, misaddressed = 0;
  const uint64_t bytes = batch.ByteSizeLong();
  {
    absl::ReaderMutexLock lock(&deliver_mu_);
    if (stopped_) return false;
    for (cairnpb::Message& message : *batch.mutable_messages()) {
      if (message.to() != options_.self_id) {
        ++misaddressed;
        continue;
      }
      sender = message.from();  // one stream carries one sender's messages
      ++delivered;
      if (options_.on_message) options_.on_message(std::move(message));
    }
  }
  absl::MutexLock lock(&stats_mu_);
  if (delivered > 0) {
    stats_.received_from[sender] += delivered;
    stats_.received_bytes_from[sender] += bytes;
  }
  stats_.misaddressed += misaddressed;
  return true;
}

grpc::Status PeerService::RefuseCluster(uint64_t their_cluster_id) {
  bool log = false;
  {
    absl::MutexLock lock(&mu_);
    log = logged_foreign_clusters_.insert(their_cluster_id).second;
  }
  {
    absl::MutexLock lock(&stats_mu_);
    ++stats_.streams_refused;
  }
  const std::string message =
      absl::StrFormat("peer transport: cluster ID mismatch: this member belongs to cluster %x, the caller to %x",
                      options_.cluster_id, their_cluster_id);
  if (log) std::fprintf(stderr, "cairnd: refusing a peer: %s\n", message.c_str());
  return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, message);
}

grpc::Status PeerService::CheckCallerCluster(grpc::CallbackServerContext* context) {
  const auto& metadata = context->client_metadata();
  const auto found = metadata.find(kClusterIdMetadata);
  uint64_t theirs = 0;
  if (found != metadata.end()) {
    const std::string text(found->second.data(), found->second.size());
    theirs = std::strtoull(text.c_str(), nullptr, 16);
  }
  if (theirs == options_.cluster_id) return grpc::Status::OK;
  return RefuseCluster(theirs);
}

bool PeerService::ClaimSnapshotSlot(uint64_t sender) {
  absl::MutexLock lock(&mu_);
  return snapshot_senders_.insert(sender).second;
}

void PeerService::ReleaseSnapshotSlot(uint64_t sender) {
  absl::MutexLock lock(&mu_);
  snapshot_senders_.erase(sender);
}

bool PeerService::RunOnFinisher(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  if (finisher_stopping_) return false;
  finisher_tasks_.push_back(std::move(task));
  return true;
}

void PeerService::FinisherLoop() {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](PeerService* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
            return s->finisher_stopping_ || !s->finisher_tasks_.empty();
          },
          this));
      if (finisher_tasks_.empty()) return;  // stopping, and every task ran
      task = std::move(finisher_tasks_.front());
      finisher_tasks_.pop_front();
    }
    task();
  }
}

absl::Status PeerService::InstallSnapshot(const cairnpb::Message& message, const std::string& path) {
  absl::ReaderMutexLock lock(&deliver_mu_);
  if (stopped_) return absl::UnavailableError("peer transport: member is stopping");
  SnapshotSink sink;
  {
    absl::MutexLock sink_lock(&mu_);
    sink = sink_;
  }
  if (!sink) return absl::UnavailableError("peer transport: this member does not accept snapshots yet");
  return sink(message, path);
}

void PeerService::CountSnapshot(bool ok) {
  absl::MutexLock lock(&stats_mu_);
  ++(ok ? stats_.snapshots_received : stats_.snapshots_failed);
}

grpc::ServerReadReactor<cairnpb::MessageBatch>* PeerService::Raft(grpc::CallbackServerContext* /*context*/,
                                                                  cairnpb::StreamAck* /*response*/) {
  auto* receiver = new RaftReceiver(this);
  receiver->Start();
  if (!Register(receiver)) receiver->Abort(Stopped());  // OnDone still comes and frees it
  return receiver;
}

grpc::ServerReadReactor<cairnpb::SnapshotChunk>* PeerService::Snapshot(grpc::CallbackServerContext* /*context*/,
                                                                       cairnpb::SnapshotAck* response) {
  auto* receiver = new SnapshotReceiver(this, response);
  receiver->Start();
  if (!Register(receiver)) receiver->Abort(Stopped());
  return receiver;
}

namespace {

// Answers a unary call through `handler`, mapping its status to gRPC's.
template <typename Request, typename Response, typename Handler>
void AnswerWith(const Handler& handler, grpc::ServerUnaryReactor* reactor, const Request* request,
                Response* response) {
  handler(*request, [reactor, response](absl::StatusOr<Response> answer) {
    if (answer.ok()) *response = std::move(*answer);
    reactor->Finish(ToGrpc(answer.status()));
  });
}

}  // namespace

template <typename Handler, typename Request, typename Response>
grpc::ServerUnaryReactor* PeerService::ServeForwardedCall(grpc::CallbackServerContext* context,
                                                          Handler PeerService::*which, const Request* request,
                                                          Response* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (grpc::Status check = CheckCallerCluster(context); !check.ok()) {
    reactor->Finish(check);
    return reactor;
  }
  Handler handler;
  {
    absl::MutexLock lock(&mu_);
    if (!refusing_) handler = this->*which;
  }
  if (!handler) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "peer transport: forwarded calls are not served here"));
    return reactor;
  }
  AnswerWith(handler, reactor, request, response);
  return reactor;
}

grpc::ServerUnaryReactor* PeerService::LeaseRenew(grpc::CallbackServerContext* context,
                                                  const etcdserverpb::LeaseKeepAliveRequest* request,
                                                  etcdserverpb::LeaseKeepAliveResponse* response) {
  return ServeForwardedCall(context, &PeerService::renew_, request, response);
}

grpc::ServerUnaryReactor* PeerService::LeaseTimeToLive(grpc::CallbackServerContext* context,
                                                       const etcdserverpb::LeaseTimeToLiveRequest* request,
                                                       etcdserverpb::LeaseTimeToLiveResponse* response) {
  return ServeForwardedCall(context, &PeerService::time_to_live_, request, response);
}

grpc::ServerUnaryReactor* PeerService::CheckMembershipChange(grpc::CallbackServerContext* context,
                                                             const cairnpb::MembershipChangeCheck* request,
                                                             cairnpb::MembershipChangeVerdict* response) {
  return ServeForwardedCall(context, &PeerService::membership_check_, request, response);
}

}  // namespace cairn::peer
