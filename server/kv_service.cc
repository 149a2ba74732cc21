#include "server/kv_service.h"

#include "mvcc/errors.h"
#include "server/errors.h"
#include "server/reactors.h"
#include "server/request_checks.h"

namespace cairn::server {
KvService::KvService(mvcc::Store* store, WritePipeline* pipeline, KvLimits limits, HeaderInfo header,
                     const auth::Authority* authority)
    : store_(store), pipeline_(pipeline), limits_(limits), header_(header), authority_(authority) {}

grpc::ServerUnaryReactor* KvService::Propose(grpc::CallbackServerContext* context,
                                             cairnpb::LogRequest request,
                                             google::protobuf::Message* response,
                                             etcdserverpb::ResponseHeader* header) {
  const size_t bytes = request.ByteSizeLong();
  if (static_cast<int64_t>(bytes) > limits_.max_request_bytes) {
    return FinishUnary(context, ErrRequestTooLarge());
  }
  // What the replicated alarms refuse is refused again when applied; checking here saves the entry.
  if (const uint32_t alarms = pipeline_->ActiveAlarms(); alarms != 0) {
    if (auto s = AlarmGate(alarms, request); !s.ok()) return FinishUnary(context, s);
  }
  auto* reactor = context->DefaultReactor();
  PendingWrite write;
  write.request = std::move(request);
  write.response = response;
  write.header = header;
  write.bytes = bytes;
  write.done = [reactor](absl::Status status) { reactor->Finish(ToGrpcStatus(status)); };
  pipeline_->Submit(std::move(write));
  return reactor;
}

grpc::ServerUnaryReactor* KvService::RefuseForSpace(grpc::CallbackServerContext* context) {
  // As etcd's quota check: raise this member's NOSPACE alarm (cluster-wide, through the log), and
  // answer once it is applied, so the caller's next request meets the alarm everywhere.
  auto* reactor = context->DefaultReactor();
  pipeline_->RaiseNoSpace([reactor] { reactor->Finish(ToGrpcStatus(mvcc::ErrNoSpace())); });
  return reactor;
}

grpc::ServerUnaryReactor* KvService::Range(grpc::CallbackServerContext* context,
                                           const etcdserverpb::RangeRequest* request,
                                           etcdserverpb::RangeResponse* response) {
  if (auto s = CheckRange(*request); !s.ok()) return FinishUnary(context, s);
  if (authority_ != nullptr) {
    if (auto s = authority_->AuthorizeRange(*context, *request); !s.ok()) return FinishUnary(context, s);
  }
  if (request->serializable() || pipeline_->LocalReadsLinearizable()) {
    absl::Status s = store_->Range(*request, response);
    if (s.ok()) StampHeader(header_, response->mutable_header());
    return FinishUnary(context, s);
  }
  // A linearizable read elsewhere waits until this member has applied everything the leader had
  // committed when the read arrived (raft ReadIndex), then reads locally.
  auto* reactor = context->DefaultReactor();
  pipeline_->ReadBarrier([this, request, response, reactor](absl::Status ready) {
    if (ready.ok()) {
      ready = store_->Range(*request, response);
      if (ready.ok()) StampHeader(header_, response->mutable_header());
    }
    reactor->Finish(ToGrpcStatus(ready));
  });
  return reactor;
}

grpc::ServerUnaryReactor* KvService::Put(grpc::CallbackServerContext* context,
                                         const etcdserverpb::PutRequest* request,
                                         etcdserverpb::PutResponse* response) {
  if (auto s = CheckPut(*request); !s.ok()) return FinishUnary(context, s);
  // Read before the check: if auth changes in between, the write is refused as stale, never let
  // through on permissions that no longer hold.
  const uint64_t checked_revision = authority_ != nullptr && authority_->enabled() ? authority_->revision() : 0;
  if (authority_ != nullptr) {
    if (auto s = authority_->AuthorizePut(*context, *request); !s.ok()) return FinishUnary(context, s);
  }
  if (!store_->HasRoomFor(*request)) return RefuseForSpace(context);
  cairnpb::LogRequest log;
  *log.mutable_put() = *request;
  if (authority_ != nullptr && authority_->enabled()) log.set_auth_revision(checked_revision);
  return Propose(context, std::move(log), response, response->mutable_header());
}

grpc::ServerUnaryReactor* KvService::DeleteRange(grpc::CallbackServerContext* context,
                                                 const etcdserverpb::DeleteRangeRequest* request,
                                                 etcdserverpb::DeleteRangeResponse* response) {
  if (auto s = CheckDeleteRange(*request); !s.ok()) return FinishUnary(context, s);
  const uint64_t checked_revision = authority_ != nullptr && authority_->enabled() ? authority_->revision() : 0;
  if (authority_ != nullptr) {
    if (auto s = authority_->AuthorizeDeleteRange(*context, *request); !s.ok()) return FinishUnary(context, s);
  }
  cairnpb::LogRequest log;
  *log.mutable_delete_range() = *request;
  if (authority_ != nullptr && authority_->enabled()) log.set_auth_revision(checked_revision);
  return Propose(context, std::move(log), response, response->mutable_header());
}

grpc::ServerUnaryReactor* KvService::Txn(grpc::CallbackServerContext* context,
                                         const etcdserverpb::TxnRequest* request,
                                         etcdserverpb::TxnResponse* response) {
  if (auto s = CheckTxn(*request, limits_.max_txn_ops); !s.ok()) return FinishUnary(context, s);
  const uint64_t checked_revision = authority_ != nullptr && authority_->enabled() ? authority_->revision() : 0;
  if (authority_ != nullptr) {
    if (auto s = authority_->AuthorizeTxn(*context, *request); !s.ok()) return FinishUnary(context, s);
  }
  if (!store_->HasRoomFor(*request)) return RefuseForSpace(context);
  cairnpb::LogRequest log;
  *log.mutable_txn() = *request;
  if (authority_ != nullptr && authority_->enabled()) log.set_auth_revision(checked_revision);
  return Propose(context, std::move(log), response, response->mutable_header());
}

grpc::ServerUnaryReactor* KvService::Compact(grpc::CallbackServerContext* context,
                                             const etcdserverpb::CompactionRequest* request,
                                             etcdserverpb::CompactionResponse* response) {
  // etcd 3.4 asks nothing of a compaction's caller beyond a valid token (if one is sent).
  if (authority_ != nullptr) {
    if (auto s = authority_->AuthorizeAnyCaller(*context); !s.ok()) return FinishUnary(context, s);
  }
  cairnpb::LogRequest log;
  *log.mutable_compaction() = *request;
  return Propose(context, std::move(log), response, response->mutable_header());
}

}  // namespace cairn::server
