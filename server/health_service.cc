#include "server/health_service.h"

namespace cairn::server {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// One Watch stream: the status now, then NOT_SERVING at shutdown, after which it finishes. Lives
// until gRPC calls OnDone.
class HealthService::WatchReactor final : public grpc::ServerWriteReactor<HealthCheckResponse> {
 public:
  WatchReactor(HealthService* service, HealthCheckResponse::ServingStatus status) : service_(service) {
    Send(status, /*last=*/status != HealthCheckResponse::SERVING);
  }

  // Called once, under the service's mutex, when the member starts shutting down.
  void ShuttingDown() {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return;
    pending_last_ = true;
    if (!writing_) WriteLastLocked();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) {
      FinishLocked(grpc::Status::CANCELLED);
    } else if (last_written_) {
      FinishLocked(grpc::Status::OK);
    } else if (pending_last_) {
      WriteLastLocked();
    }
  }
  void OnCancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!writing_) FinishLocked(grpc::Status::CANCELLED);
  }
  void OnDone() override {
    service_->Forget(this);
    delete this;
  }

 private:
  void Send(HealthCheckResponse::ServingStatus status, bool last) {
    std::lock_guard<std::mutex> lock(mu_);
    response_.set_status(status);
    last_written_ = last;
    writing_ = true;
    StartWrite(&response_);
  }
  void WriteLastLocked() {
    pending_last_ = false;
    last_written_ = true;
    writing_ = true;
    response_.set_status(HealthCheckResponse::NOT_SERVING);
    StartWrite(&response_);
  }
  void FinishLocked(const grpc::Status& status) {
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  HealthService* const service_;
  std::mutex mu_;
  HealthCheckResponse response_;
  bool writing_ = false;
  bool last_written_ = false;
  bool pending_last_ = false;
  bool finished_ = false;
};

grpc::ServerUnaryReactor* HealthService::Check(grpc::CallbackServerContext* context, const HealthCheckRequest* request,
                                               HealthCheckResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (!request->service().empty()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service"));
    return reactor;
  }
  std::lock_guard<std::mutex> lock(mu_);
  response->set_status(shutting_down_ ? HealthCheckResponse::NOT_SERVING : HealthCheckResponse::SERVING);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerWriteReactor<HealthCheckResponse>* HealthService::Watch(grpc::CallbackServerContext* context,
                                                                    const HealthCheckRequest* request) {
  std::lock_guard<std::mutex> lock(mu_);
  HealthCheckResponse::ServingStatus status = HealthCheckResponse::SERVING;
  if (!request->service().empty()) {
    status = HealthCheckResponse::SERVICE_UNKNOWN;
  } else if (shutting_down_) {
    status = HealthCheckResponse::NOT_SERVING;
  }
  auto* reactor = new WatchReactor(this, status);
  // A stream whose first answer is already its last is not kept: it finishes once written.
  if (status == HealthCheckResponse::SERVING) watches_.insert(reactor);
  return reactor;
}

void HealthService::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  shutting_down_ = true;
  for (WatchReactor* reactor : watches_) reactor->ShuttingDown();
}

void HealthService::Forget(WatchReactor* reactor) {
  std::lock_guard<std::mutex> lock(mu_);
  watches_.erase(reactor);
}

}  // namespace cairn::server
