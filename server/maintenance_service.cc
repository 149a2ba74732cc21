#include "server/maintenance_service.h"

#include <algorithm>

#include "mvcc/errors.h"
#include "server/errors.h"
#include "server/member_urls.h"
#include "server/membership.h"
#include "server/reactors.h"
#include "server/snapshot_stream.h"

namespace cairn::server {

MaintenanceService::MaintenanceService(mvcc::Store* store, WritePipeline* pipeline, HeaderInfo header,
                                       std::string snapshot_dir)
    : store_(store), pipeline_(pipeline), header_(header), snapshot_dir_(std::move(snapshot_dir)) {}

void MaintenanceService::Stamp(etcdserverpb::ResponseHeader* header) const {
  header->set_revision(store_->CurrentRevision());
  StampHeader(header_, header);
}

absl::Status MaintenanceService::CheckAdmin(const grpc::CallbackServerContext& context) const {
  return authority_ == nullptr ? absl::OkStatus() : AsUnconvertedAuthError(authority_->AuthorizeAdmin(context));
}

grpc::ServerUnaryReactor* MaintenanceService::Alarm(grpc::CallbackServerContext* context,
                                                    const etcdserverpb::AlarmRequest* request,
                                                    etcdserverpb::AlarmResponse* response) {
  // etcd 3.4 asks only for a valid token (if one is sent), for every action.
  if (authority_ != nullptr) {
    if (auto s = authority_->AuthorizeAnyCaller(*context); !s.ok()) return FinishUnary(context, s);
  }
  auto* reactor = context->DefaultReactor();
  if (request->action() == etcdserverpb::AlarmRequest::GET) {
    // etcd answers GET from its apply too; a read barrier gives the same view without an entry.
    // etcd 3.4's Alarm answers carry no header at all (nor do Defragment's and MoveLeader's).
    pipeline_->ReadBarrier([this, request, response, reactor](absl::Status ready) {
      if (ready.ok()) {
        AlarmSet alarms = pipeline_->Alarms();
        ApplyAlarmRequest(*request, &alarms, response);
      }
      reactor->Finish(ToGrpcStatus(ready));
    });
    return reactor;
  }
  // ACTIVATE and DEACTIVATE change the cluster's set: through the log, answered by the apply.
  PendingWrite write;
  *write.request.mutable_alarm() = *request;
  write.response = response;
  write.header = nullptr;  // no header, as etcd 3.4
  write.bytes = write.request.ByteSizeLong();
  write.done = [reactor](absl::Status status) { reactor->Finish(ToGrpcStatus(status)); };
  pipeline_->Submit(std::move(write));
  return reactor;
}

grpc::ServerUnaryReactor* MaintenanceService::Status(grpc::CallbackServerContext* context,
                                                     const etcdserverpb::StatusRequest* request,
                                                     etcdserverpb::StatusResponse* response) {
  Stamp(response->mutable_header());
  response->set_version(kApiVersion);
  response->set_dbsize(store_->DbSize());
  response->set_dbsizeinuse(store_->DbSizeInUse());
  response->set_leader(pipeline_->Leader());
  response->set_raftindex(pipeline_->LastIndex());
  response->set_raftterm(pipeline_->Term());
  response->set_raftappliedindex(store_->AppliedIndex());
  if (pipeline_->ActiveAlarms() != 0) {
    for (const auto& alarm : pipeline_->Alarms().Get(etcdserverpb::NONE)) response->add_errors(AlarmStatusText(alarm));
  }
  return FinishUnary(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* MaintenanceService::Defragment(grpc::CallbackServerContext* context,
                                                         const etcdserverpb::DefragmentRequest* request,
                                                         etcdserverpb::DefragmentResponse* response) {
  if (auto s = CheckAdmin(*context); !s.ok()) return FinishUnary(context, s);
  // LMDB reuses freed pages in place, so there is nothing to rewrite; the call succeeds so that
  // operators' runbooks (compact, defrag, disarm) keep working. Like etcd 3.4's, the answer has no header.
  return FinishUnary(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* MaintenanceService::Hash(grpc::CallbackServerContext* context,
                                                   const etcdserverpb::HashRequest* request,
                                                   etcdserverpb::HashResponse* response) {
  if (auto s = CheckAdmin(*context); !s.ok()) return FinishUnary(context, s);
  auto hash = store_->Hash();
  if (!hash.ok()) return FinishUnary(context, hash.status());
  response->set_hash(*hash);
  Stamp(response->mutable_header());
  return FinishUnary(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* MaintenanceService::HashKV(grpc::CallbackServerContext* context,
                                                     const etcdserverpb::HashKVRequest* request,
                                                     etcdserverpb::HashKVResponse* response) {
  if (auto s = CheckAdmin(*context); !s.ok()) return FinishUnary(context, s);
  int64_t hash_revision = 0, compact_revision = 0;
  auto hash = store_->HashKV(request->revision(), &hash_revision, &compact_revision);
  if (!hash.ok()) return FinishUnary(context, hash.status());
  // etcd 3.4 refuses the compaction revision itself too (its history at that revision is partly
  // gone); the store hashes it, and the peers' corruption checks still ask for it that way.
  if (request->revision() > 0 && request->revision() <= compact_revision) {
    return FinishUnary(context, mvcc::ErrCompacted());
  }
  Stamp(response->mutable_header());
  response->set_hash(*hash);
  response->set_hash_revision(hash_revision);
  response->set_compact_revision(compact_revision);
  return FinishUnary(context, absl::OkStatus());
}

grpc::ServerWriteReactor<etcdserverpb::SnapshotResponse>* MaintenanceService::Snapshot(
    grpc::CallbackServerContext* context, const etcdserverpb::SnapshotRequest* request) {
  if (auto s = CheckAdmin(*context); !s.ok()) return new FailedWriteReactor<etcdserverpb::SnapshotResponse>(s);
  SnapshotStreamOptions options;
  options.store = store_;
  options.scratch_dir = snapshot_dir_;
  return StartSnapshotStream(std::move(options));
}

grpc::ServerUnaryReactor* MaintenanceService::MoveLeader(grpc::CallbackServerContext* context,
                                                         const etcdserverpb::MoveLeaderRequest* request,
                                                         etcdserverpb::MoveLeaderResponse* response) {
  if (pipeline_->Leader() != header_.member_id) {
    return FinishUnary(context, ErrNotLeader());
  }
  const cairnpb::MemberRecord* target = nullptr;
  const cairnpb::Membership membership = pipeline_->Membership();
  target = FindMember(membership, request->targetid());
  if (target == nullptr || target->is_learner()) {
    return FinishUnary(context, absl::FailedPreconditionError("etcdserver: bad leader transferee"));
  }
  auto* reactor = context->DefaultReactor();
  // Answered without a header, as etcd 3.4 does.
  pipeline_->TransferLeadership(request->targetid(), [reactor](absl::Status s) { reactor->Finish(ToGrpcStatus(s)); });
  return reactor;
}

grpc::ServerUnaryReactor* MaintenanceService::Downgrade(grpc::CallbackServerContext* context,
                                                        const etcdserverpb::DowngradeRequest* request,
                                                        etcdserverpb::DowngradeResponse* response) {
  return FinishUnary(context, Unimplemented("etcdserverpb.Maintenance/Downgrade"));
}

ClusterService::ClusterService(WritePipeline* pipeline, HeaderInfo header, MemberInfo self)
    : pipeline_(pipeline), header_(header), self_(std::move(self)) {}

void ClusterService::FillMember(const cairnpb::MemberRecord& record, etcdserverpb::Member* member) const {
  member->set_id(record.id());
  member->set_name(record.name());
  for (const auto& url : record.peer_urls()) member->add_peerurls(url);
  for (const auto& url : record.client_urls()) member->add_clienturls(url);
  member->set_islearner(record.is_learner());
  if (record.id() == header_.member_id) {
    // This member knows its own name and client URLs before the cluster has recorded them.
    member->set_name(self_.name);
    if (record.client_urls().empty()) {
      for (const auto& url : self_.client_urls) member->add_clienturls(url);
    }
  }
}

absl::Status ClusterService::CheckAdmin(const grpc::CallbackServerContext& context) const {
  return authority_ == nullptr ? absl::OkStatus() : authority_->AuthorizeAdmin(context);
}

bool ClusterService::IsMember(uint64_t id) const {
  return FindMember(pipeline_->Membership(), id) != nullptr;
}

absl::Status ClusterService::CheckPeerUrls(uint64_t id, const google::protobuf::RepeatedPtrField<std::string>& urls) const {
  if (urls.empty()) return absl::InvalidArgumentError("etcdserver: member peer URLs not given");
  const cairnpb::Membership membership = pipeline_->Membership();
  for (const cairnpb::MemberRecord& m : membership.members()) {
    if (m.id() == id) continue;
    for (const std::string& taken : m.peer_urls()) {
      if (std::find(urls.begin(), urls.end(), taken) != urls.end()) {
        return absl::FailedPreconditionError("etcdserver: Peer URLs already exists");
      }
    }
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* ClusterService::MemberList(grpc::CallbackServerContext* context,
                                                     const etcdserverpb::MemberListRequest* request,
                                                     etcdserverpb::MemberListResponse* response) {
  // etcd's member list header carries no revision: membership is not part of the key space.
  StampHeader(header_, response->mutable_header());
  FillMembers(response->mutable_members());
  return FinishUnary(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* ClusterService::MemberAdd(grpc::CallbackServerContext* context,
                                                    const etcdserverpb::MemberAddRequest* request,
                                                    etcdserverpb::MemberAddResponse* response) {
  if (auto s = CheckAdmin(*context); !s.ok()) return FinishUnary(context, s);
  if (auto s = CheckMemberUrls(request->peerurls()); !s.ok()) return FinishUnary(context, s);
  if (auto s = CheckPeerUrls(0, request->peerurls()); !s.ok()) return FinishUnary(context, s);
  if (request->islearner()) {
    if (auto s = CheckLearnerRoom(pipeline_->Membership()); !s.ok()) return FinishUnary(context, s);
  }
  // A new ID from the peer URLs and the time, as etcd makes it; the new member learns it from the
  // cluster when it starts (--initial-cluster-state existing), by its peer URLs.
  cairnpb::MemberRecord record;
  std::string seed = std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  for (const std::string& url : request->peerurls()) {
    record.add_peer_urls(url);
    seed += "|" + url;
  }
  record.set_id(StableId(seed));
  record.set_is_learner(request->islearner());
  FillMember(record, response->mutable_member());  // sent only if the change is applied
  return ProposeChange(context,
                       request->islearner() ? cairnpb::CONF_CHANGE_ADD_LEARNER_NODE : cairnpb::CONF_CHANGE_ADD_NODE,
                       record.id(), record.SerializeAsString(), response);
}

grpc::ServerUnaryReactor* ClusterService::MemberRemove(grpc::CallbackServerContext* context,
                                                       const etcdserverpb::MemberRemoveRequest* request,
                                                       etcdserverpb::MemberRemoveResponse* response) {
  if (auto s = CheckAdmin(*context); !s.ok()) return FinishUnary(context, s);
  if (!IsMember(request->id())) return FinishUnary(context, ErrMemberNotFound());
  return ProposeChange(context, cairnpb::CONF_CHANGE_REMOVE_NODE, request->id(), std::string(), response);
}

template <typename Response>
grpc::ServerUnaryReactor* ClusterService::ProposeChange(grpc::CallbackServerContext* context,
                                                        cairnpb::ConfChangeType type, uint64_t id,
                                                        const std::string& member_context, Response* response) {
  cairnpb::ConfChange change;
  change.set_type(type);
  change.set_node_id(id);
  change.set_context(member_context);
  auto* reactor = context->DefaultReactor();
  if (!change_check_ || type == cairnpb::CONF_CHANGE_UPDATE_NODE) {
    Propose(reactor, std::move(change), response);
    return reactor;
  }
  change_check_(change, [this, reactor, response, change](absl::Status s) mutable {
    if (!s.ok()) return reactor->Finish(ToGrpcStatus(s));
    Propose(reactor, std::move(change), response);
  });
  return reactor;
}

template <typename Response>
void ClusterService::Propose(grpc::ServerUnaryReactor* reactor, cairnpb::ConfChange change, Response* response) {
  pipeline_->ProposeConfChange(std::move(change), [this, reactor, response](absl::Status s) {
    if (s.ok()) {
      FillMembers(response->mutable_members());
      StampHeader(header_, response->mutable_header());
    }
    reactor->Finish(ToGrpcStatus(s));
  });
}

void ClusterService::FillMembers(google::protobuf::RepeatedPtrField<etcdserverpb::Member>* members) const {
  const cairnpb::Membership membership = pipeline_->Membership();
  for (const cairnpb::MemberRecord& record : membership.members()) FillMember(record, members->Add());
}

grpc::ServerUnaryReactor* ClusterService::MemberUpdate(grpc::CallbackServerContext* context,
                                                       const etcdserverpb::MemberUpdateRequest* request,
                                                       etcdserverpb::MemberUpdateResponse* response) {
  if (auto s = CheckAdmin(*context); !s.ok()) return FinishUnary(context, s);
  if (!IsMember(request->id())) return FinishUnary(context, ErrMemberNotFound());
  // etcd 3.4 records any URLs here, even none or ones it cannot parse (and then panics dialing a
  // peer at them); Cairn refuses them as MemberAdd does (README, deliberate difference).
  if (auto s = CheckMemberUrls(request->peerurls()); !s.ok()) return FinishUnary(context, s);
  if (auto s = CheckPeerUrls(request->id(), request->peerurls()); !s.ok()) return FinishUnary(context, s);
  cairnpb::MemberRecord record;
  record.set_id(request->id());
  for (const std::string& url : request->peerurls()) record.add_peer_urls(url);
  return ProposeChange(context, cairnpb::CONF_CHANGE_UPDATE_NODE, request->id(), record.SerializeAsString(),
                       response);
}

grpc::ServerUnaryReactor* ClusterService::MemberPromote(grpc::CallbackServerContext* context,
                                                        const etcdserverpb::MemberPromoteRequest* request,
                                                        etcdserverpb::MemberPromoteResponse* response) {
  if (auto s = CheckAdmin(*context); !s.ok()) return FinishUnary(context, s);
  const cairnpb::Membership membership = pipeline_->Membership();
  const cairnpb::MemberRecord* member = FindMember(membership, request->id());
  if (member == nullptr) return FinishUnary(context, ErrMemberNotFound());
  // A voter is refused by the membership-change checks, after the promote checks (etcd's order).
  return ProposeChange(context, cairnpb::CONF_CHANGE_ADD_NODE, request->id(), std::string(), response);
}

}  // namespace cairn::server
