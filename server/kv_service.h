// etcdserverpb.KV over gRPC's callback API. Reads run on the calling gRPC thread against an LMDB
// snapshot; writes are checked (request limits, auth, the replicated alarms, the space quota),
// then handed to the write pipeline, and the RPC completes when the pipeline answers. Thread-safe;
// holds no state of its own.
#pragma once

#include "etcdserverpb/rpc.grpc.pb.h"
#include "mvcc/store.h"
#include "server/applier.h"
#include "server/auth/authority.h"
#include "server/metrics/grpc_metrics.h"
#include "server/write_pipeline.h"

namespace cairn::server {

// The go-grpc-prometheus counts of KV's methods, which the service keeps itself (cheaper than the
// interceptor on this hot path). Default: no counting.
struct KvCounters {
  metrics::MethodCounter range, put, delete_range, txn, compact;
};

struct KvLimits {
  int64_t max_request_bytes = 1536 * 1024;
  int64_t max_txn_ops = 128;
};

class KvService final : public etcdserverpb::KV::CallbackService {
 public:
  // `authority` (may be null: no auth checks) must outlive the service.
  KvService(mvcc::Store* store, WritePipeline* pipeline, KvLimits limits, HeaderInfo header,
            const auth::Authority* authority = nullptr, KvCounters counters = {});

  grpc::ServerUnaryReactor* Range(grpc::CallbackServerContext* context,
                                  const etcdserverpb::RangeRequest* request,
                                  etcdserverpb::RangeResponse* response) override;
  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* context,
                                const etcdserverpb::PutRequest* request,
                                etcdserverpb::PutResponse* response) override;
  grpc::ServerUnaryReactor* DeleteRange(grpc::CallbackServerContext* context,
                                        const etcdserverpb::DeleteRangeRequest* request,
                                        etcdserverpb::DeleteRangeResponse* response) override;
  grpc::ServerUnaryReactor* Txn(grpc::CallbackServerContext* context,
                                const etcdserverpb::TxnRequest* request,
                                etcdserverpb::TxnResponse* response) override;
  grpc::ServerUnaryReactor* Compact(grpc::CallbackServerContext* context,
                                    const etcdserverpb::CompactionRequest* request,
                                    etcdserverpb::CompactionResponse* response) override;

 private:
  // Proposes `request` and finishes the RPC when it is applied (or refused).
  grpc::ServerUnaryReactor* Propose(grpc::CallbackServerContext* context, const metrics::MethodCounter& counter,
                                    cairnpb::LogRequest request, google::protobuf::Message* response,
                                    etcdserverpb::ResponseHeader* header);
  // A write the store has no room for (Store::HasRoomFor): ErrNoSpace, after raising the alarm.
  grpc::ServerUnaryReactor* RefuseForSpace(grpc::CallbackServerContext* context, const metrics::MethodCounter& counter);

  mvcc::Store* const store_;
  WritePipeline* const pipeline_;
  const KvLimits limits_;
  const HeaderInfo header_;
  const auth::Authority* const authority_;
  const KvCounters counters_;
};

}  // namespace cairn::server
