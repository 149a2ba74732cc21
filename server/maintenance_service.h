// etcdserverpb.Maintenance and etcdserverpb.Cluster: status, the cluster's alarms, hashes
// and membership as etcdctl's `endpoint`, `alarm` and `member` commands expect them.
// RPCs that need more than one member or are not built yet answer UNIMPLEMENTED naming the method.
// Snapshot is served by server/snapshot_stream.h.
#pragma once

#include "server/auth/authority.h"

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "mvcc/store.h"
#include "server/applier.h"
#include "server/write_pipeline.h"

namespace cairn::server {

// What this member tells clients about itself.
struct MemberInfo {
  std::string name;
  std::vector<std::string> peer_urls;
  std::vector<std::string> client_urls;
};

// The etcd API version Cairn implements; etcd clients gate features on it.
inline constexpr char kApiVersion[] = "3.5.0";

class MaintenanceService final : public etcdserverpb::Maintenance::CallbackService {
 public:
  // `snapshot_dir` (existing) holds the store images being streamed to Snapshot callers.
  MaintenanceService(mvcc::Store* store, WritePipeline* pipeline, HeaderInfo header, std::string snapshot_dir);

  grpc::ServerUnaryReactor* Alarm(grpc::CallbackServerContext* context,
                                  const etcdserverpb::AlarmRequest* request,
                                  etcdserverpb::AlarmResponse* response) override;
  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* context,
                                   const etcdserverpb::StatusRequest* request,
                                   etcdserverpb::StatusResponse* response) override;
  grpc::ServerUnaryReactor* Defragment(grpc::CallbackServerContext* context,
                                       const etcdserverpb::DefragmentRequest* request,
                                       etcdserverpb::DefragmentResponse* response) override;
  grpc::ServerUnaryReactor* Hash(grpc::CallbackServerContext* context,
                                 const etcdserverpb::HashRequest* request,
                                 etcdserverpb::HashResponse* response) override;
  grpc::ServerUnaryReactor* HashKV(grpc::CallbackServerContext* context,
                                   const etcdserverpb::HashKVRequest* request,
                                   etcdserverpb::HashKVResponse* response) override;
  grpc::ServerWriteReactor<etcdserverpb::SnapshotResponse>* Snapshot(
      grpc::CallbackServerContext* context, const etcdserverpb::SnapshotRequest* request) override;
  grpc::ServerUnaryReactor* MoveLeader(grpc::CallbackServerContext* context,
                                       const etcdserverpb::MoveLeaderRequest* request,
                                       etcdserverpb::MoveLeaderResponse* response) override;
  grpc::ServerUnaryReactor* Downgrade(grpc::CallbackServerContext* context,
                                      const etcdserverpb::DowngradeRequest* request,
                                      etcdserverpb::DowngradeResponse* response) override;

 // Checks callers against `authority` (must outlive the service) from now on. Set before serving.
  void SetAuthority(const auth::Authority* authority) { authority_ = authority; }

 private:
  void Stamp(etcdserverpb::ResponseHeader* header) const;
  // OK when auth does not apply; else the caller must be root, refused with etcd 3.4's maintenance
  // texts (code Unknown, "auth: ...": AsUnconvertedAuthError).
  absl::Status CheckAdmin(const grpc::CallbackServerContext& context) const;
  const auth::Authority* authority_ = nullptr;

  mvcc::Store* const store_;
  WritePipeline* const pipeline_;
  const HeaderInfo header_;
  const std::string snapshot_dir_;
};

class ClusterService final : public etcdserverpb::Cluster::CallbackService {
 public:
  // `pipeline` (the membership's owner) must outlive the service.
  ClusterService(WritePipeline* pipeline, HeaderInfo header, MemberInfo self);

  grpc::ServerUnaryReactor* MemberList(grpc::CallbackServerContext* context,
                                       const etcdserverpb::MemberListRequest* request,
                                       etcdserverpb::MemberListResponse* response) override;
  grpc::ServerUnaryReactor* MemberAdd(grpc::CallbackServerContext* context,
                                      const etcdserverpb::MemberAddRequest* request,
                                      etcdserverpb::MemberAddResponse* response) override;
  grpc::ServerUnaryReactor* MemberRemove(grpc::CallbackServerContext* context,
                                         const etcdserverpb::MemberRemoveRequest* request,
                                         etcdserverpb::MemberRemoveResponse* response) override;
  grpc::ServerUnaryReactor* MemberUpdate(grpc::CallbackServerContext* context,
                                         const etcdserverpb::MemberUpdateRequest* request,
                                         etcdserverpb::MemberUpdateResponse* response) override;
  grpc::ServerUnaryReactor* MemberPromote(grpc::CallbackServerContext* context,
                                          const etcdserverpb::MemberPromoteRequest* request,
                                          etcdserverpb::MemberPromoteResponse* response) override;

 // As MaintenanceService::SetAuthority.
  void SetAuthority(const auth::Authority* authority) { authority_ = authority; }
  // Asked before MemberAdd, MemberRemove and MemberPromote propose their change, after the
  // service's own checks: `done` (exactly once, inline or on another thread, never blocking) with
  // OK or the refusal the caller gets (server/reconfig_check.h). Unset: no such check. Set before
  // serving.
  using ChangeCheck = std::function<void(const cairnpb::ConfChange&, std::function<void(absl::Status)>)>;
  void SetChangeCheck(ChangeCheck check) { change_check_ = std::move(check); }

 private:
  ChangeCheck change_check_;
  // OK when auth does not apply; else the caller must be root (etcd's usual auth errors).
  absl::Status CheckAdmin(const grpc::CallbackServerContext& context) const;
  const auth::Authority* authority_ = nullptr;
  bool IsMember(uint64_t id) const;
  // The peer URLs a MemberAdd (`id` 0) or MemberUpdate of `id` asks for, checked as etcd does: some
  // given (InvalidArgument), none already a peer URL of another member (FailedPrecondition).
  absl::Status CheckPeerUrls(uint64_t id, const google::protobuf::RepeatedPtrField<std::string>& urls) const;
  // Proposes a membership change of `type` for member `id` and answers once it is applied, with the
  // membership after it and the header (etcd's MemberAdd/Remove/Promote/Update responses all carry both).
  // MemberAdd, MemberRemove and MemberPromote first pass the change check (SetChangeCheck).
  template <typename Response>
  grpc::ServerUnaryReactor* ProposeChange(grpc::CallbackServerContext* context, cairnpb::ConfChangeType type,
                                          uint64_t id, const std::string& member_context, Response* response);
  template <typename Response>
  void Propose(grpc::ServerUnaryReactor* reactor, cairnpb::ConfChange change, Response* response);
  void FillMembers(google::protobuf::RepeatedPtrField<etcdserverpb::Member>* members) const;
  void FillMember(const cairnpb::MemberRecord& record, etcdserverpb::Member* member) const;

  WritePipeline* const pipeline_;
  const HeaderInfo header_;
  const MemberInfo self_;
};

}  // namespace cairn::server
