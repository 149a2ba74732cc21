#include "server/concurrency/election_service.h"

#include "server/concurrency/contender_lease.h"
#include "server/concurrency/errors.h"
#include "server/concurrency/keys.h"
#include "server/concurrency/observe_operation.h"
#include "server/concurrency/txn_ops.h"
#include "server/concurrency/unary_operation.h"
#include "server/concurrency/wait_deletes.h"

namespace cairn::concurrency {
namespace {

grpc::Status Cancelled() { return grpc::Status(grpc::StatusCode::CANCELLED, "context canceled"); }

class CampaignOperation final : public UnaryOperation {
 public:
  CampaignOperation(std::shared_ptr<Backend> backend, const grpc::CallbackServerContext& caller,
                    const v3electionpb::CampaignRequest& request,
                    v3electionpb::CampaignResponse* response)
      : UnaryOperation(std::move(backend), caller),
        name_(request.name()),
        prefix_(ContenderPrefix(request.name())),
        requested_lease_(request.lease()),
        value_(request.value()),
        response_(response) {}

  void Start() {
    ResolveLease(backend(), requested_lease_, scope(),
                 [this](const grpc::Status& status, int64_t&& lease) {
                   if (!status.ok()) return Finish(ForCaller(status));
                   lease_ = lease;
                   Enter();
                 });
  }

 private:
  // Becomes a candidate, or finds the candidacy this lease already has.
  void Enter() {
    key_ = ContenderKey(prefix_, lease_);
    etcdserverpb::TxnRequest txn;
    *txn.add_compare() = CreateRevisionIs(key_, 0);
    *txn.add_success() = PutOp(key_, value_, lease_);
    *txn.add_failure() = GetOp(key_);
    // Not under the scope, so that we always learn whether our key exists (see Lock).
    backend().Txn(std::move(txn), scope(),
                  [this](const grpc::Status& status, etcdserverpb::TxnResponse&& response) {
                    OnEntered(status, std::move(response));
                  },
                  Cancellation::kIgnore);
  }

  void OnEntered(const grpc::Status& status, etcdserverpb::TxnResponse&& response) {
    if (!status.ok()) return Finish(ForCaller(status));
    header_ = std::move(*response.mutable_header());
    if (response.succeeded()) {
      revision_ = header_.revision();
      return AfterValueSet();
    }
    const auto& existing = response.responses(0).response_range().kvs();
    if (existing.empty()) {
      return Finish(grpc::Status(grpc::StatusCode::UNKNOWN,
                                 "etcdserver: requested lease not found"));
    }
    revision_ = existing[0].create_revision();
    if (existing[0].value() == value_) return AfterValueSet();
    // Campaigning again with the same lease but a new value announces that value.
    etcdserverpb::TxnRequest txn;
    *txn.add_compare() = CreateRevisionIs(key_, revision_);
    *txn.add_success() = PutOp(key_, value_, lease_);
    backend().Txn(std::move(txn), scope(),
                  [this](const grpc::Status& status, etcdserverpb::TxnResponse&& response) {
                    if (!status.ok()) return Resign(ForCaller(status));
                    if (!response.succeeded()) return Resign(ElectionNotLeader());
                    AfterValueSet();
                  },
                  Cancellation::kIgnore);
  }

  void AfterValueSet() {
    if (scope().cancelled()) return Resign(Cancelled());
    WaitForOlderContenders(
        backend(), prefix_, revision_ - 1, scope(),
        [this](const grpc::Status& status, etcdserverpb::ResponseHeader&&) {
          if (scope().cancelled()) return Resign(Cancelled());
          if (!status.ok()) return Finish(ForCaller(status));
          Elected();
        });
  }

  void Elected() {
    *response_->mutable_header() = std::move(header_);
    auto* leader = response_->mutable_leader();
    leader->set_name(name_);
    leader->set_key(key_);
    leader->set_rev(revision_);
    leader->set_lease(lease_);
    Finish(grpc::Status::OK);
  }

  // Withdraws the candidacy (if it is still ours), then reports `why`.
  void Resign(grpc::Status why) {
    backend().Txn(DeleteIfCreatedAt(key_, revision_), scope(),
                  [this, why](const grpc::Status&, etcdserverpb::TxnResponse&&) { Finish(why); },
                  Cancellation::kIgnore);
  }

  const std::string name_;
  const std::string prefix_;
  const int64_t requested_lease_;
  const std::string value_;
  v3electionpb::CampaignResponse* const response_;
  int64_t lease_ = 0;
  std::string key_;
  int64_t revision_ = 0;
  etcdserverpb::ResponseHeader header_;
};

// Proclaim and Resign: one conditional txn on the leader's key.
class LeaderTxnOperation final : public UnaryOperation {
 public:
  // Turns the txn's response into the call's status (filling the call's response).
  using Interpret = std::function<grpc::Status(etcdserverpb::TxnResponse&&)>;

  LeaderTxnOperation(std::shared_ptr<Backend> backend, const grpc::CallbackServerContext& caller,
                     etcdserverpb::TxnRequest txn, Interpret interpret)
      : UnaryOperation(std::move(backend), caller),
        txn_(std::move(txn)),
        interpret_(std::move(interpret)) {}

  void Start() {
    backend().Txn(std::move(txn_), scope(),
                  [this](const grpc::Status& status, etcdserverpb::TxnResponse&& response) {
                    if (!status.ok()) return Finish(ForCaller(status));
                    Finish(interpret_(std::move(response)));
                  });
  }

 private:
  etcdserverpb::TxnRequest txn_;
  Interpret interpret_;
};

class LeaderOperation final : public UnaryOperation {
 public:
  LeaderOperation(std::shared_ptr<Backend> backend, const grpc::CallbackServerContext& caller,
                  const v3electionpb::LeaderRequest& request,
                  v3electionpb::LeaderResponse* response)
      : UnaryOperation(std::move(backend), caller), name_(request.name()), response_(response) {}

  void Start() {
    backend().Range(OldestContender(ContenderPrefix(name_)), scope(),
                    [this](const grpc::Status& status, etcdserverpb::RangeResponse&& response) {
                      if (!status.ok()) return Finish(ForCaller(status));
                      if (response.kvs().empty()) return Finish(ElectionNoLeader());
                      *response_->mutable_header() = std::move(*response.mutable_header());
                      *response_->mutable_kv() = std::move(*response.mutable_kvs(0));
                      Finish(grpc::Status::OK);
                    });
  }

 private:
  const std::string name_;
  v3electionpb::LeaderResponse* const response_;
};

}  // namespace

ElectionService::ElectionService(std::shared_ptr<grpc::Channel> channel)
    : backend_(std::make_shared<Backend>(std::move(channel))) {}

ElectionService::ElectionService(std::shared_ptr<Backend> backend)
    : backend_(std::move(backend)) {}

grpc::ServerUnaryReactor* ElectionService::Campaign(grpc::CallbackServerContext* context,
                                                    const v3electionpb::CampaignRequest* request,
                                                    v3electionpb::CampaignResponse* response) {
  auto* operation = new CampaignOperation(backend_, *context, *request, response);
  operation->Start();
  return operation;
}

grpc::ServerUnaryReactor* ElectionService::Proclaim(grpc::CallbackServerContext* context,
                                                    const v3electionpb::ProclaimRequest* request,
                                                    v3electionpb::ProclaimResponse* response) {
  if (!request->has_leader()) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(MissingLeaderKey());
    return reactor;
  }
  const auto& leader = request->leader();
  etcdserverpb::TxnRequest txn;
  *txn.add_compare() = CreateRevisionIs(leader.key(), leader.rev());
  *txn.add_success() = PutOp(leader.key(), request->value(), leader.lease());
  auto* operation = new LeaderTxnOperation(
      backend_, *context, std::move(txn), [response](etcdserverpb::TxnResponse&& txn_response) {
        if (!txn_response.succeeded()) return ElectionNotLeader();
        *response->mutable_header() = std::move(*txn_response.mutable_header());
        return grpc::Status::OK;
      });
  operation->Start();
  return operation;
}

grpc::ServerUnaryReactor* ElectionService::Resign(grpc::CallbackServerContext* context,
                                                  const v3electionpb::ResignRequest* request,
                                                  v3electionpb::ResignResponse* response) {
  if (!request->has_leader()) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(MissingLeaderKey());
    return reactor;
  }
  // Resigning a leadership that is already over is not an error, as in etcd.
  auto* operation = new LeaderTxnOperation(
      backend_, *context, DeleteIfCreatedAt(request->leader().key(), request->leader().rev()),
      [response](etcdserverpb::TxnResponse&& txn_response) {
        *response->mutable_header() = std::move(*txn_response.mutable_header());
        return grpc::Status::OK;
      });
  operation->Start();
  return operation;
}

grpc::ServerUnaryReactor* ElectionService::Leader(grpc::CallbackServerContext* context,
                                                  const v3electionpb::LeaderRequest* request,
                                                  v3electionpb::LeaderResponse* response) {
  auto* operation = new LeaderOperation(backend_, *context, *request, response);
  operation->Start();
  return operation;
}

grpc::ServerWriteReactor<v3electionpb::LeaderResponse>* ElectionService::Observe(
    grpc::CallbackServerContext* context, const v3electionpb::LeaderRequest* request) {
  return StartObserve(backend_, *context, request->name());
}

}  // namespace cairn::concurrency
