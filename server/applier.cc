#include "server/applier.h"

#include "etcdserverpb/rpc.pb.h"
#include "server/errors.h"

namespace cairn::server {
namespace {

// Lets replay apply requests without a waiting client: the store still needs somewhere to write.
template <typename Response>
Response* OrScratch(google::protobuf::Message* response, Response* scratch) {
  return response != nullptr ? static_cast<Response*>(response) : scratch;
}

}  // namespace

absl::Status ApplyLogRequest(mvcc::WriteBatch* batch, const cairnpb::LogRequest& request,
                             google::protobuf::Message* response) {
  switch (request.request_case()) {
    case cairnpb::LogRequest::kPut: {
      const int64_t lease = request.put().lease();
      if (lease != 0 && !batch->LeaseExists(lease)) return mvcc::ErrLeaseNotFound();
      etcdserverpb::PutResponse scratch;
      return batch->Put(request.put(), OrScratch(response, &scratch));
    }
    case cairnpb::LogRequest::kDeleteRange: {
      etcdserverpb::DeleteRangeResponse scratch;
      return batch->DeleteRange(request.delete_range(), OrScratch(response, &scratch));
    }
    case cairnpb::LogRequest::kTxn: {
      etcdserverpb::TxnResponse scratch;
      return batch->Txn(request.txn(), OrScratch(response, &scratch));
    }
    case cairnpb::LogRequest::kCompaction: {
      etcdserverpb::CompactionResponse scratch;
      return batch->Compact(request.compaction(), OrScratch(response, &scratch));
    }
    default:
      return absl::InternalError("cairn: log entry of a kind this version cannot apply");
  }
}

void StampHeader(const HeaderInfo& info, etcdserverpb::ResponseHeader* header) {
  header->set_cluster_id(info.cluster_id);
  header->set_member_id(info.member_id);
  header->set_raft_term(info.raft_term);
}

}  // namespace cairn::server
