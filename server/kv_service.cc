#include "server/kv_service.h"

#include "mvcc/errors.h"
#include "server/errors.h"
#include "server/reactors.h"
#include "server/request_checks.h"

namespace cairn::server {
namespace {

// Finishes a call with `status`, counted under `counter`.
void FinishCounted(grpc::ServerUnaryReactor* reactor, const metrics::MethodCounter& counter,
                   const absl::Status& status) {
  grpc::Status finished = ToGrpcStatus(status);
  counter.Finished(finished.error_code());
  reactor->Finish(std::move(finished));
}

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* context, const metrics::MethodCounter& counter,
                                    const absl::Status& status) {
  auto* reactor = context->DefaultReactor();
  FinishCounted(reactor, counter, status);
  return reactor;
}

// The request a write proposes, for the log entry to take its fields instead of copying them (a put's
// value, a txn's operations). gRPC builds each request for its call alone (not const: the handler only
// gets a const view) and destroys it after the call ends, and nothing reads it after it is proposed.
template <typename Request>
Request* TakeForProposal(const Request* request) {
  return const_cast<Request*>(request);
}

}  // namespace

KvService::KvService(mvcc::Store* store, WritePipeline* pipeline, KvLimits limits, HeaderInfo header,
                     const auth::Authority* authority, KvCounters counters)
    : store_(store), pipeline_(pipeline), limits_(limits), header_(header), authority_(authority),
      counters_(counters) {}

grpc::ServerUnaryReactor* KvService::Propose(grpc::CallbackServerContext* context,
                                             const metrics::MethodCounter& counter, cairnpb::LogRequest request,
                                             google::protobuf::Message* response,
                                             etcdserverpb::ResponseHeader* header) {
  const size_t bytes = request.ByteSizeLong();
  if (static_cast<int64_t>(bytes) > limits_.max_request_bytes) {
    return FinishNow(context, counter, ErrRequestTooLarge());
  }
  // What the replicated alarms refuse is refused again when applied; checking here saves the entry.
  if (const uint32_t alarms = pipeline_->ActiveAlarms(); alarms != 0) {
    if (auto s = AlarmGate(alarms, request); !s.ok()) return FinishNow(context, counter, s);
  }
  auto* reactor = context->DefaultReactor();
  PendingWrite write;
  write.request = std::move(request);
  write.response = response;
  write.header = header;
  write.bytes = bytes;
  write.done = [reactor, counter](absl::Status status) { FinishCounted(reactor, counter, status); };
  pipeline_->Submit(std::move(write));
  return reactor;
}

grpc::ServerUnaryReactor* KvService::RefuseForSpace(grpc::CallbackServerContext* context,
                                                    const metrics::MethodCounter& counter) {
  // As etcd's quota check: raise this member's NOSPACE alarm (cluster-wide, through the log), and
  // answer once it is applied, so the caller's next request meets the alarm everywhere.
  auto* reactor = context->DefaultReactor();
  pipeline_->RaiseNoSpace([reactor, counter] { FinishCounted(reactor, counter, mvcc::ErrNoSpace()); });
  return reactor;
}

grpc::ServerUnaryReactor* KvService::Range(grpc::CallbackServerContext* context,
                                           const etcdserverpb::RangeRequest* request,
                                           etcdserverpb::RangeResponse* response) {
  counters_.range.Started();
  if (auto s = CheckRange(*request); !s.ok()) return FinishNow(context, counters_.range, s);
  if (authority_ != nullptr) {
    if (auto s = authority_->AuthorizeRange(*context, *request); !s.ok()) return FinishNow(context, counters_.range, s);
  }
  if (request->serializable() || pipeline_->LocalReadsLinearizable()) {
    absl::Status s = store_->Range(*request, response);
    if (s.ok()) StampHeader(header_, response->mutable_header());
    return FinishNow(context, counters_.range, s);
  }
  // A linearizable read elsewhere waits until this member has applied everything the leader had
  // committed when the read arrived (raft ReadIndex), then reads locally.
  auto* reactor = context->DefaultReactor();
  pipeline_->ReadBarrier([this, request, response, reactor](absl::Status ready) {
    if (ready.ok()) {
      ready = store_->Range(*request, response);
      if (ready.ok()) StampHeader(header_, response->mutable_header());
    }
    FinishCounted(reactor, counters_.range, ready);
  });
  return reactor;
}

grpc::ServerUnaryReactor* KvService::Put(grpc::CallbackServerContext* context,
                                         const etcdserverpb::PutRequest* request,
                                         etcdserverpb::PutResponse* response) {
  counters_.put.Started();
  if (auto s = CheckPut(*request); !s.ok()) return FinishNow(context, counters_.put, s);
  // Read before the check: if auth changes in between, the write is refused as stale, never let
  // through on permissions that no longer hold.
  const uint64_t checked_revision = authority_ != nullptr && authority_->enabled() ? authority_->revision() : 0;
  if (authority_ != nullptr) {
    if (auto s = authority_->AuthorizePut(*context, *request); !s.ok()) return FinishNow(context, counters_.put, s);
  }
  if (!store_->HasRoomFor(*request)) return RefuseForSpace(context, counters_.put);
  cairnpb::LogRequest log;
  log.mutable_put()->Swap(TakeForProposal(request));
  if (authority_ != nullptr && authority_->enabled()) log.set_auth_revision(checked_revision);
  return Propose(context, counters_.put, std::move(log), response, response->mutable_header());
}

grpc::ServerUnaryReactor* KvService::DeleteRange(grpc::CallbackServerContext* context,
                                                 const etcdserverpb::DeleteRangeRequest* request,
                                                 etcdserverpb::DeleteRangeResponse* response) {
  counters_.delete_range.Started();
  if (auto s = CheckDeleteRange(*request); !s.ok()) return FinishNow(context, counters_.delete_range, s);
  const uint64_t checked_revision = authority_ != nullptr && authority_->enabled() ? authority_->revision() : 0;
  if (authority_ != nullptr) {
    if (auto s = authority_->AuthorizeDeleteRange(*context, *request); !s.ok()) return FinishNow(context, counters_.delete_range, s);
  }
  cairnpb::LogRequest log;
  log.mutable_delete_range()->Swap(TakeForProposal(request));
  if (authority_ != nullptr && authority_->enabled()) log.set_auth_revision(checked_revision);
  return Propose(context, counters_.delete_range, std::move(log), response, response->mutable_header());
}

grpc::ServerUnaryReactor* KvService::Txn(grpc::CallbackServerContext* context,
                                         const etcdserverpb::TxnRequest* request,
                                         etcdserverpb::TxnResponse* response) {
  counters_.txn.Started();
  if (auto s = CheckTxn(*request, limits_.max_txn_ops); !s.ok()) return FinishNow(context, counters_.txn, s);
  const uint64_t checked_revision = authority_ != nullptr && authority_->enabled() ? authority_->revision() : 0;
  if (authority_ != nullptr) {
    if (auto s = authority_->AuthorizeTxn(*context, *request); !s.ok()) return FinishNow(context, counters_.txn, s);
  }
  if (!store_->HasRoomFor(*request)) return RefuseForSpace(context, counters_.txn);
  cairnpb::LogRequest log;
  log.mutable_txn()->Swap(TakeForProposal(request));
  if (authority_ != nullptr && authority_->enabled()) log.set_auth_revision(checked_revision);
  return Propose(context, counters_.txn, std::move(log), response, response->mutable_header());
}

grpc::ServerUnaryReactor* KvService::Compact(grpc::CallbackServerContext* context,
                                             const etcdserverpb::CompactionRequest* request,
                                             etcdserverpb::CompactionResponse* response) {
  counters_.compact.Started();
  // etcd 3.4 asks nothing of a compaction's caller beyond a valid token (if one is sent).
  if (authority_ != nullptr) {
    if (auto s = authority_->AuthorizeAnyCaller(*context); !s.ok()) return FinishNow(context, counters_.compact, s);
  }
  cairnpb::LogRequest log;
  *log.mutable_compaction() = *request;
  return Propose(context, counters_.compact, std::move(log), response, response->mutable_header());
}

}  // namespace cairn::server
