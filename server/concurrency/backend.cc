#include "server/concurrency/backend.h"

namespace cairn::concurrency {

Backend::Backend(std::shared_ptr<grpc::Channel> channel, std::chrono::milliseconds unary_timeout)
    : Backend([channel] { return channel; }, unary_timeout) {}

Backend::Backend(ChannelFactory connect, std::chrono::milliseconds unary_timeout)
    : unary_timeout_(unary_timeout), connect_(std::move(connect)) {}

void Backend::Connect() {
  absl::call_once(connected_, [this] {
    std::shared_ptr<grpc::Channel> channel = connect_();
    kv_ = etcdserverpb::KV::NewStub(channel);
    lease_ = etcdserverpb::Lease::NewStub(channel);
    watch_ = etcdserverpb::Watch::NewStub(channel);
  });
}

etcdserverpb::Watch::Stub& Backend::watch() {
  Connect();
  return *watch_;
}

template <typename Request, typename Response, typename StartFn>
void Backend::CallUnary(StartFn start, Request request, CallScope& scope,
                        Completion<Response> done,
                  Cancellation cancellation) {
  // Request and response must stay put until the completion runs, so they live on the heap.
  struct Call {
    std::shared_ptr<grpc::ClientContext> context = std::make_shared<grpc::ClientContext>();
    Request request;
    Response response;
  };
  Connect();
  auto call = std::make_shared<Call>();
  call->request = std::move(request);
  call->context->set_deadline(std::chrono::system_clock::now() + unary_timeout_);
  scope.Prepare(*call->context);
  const bool abortable = cancellation == Cancellation::kAbort;
  if (abortable && !scope.Attach(call->context)) {
    done(grpc::Status(grpc::StatusCode::CANCELLED, "context canceled"), Response());
    return;
  }
  start(call->context.get(), &call->request, &call->response,
        [call, &scope, abortable, done = std::move(done)](grpc::Status status) {
          if (abortable) scope.Detach(call->context.get());
          done(status, std::move(call->response));
        });
}

void Backend::Txn(etcdserverpb::TxnRequest request, CallScope& scope,
                  Completion<etcdserverpb::TxnResponse> done,
                  Cancellation cancellation) {
  CallUnary<etcdserverpb::TxnRequest, etcdserverpb::TxnResponse>(
      [this](auto* context, auto* req, auto* resp, auto cb) {
        kv_->async()->Txn(context, req, resp, std::move(cb));
      },
      std::move(request), scope, std::move(done), cancellation);
}

void Backend::Range(etcdserverpb::RangeRequest request, CallScope& scope,
                    Completion<etcdserverpb::RangeResponse> done,
                  Cancellation cancellation) {
  CallUnary<etcdserverpb::RangeRequest, etcdserverpb::RangeResponse>(
      [this](auto* context, auto* req, auto* resp, auto cb) {
        kv_->async()->Range(context, req, resp, std::move(cb));
      },
      std::move(request), scope, std::move(done), cancellation);
}

void Backend::DeleteRange(etcdserverpb::DeleteRangeRequest request, CallScope& scope,
                          Completion<etcdserverpb::DeleteRangeResponse> done,
                  Cancellation cancellation) {
  CallUnary<etcdserverpb::DeleteRangeRequest, etcdserverpb::DeleteRangeResponse>(
      [this](auto* context, auto* req, auto* resp, auto cb) {
        kv_->async()->DeleteRange(context, req, resp, std::move(cb));
      },
      std::move(request), scope, std::move(done), cancellation);
}

void Backend::LeaseGrant(etcdserverpb::LeaseGrantRequest request, CallScope& scope,
                         Completion<etcdserverpb::LeaseGrantResponse> done,
                  Cancellation cancellation) {
  CallUnary<etcdserverpb::LeaseGrantRequest, etcdserverpb::LeaseGrantResponse>(
      [this](auto* context, auto* req, auto* resp, auto cb) {
        lease_->async()->LeaseGrant(context, req, resp, std::move(cb));
      },
      std::move(request), scope, std::move(done), cancellation);
}

}  // namespace cairn::concurrency
