#include "server/watch/watch_service.h"

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/impl/codegen/server_callback_handlers.h>
#include <grpcpp/impl/rpc_service_method.h>

#include <memory>
#include <utility>

namespace cairn::watch {
namespace {

constexpr char kWatchMethod[] = "/etcdserverpb.Watch/Watch";

}  // namespace

// One Watch call. Deletes itself in OnDone.
//
// Locking: mu_ guards the write/finish state. It is never held while calling into the hub's stream methods
// that push (Create/Cancel/RequestProgress/Close), because those wake this reactor through OnOutputReady,
// which takes mu_. Pop() may be called under mu_ (it only calls back into the hub's catch-up signal).
class WatchService::StreamReactor final
    : public grpc::ServerBidiReactor<etcdserverpb::WatchRequest, WireResponse>,
      public OutputSink {
 public:
  StreamReactor(WatchService* service, grpc::CallbackServerContext* context, std::shared_ptr<WatchStream> stream,
                size_t pause_reads_bytes)
      : service_(service), context_(context), stream_(std::move(stream)), pause_reads_bytes_(pause_reads_bytes) {}

  void Start() {
    stream_->SetSink(this);
    StartRead(&request_);
  }

  // Ends the call with `status` as soon as no write is in flight. Safe to call more than once.
  void RequestFinish(const grpc::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      if (finish_requested_) return;
      finish_requested_ = true;
      status_ = status;
    }
    stream_->Close();  // watchers gone; no OnOutputReady after this returns
    grpc::Status final_status;
    bool finish_now = false;
    {
      absl::MutexLock lock(&mu_);
      stream_closed_ = true;
      if (!write_in_flight_ && !finish_called_) {
        finish_called_ = true;
        finish_now = true;
        final_status = status_;
      }
    }
    if (finish_now) Finish(final_status);
  }

  void OnOutputReady() override { Pump(); }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // half-closed (or broken): keep streaming until the call ends, as etcd does
    {
      absl::MutexLock lock(&mu_);
      if (finish_requested_) return;
    }
    switch (request_.request_union_case()) {
      case etcdserverpb::WatchRequest::kCreateRequest:
        if (service_->create_check_) {
          if (absl::Status refused = service_->create_check_(*context_, request_.create_request()); !refused.ok()) {
            stream_->Refuse(std::string(refused.message()));
            break;
          }
        }
        stream_->Create(request_.create_request());
        break;
      case etcdserverpb::WatchRequest::kCancelRequest:
        stream_->Cancel(request_.cancel_request().watch_id());
        break;
      case etcdserverpb::WatchRequest::kProgressRequest:
        stream_->RequestProgress();
        break;
      default:
        break;  // an empty or unknown request is ignored, not an error
    }
    bool read_again = false;
    {
      absl::MutexLock lock(&mu_);
      if (finish_requested_) return;
      // A client that sends requests but does not read answers must not grow our queue without bound.
      if (stream_->QueuedBytes() > pause_reads_bytes_) {
        reads_paused_ = true;
      } else {
        read_again = true;
      }
    }
    if (read_again) StartRead(&request_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      {
        absl::MutexLock lock(&mu_);
        write_in_flight_ = false;
      }
      RequestFinish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "watch stream write failed"));
      FinishIfPending();
      return;
    }
    bool resume_reads = false;
    {
      absl::MutexLock lock(&mu_);
      write_in_flight_ = false;
      if (!finish_requested_ && reads_paused_ && stream_->QueuedBytes() <= pause_reads_bytes_ / 2) {
        reads_paused_ = false;
        resume_reads = true;
      }
    }
    if (FinishIfPending()) return;
    if (resume_reads) StartRead(&request_);
    Pump();
  }

  void OnCancel() override { RequestFinish(grpc::Status::CANCELLED); }

  void OnDone() override {
    stream_->Close();
    service_->Unregister(this);
    delete this;
  }

 private:
  // Starts the next write if none is in flight and something is queued.
  //
  // A write followed at once by another (the rest of a paced round) carries gRPC's buffer hint: the transport
  // then gathers up to its write buffer size (64 KiB by default) of this stream's responses into one socket
  // write instead of one per response, which under fan-out was most of the kernel's cost per event. The last
  // response of a round goes without the hint and flushes the lot, as does Finish.
  void Pump() {
    bool more_ready = false;
    {
      absl::MutexLock lock(&mu_);
      if (finish_requested_ || write_in_flight_) return;
      if (!stream_->Pop(&response_, &more_ready)) return;
      write_in_flight_ = true;
    }
    StartWrite(&response_, more_ready ? grpc::WriteOptions().set_buffer_hint() : grpc::WriteOptions());
  }

  // Calls Finish if a finish was requested and was only waiting for the write in flight.
  bool FinishIfPending() {
    grpc::Status final_status;
    {
      absl::MutexLock lock(&mu_);
      if (!finish_requested_) return false;
      if (!stream_closed_ || write_in_flight_ || finish_called_) return true;
      finish_called_ = true;
      final_status = status_;
    }
    Finish(final_status);
    return true;
  }

  WatchService* const service_;
  grpc::CallbackServerContext* const context_;  // valid until OnDone
  const std::shared_ptr<WatchStream> stream_;
  const size_t pause_reads_bytes_;
  etcdserverpb::WatchRequest request_;  // owned by the single outstanding read

  absl::Mutex mu_;
  WireResponse response_ ABSL_GUARDED_BY(mu_);  // the write in flight
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_paused_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool stream_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_called_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

WatchService::WatchService(WatchHub* hub) : hub_(hub) {
  AddMethod(new grpc::internal::RpcServiceMethod(kWatchMethod, grpc::internal::RpcMethod::BIDI_STREAMING,
                                                 /*handler=*/nullptr));
  MarkMethodCallback(0, new grpc::internal::CallbackBidiHandler<etcdserverpb::WatchRequest, WireResponse>(
                            [this](grpc::CallbackServerContext* context) { return Watch(context); }));
}

WatchService::~WatchService() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](absl::flat_hash_set<StreamReactor*>* reactors) { return reactors->empty(); }, &reactors_));
}

grpc::ServerBidiReactor<etcdserverpb::WatchRequest, WireResponse>* WatchService::Watch(
    grpc::CallbackServerContext* context) {
  auto* reactor = new StreamReactor(this, context, hub_->OpenStream(), hub_->stream_buffer_bytes());
  // Under mu_ so that Shutdown() either sees this reactor started or we see the shutdown.
  absl::MutexLock lock(&mu_);
  reactors_.insert(reactor);
  if (shutting_down_) {
    reactor->RequestFinish(shutdown_status_);
  } else {
    reactor->Start();
  }
  return reactor;
}

void WatchService::Shutdown(grpc::Status status) {
  absl::MutexLock lock(&mu_);
  if (shutting_down_) return;
  shutting_down_ = true;
  shutdown_status_ = status;
  // Holding mu_ keeps every reactor alive here: OnDone must take mu_ (Unregister) before it deletes, and
  // gRPC never runs OnDone inline from Finish.
  for (StreamReactor* reactor : reactors_) reactor->RequestFinish(status);
}

size_t WatchService::OpenStreams() const {
  absl::MutexLock lock(&mu_);
  return reactors_.size();
}

void WatchService::Unregister(StreamReactor* reactor) {
  absl::MutexLock lock(&mu_);
  reactors_.erase(reactor);
}

}  // namespace cairn::watch
