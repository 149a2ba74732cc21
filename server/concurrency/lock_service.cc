#include "server/concurrency/lock_service.h"

#include "server/concurrency/contender_lease.h"
#include "server/concurrency/errors.h"
#include "server/concurrency/keys.h"
#include "server/concurrency/txn_ops.h"
#include "server/concurrency/unary_operation.h"
#include "server/concurrency/wait_deletes.h"

namespace cairn::concurrency {
namespace {

class LockOperation final : public UnaryOperation {
 public:
  LockOperation(std::shared_ptr<Backend> backend, const grpc::CallbackServerContext& caller,
                const v3lockpb::LockRequest& request,
                v3lockpb::LockResponse* response)
      : UnaryOperation(std::move(backend), caller),
        prefix_(ContenderPrefix(request.name())),
        requested_lease_(request.lease()),
        response_(response) {}

  void Start() {
    ResolveLease(backend(), requested_lease_, scope(),
                 [this](const grpc::Status& status, int64_t&& lease) {
                   if (!status.ok()) return Finish(ForCaller(status));
                   Enqueue(lease);
                 });
  }

 private:
  // Puts our key unless the lease already has one, and reads the current holder, in one txn.
  void Enqueue(int64_t lease) {
    key_ = ContenderKey(prefix_, lease);
    etcdserverpb::TxnRequest txn;
    *txn.add_compare() = CreateRevisionIs(key_, 0);
    *txn.add_success() = PutOp(key_, "", lease);
    *txn.add_success() = GetOp(OldestContender(prefix_));
    *txn.add_failure() = GetOp(key_);
    *txn.add_failure() = GetOp(OldestContender(prefix_));
    // Not under the scope: once sent, we want to know whether the key was written, so that a
    // caller who cancels meanwhile never leaves a key behind.
    backend().Txn(std::move(txn), scope(),
                  [this](const grpc::Status& status, etcdserverpb::TxnResponse&& response) {
                    OnEnqueued(status, std::move(response));
                  },
                  Cancellation::kIgnore);
  }

  void OnEnqueued(const grpc::Status& status, etcdserverpb::TxnResponse&& response) {
    if (!status.ok()) return Finish(ForCaller(status));
    if (response.responses_size() != 2 ||
        (!response.succeeded() && response.responses(0).response_range().kvs().empty())) {
      // Our key vanished between the compare and the read: its lease just ended, which is
      // what etcd would report for the put.
      return Finish(grpc::Status(grpc::StatusCode::UNKNOWN,
                                 "etcdserver: requested lease not found"));
    }
    my_revision_ = response.succeeded()
                       ? response.header().revision()
                       : response.responses(0).response_range().kvs(0).create_revision();
    if (scope().cancelled()) return Abandon(grpc::Status(grpc::StatusCode::CANCELLED,
                                                          "context canceled"));
    const auto& holder = response.responses(1).response_range().kvs();
    if (holder.empty() || holder[0].create_revision() == my_revision_) {
      return Acquired(std::move(*response.mutable_header()));
    }
    WaitForOlderContenders(
        backend(), prefix_, my_revision_ - 1, scope(),
        [this](const grpc::Status& status, etcdserverpb::ResponseHeader&& header) {
          // A caller who left must not keep a lock nobody will ever release.
          if (scope().cancelled()) {
            return Abandon(grpc::Status(grpc::StatusCode::CANCELLED, "context canceled"));
          }
          if (!status.ok()) return Abandon(ForCaller(status));
          Acquired(std::move(header));
        });
  }

  void Acquired(etcdserverpb::ResponseHeader&& header) {
    *response_->mutable_header() = std::move(header);
    response_->set_key(key_);
    Finish(grpc::Status::OK);
  }

  // The wait failed or the caller left: take our key out of the queue, then report `why`.
  void Abandon(grpc::Status why) {
    backend().Txn(DeleteIfCreatedAt(key_, my_revision_), scope(),
                  [this, why](const grpc::Status&, etcdserverpb::TxnResponse&&) { Finish(why); },
                  Cancellation::kIgnore);
  }

  const std::string prefix_;
  const int64_t requested_lease_;
  v3lockpb::LockResponse* const response_;
  std::string key_;
  int64_t my_revision_ = 0;
};

class UnlockOperation final : public UnaryOperation {
 public:
  UnlockOperation(std::shared_ptr<Backend> backend, const grpc::CallbackServerContext& caller,
                  const v3lockpb::UnlockRequest& request,
                  v3lockpb::UnlockResponse* response)
      : UnaryOperation(std::move(backend), caller), key_(request.key()), response_(response) {}

  void Start() {
    etcdserverpb::DeleteRangeRequest del;
    del.set_key(key_);
    backend().DeleteRange(
        std::move(del), scope(),
        [this](const grpc::Status& status, etcdserverpb::DeleteRangeResponse&& response) {
          if (!status.ok()) return Finish(ForCaller(status));
          *response_->mutable_header() = std::move(*response.mutable_header());
          Finish(grpc::Status::OK);
        });
  }

 private:
  const std::string key_;
  v3lockpb::UnlockResponse* const response_;
};

}  // namespace

LockService::LockService(std::shared_ptr<grpc::Channel> channel)
    : backend_(std::make_shared<Backend>(std::move(channel))) {}

LockService::LockService(std::shared_ptr<Backend> backend) : backend_(std::move(backend)) {}

grpc::ServerUnaryReactor* LockService::Lock(grpc::CallbackServerContext* context,
                                            const v3lockpb::LockRequest* request,
                                            v3lockpb::LockResponse* response) {
  auto* operation = new LockOperation(backend_, *context, *request, response);
  operation->Start();
  return operation;
}

grpc::ServerUnaryReactor* LockService::Unlock(grpc::CallbackServerContext* context,
                                              const v3lockpb::UnlockRequest* request,
                                              v3lockpb::UnlockResponse* response) {
  auto* operation = new UnlockOperation(backend_, *context, *request, response);
  operation->Start();
  return operation;
}

}  // namespace cairn::concurrency
