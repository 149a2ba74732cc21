#include "server/applier.h"

#include "etcdserverpb/rpc.pb.h"
#include "mvcc/errors.h"
#include "server/auth/auth_state.h"
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
                             google::protobuf::Message* response, std::vector<LeaseChange>* lease_changes) {
  switch (request.request_case()) {
    case cairnpb::LogRequest::kPut: {
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
    case cairnpb::LogRequest::kLeaseGrant: {
      etcdserverpb::LeaseGrantResponse scratch;
      auto* out = OrScratch(response, &scratch);
      const auto& grant = request.lease_grant();
      if (auto s = batch->LeaseGrant(grant.id(), grant.ttl()); !s.ok()) return s;
      out->set_id(grant.id());
      out->set_ttl(grant.ttl());
      out->mutable_header()->set_revision(batch->revision());
      if (lease_changes) lease_changes->push_back({LeaseChange::kGranted, grant.id(), grant.ttl()});
      return absl::OkStatus();
    }
    case cairnpb::LogRequest::kLeaseRevoke: {
      etcdserverpb::LeaseRevokeResponse scratch;
      auto* out = OrScratch(response, &scratch);
      const int64_t id = request.lease_revoke().id();
      if (auto s = batch->LeaseRevoke(id, out); !s.ok()) return s;
      if (!out->header().revision()) out->mutable_header()->set_revision(batch->revision());
      if (lease_changes) lease_changes->push_back({LeaseChange::kRevoked, id, 0});
      return absl::OkStatus();
    }
    case cairnpb::LogRequest::kLeaseCheckpoint: {
      // A checkpoint of a lease revoked since it was proposed is dropped; the rest still apply.
      for (const auto& checkpoint : request.lease_checkpoint().checkpoints()) {
        absl::Status s = batch->LeaseCheckpoint(checkpoint.id(), checkpoint.remaining_ttl());
        if (mvcc::IsError(s, mvcc::ErrLeaseNotFound())) continue;
        if (!s.ok()) return s;
        if (lease_changes) lease_changes->push_back({LeaseChange::kCheckpointed, checkpoint.id(), checkpoint.remaining_ttl()});
      }
      if (response != nullptr) {
        static_cast<etcdserverpb::LeaseCheckpointResponse*>(response)->mutable_header()->set_revision(batch->revision());
      }
      return absl::OkStatus();
    }
    case cairnpb::LogRequest::kAuth:
      return auth::ApplyAuthRequest(batch, request.auth(), response);
    case cairnpb::LogRequest::REQUEST_NOT_SET:
    case cairnpb::LogRequest::kConfChange:
    case cairnpb::LogRequest::kMemberAttributes:
      return absl::OkStatus();  // membership is the write pipeline's; an empty request changes nothing
    default:
      return absl::InternalError("cairn: log entry of a kind this version cannot apply");
  }
}

}  // namespace cairn::server
