#include "server/concurrency/backend.h"

namespace cairn::concurrency {

Backend::Backend(std::shared_ptr<grpc::Channel> channel, std::chrono::milliseconds unary_timeout)
    : unary_timeout_(unary_timeout),
      kv_(etcdserverpb::KV::NewStub(channel)),
      lease_(etcdserverpb::Lease::NewStub(channel)),
      watch_(etcdserverpb::Watch::NewStub(channel)) {}

template <typename Request, typename Response, typename StartFn>
void Backend::CallUnary(StartFn start, Request request, CancelScope* scope,
                        Completion<Response> done) {
  // Request and response must stay put until the completion runs, so they live on the heap.
  struct Call {
    std::shared_ptr<grpc::ClientContext> context = std::make_shared<grpc::ClientContext>();
    Request request;
    Response response;
  };
  auto call = std::make_shared<Call>();
  call->request = std::move(request);
  call->context->set_deadline(std::chrono::system_clock::now() + unary_timeout_);
  if (scope != nullptr && !scope->Attach(call->context)) {
    done(grpc::Status(grpc::StatusCode::CANCELLED, "context canceled"), Response());
    return;
  }
  start(call->context.get(), &call->request, &call->response,
        [call, scope, done = std::move(done)](grpc::Status status) {
          if (scope != nullptr) scope->Detach(call->context.get());
          done(status, std::move(call->response));
        });
}

void Backend::Txn(etcdserverpb::TxnRequest request, CancelScope* scope,
                  Completion<etcdserverpb::TxnResponse> done) {
  CallUnary<etcdserverpb::TxnRequest, etcdserverpb::TxnResponse>(
      [this](auto* context, auto* req, auto* resp, auto cb) {
        kv_->async()->Txn(context, req, resp, std::move(cb));
      },
      std::move(request), scope, std::move(done));
}

void Backend::Range(etcdserverpb::RangeRequest request, CancelScope* scope,
                    Completion<etcdserverpb::RangeResponse> done) {
  CallUnary<etcdserverpb::RangeRequest, etcdserverpb::RangeResponse>(
      [this](auto* context, auto* req, auto* resp, auto cb) {
        kv_->async()->Range(context, req, resp, std::move(cb));
      },
      std::move(request), scope, std::move(done));
}

void Backend::DeleteRange(etcdserverpb::DeleteRangeRequest request, CancelScope* scope,
                          Completion<etcdserverpb::DeleteRangeResponse> done) {
  CallUnary<etcdserverpb::DeleteRangeRequest, etcdserverpb::DeleteRangeResponse>(
      [this](auto* context, auto* req, auto* resp, auto cb) {
        kv_->async()->DeleteRange(context, req, resp, std::move(cb));
      },
      std::move(request), scope, std::move(done));
}

void Backend::LeaseGrant(etcdserverpb::LeaseGrantRequest request, CancelScope* scope,
                         Completion<etcdserverpb::LeaseGrantResponse> done) {
  CallUnary<etcdserverpb::LeaseGrantRequest, etcdserverpb::LeaseGrantResponse>(
      [this](auto* context, auto* req, auto* resp, auto cb) {
        lease_->async()->LeaseGrant(context, req, resp, std::move(cb));
      },
      std::move(request), scope, std::move(done));
}

}  // namespace cairn::concurrency
