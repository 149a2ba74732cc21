// The connection to an etcd v3 cluster (etcd or cairnd): endpoint selection with failover,
// per-call deadlines, auth token, and the etcd RPCs as plain functions over protobuf
// messages. This is the only module that includes gRPC headers.
//
// Errors come back as absl::Status whose code is the gRPC code and whose message is the
// text etcdctl would print after "Error: " (e.g. "etcdserver: key is not provided",
// "context deadline exceeded", "rpc error: code = Unimplemented desc = ...").
//
// Failover: Connect() dials every endpoint and prefers the first that becomes ready within
// the dial timeout; a unary call that fails with UNAVAILABLE (connection lost before the
// request was taken) moves on to the next endpoint and is retried there.
// Thread safety: unary calls may be made from several threads; each stream object is used
// by one reader thread and one writer thread at most.
#ifndef CAIRN_TOOLS_CTL_CLIENT_H_
#define CAIRN_TOOLS_CTL_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "etcdserverpb/rpc.pb.h"
#include "v3electionpb/v3election.pb.h"
#include "v3lockpb/v3lock.pb.h"

namespace cairn::ctl {

struct ClientConfig {
  std::vector<std::string> endpoints;  // host:port, http://host:port, https://host:port
  int64_t dial_timeout_ns = 2'000'000'000;
  int64_t command_timeout_ns = 5'000'000'000;
  // HTTP/2 pings on a connection with calls open (a watch, a keep-alive stream), so a server that
  // vanished without closing it is noticed: every keepalive_time (at least 10 s, gRPC-Go's floor,
  // which etcdctl has too), giving up after keepalive_timeout without an answer.
  int64_t keepalive_time_ns = 2'000'000'000;
  int64_t keepalive_timeout_ns = 6'000'000'000;
  // Name the server's certificate must carry instead of the endpoint's host (--discovery-srv with
  // --insecure-discovery=false: the SRV domain). Empty: the endpoint's host.
  std::string tls_server_name;
  std::string cacert, cert, key;
  bool insecure_transport = true;
  bool insecure_skip_verify = false;
  std::string user, password;  // empty user: no authentication
  bool debug = false;          // --debug: report the endpoint chosen on each connect
};

// Converts a gRPC-style failure into etcdctl's error text (exposed for tests).
std::string EtcdErrorText(int grpc_code, const std::string& message);

template <typename Resp>
using Result = absl::StatusOr<Resp>;

class WatchStream {
 public:
  virtual ~WatchStream() = default;
  virtual bool Send(const etcdserverpb::WatchRequest& req) = 0;
  virtual bool Read(etcdserverpb::WatchResponse* resp) = 0;
  virtual void Cancel() = 0;  // unblocks Read from another thread
  virtual absl::Status Finish() = 0;
};

class KeepAliveStream {
 public:
  virtual ~KeepAliveStream() = default;
  virtual bool Send(int64_t lease_id) = 0;
  virtual bool Read(etcdserverpb::LeaseKeepAliveResponse* resp) = 0;
  virtual void Cancel() = 0;
  virtual absl::Status Finish() = 0;
};

// Lets another thread (one waiting for signals) abandon a call that waits without a deadline
// (Lock, Campaign). Thread-safe; once fired, it also cancels every call armed later.
class Interrupt {
 public:
  void Fire();
  bool fired() const;
  // For the client: `cancel` abandons the call in flight; it runs at once if already fired.
  void Arm(std::function<void()> cancel);
  void Disarm();

 private:
  mutable std::mutex mu_;
  bool fired_ = false;
  std::function<void()> cancel_;
};

class ObserveStream {
 public:
  virtual ~ObserveStream() = default;
  virtual bool Read(v3electionpb::LeaderResponse* resp) = 0;
  virtual void Cancel() = 0;  // unblocks Read from another thread
  virtual absl::Status Finish() = 0;
};

class Client {
 public:
  virtual ~Client() = default;

  // Dials the endpoints and waits up to the dial timeout for one to answer. When none does,
  // the client is still returned and its calls fail with "context deadline exceeded", as
  // etcd's client behaves. Fails with the authentication error when --user is wrong.
  static absl::StatusOr<std::unique_ptr<Client>> Connect(const ClientConfig& config);
  // A client bound to exactly one endpoint (for per-endpoint maintenance calls).
  virtual absl::StatusOr<std::unique_ptr<Client>> ForEndpoint(const std::string& endpoint) = 0;
  virtual std::vector<std::string> Endpoints() const = 0;

  virtual Result<etcdserverpb::RangeResponse> Range(const etcdserverpb::RangeRequest& r) = 0;
  virtual Result<etcdserverpb::PutResponse> Put(const etcdserverpb::PutRequest& r) = 0;
  virtual Result<etcdserverpb::DeleteRangeResponse> DeleteRange(const etcdserverpb::DeleteRangeRequest& r) = 0;
  virtual Result<etcdserverpb::TxnResponse> Txn(const etcdserverpb::TxnRequest& r) = 0;
  virtual Result<etcdserverpb::CompactionResponse> Compact(const etcdserverpb::CompactionRequest& r) = 0;
  // Sends a Put without waiting and without a deadline (check perf / datascale load); `done`
  // runs once, on a gRPC thread, with the outcome. Many may be in flight at once.
  virtual void PutAsync(const etcdserverpb::PutRequest& r, std::function<void(absl::Status)> done) = 0;

  virtual Result<etcdserverpb::LeaseGrantResponse> LeaseGrant(const etcdserverpb::LeaseGrantRequest& r) = 0;
  virtual Result<etcdserverpb::LeaseRevokeResponse> LeaseRevoke(const etcdserverpb::LeaseRevokeRequest& r) = 0;
  virtual Result<etcdserverpb::LeaseTimeToLiveResponse> LeaseTimeToLive(const etcdserverpb::LeaseTimeToLiveRequest& r) = 0;
  virtual Result<etcdserverpb::LeaseLeasesResponse> LeaseLeases(const etcdserverpb::LeaseLeasesRequest& r) = 0;

  virtual Result<etcdserverpb::MemberAddResponse> MemberAdd(const etcdserverpb::MemberAddRequest& r) = 0;
  virtual Result<etcdserverpb::MemberRemoveResponse> MemberRemove(const etcdserverpb::MemberRemoveRequest& r) = 0;
  virtual Result<etcdserverpb::MemberUpdateResponse> MemberUpdate(const etcdserverpb::MemberUpdateRequest& r) = 0;
  virtual Result<etcdserverpb::MemberListResponse> MemberList(const etcdserverpb::MemberListRequest& r) = 0;
  virtual Result<etcdserverpb::MemberPromoteResponse> MemberPromote(const etcdserverpb::MemberPromoteRequest& r) = 0;

  virtual Result<etcdserverpb::AlarmResponse> Alarm(const etcdserverpb::AlarmRequest& r) = 0;
  virtual Result<etcdserverpb::StatusResponse> Status(const etcdserverpb::StatusRequest& r) = 0;
  virtual Result<etcdserverpb::DefragmentResponse> Defragment(const etcdserverpb::DefragmentRequest& r) = 0;
  virtual Result<etcdserverpb::HashKVResponse> HashKV(const etcdserverpb::HashKVRequest& r) = 0;
  virtual Result<etcdserverpb::MoveLeaderResponse> MoveLeader(const etcdserverpb::MoveLeaderRequest& r) = 0;
  // Streams the snapshot; `sink` gets each blob and returns false to abort. No deadline.
  virtual absl::Status Snapshot(const std::function<bool(const std::string&)>& sink) = 0;

  virtual Result<etcdserverpb::AuthEnableResponse> AuthEnable(const etcdserverpb::AuthEnableRequest& r) = 0;
  virtual Result<etcdserverpb::AuthDisableResponse> AuthDisable(const etcdserverpb::AuthDisableRequest& r) = 0;
  virtual Result<etcdserverpb::AuthStatusResponse> AuthStatus(const etcdserverpb::AuthStatusRequest& r) = 0;
  virtual Result<etcdserverpb::AuthUserAddResponse> UserAdd(const etcdserverpb::AuthUserAddRequest& r) = 0;
  virtual Result<etcdserverpb::AuthUserGetResponse> UserGet(const etcdserverpb::AuthUserGetRequest& r) = 0;
  virtual Result<etcdserverpb::AuthUserListResponse> UserList(const etcdserverpb::AuthUserListRequest& r) = 0;
  virtual Result<etcdserverpb::AuthUserDeleteResponse> UserDelete(const etcdserverpb::AuthUserDeleteRequest& r) = 0;
  virtual Result<etcdserverpb::AuthUserChangePasswordResponse> UserChangePassword(const etcdserverpb::AuthUserChangePasswordRequest& r) = 0;
  virtual Result<etcdserverpb::AuthUserGrantRoleResponse> UserGrantRole(const etcdserverpb::AuthUserGrantRoleRequest& r) = 0;
  virtual Result<etcdserverpb::AuthUserRevokeRoleResponse> UserRevokeRole(const etcdserverpb::AuthUserRevokeRoleRequest& r) = 0;
  virtual Result<etcdserverpb::AuthRoleAddResponse> RoleAdd(const etcdserverpb::AuthRoleAddRequest& r) = 0;
  virtual Result<etcdserverpb::AuthRoleGetResponse> RoleGet(const etcdserverpb::AuthRoleGetRequest& r) = 0;
  virtual Result<etcdserverpb::AuthRoleListResponse> RoleList(const etcdserverpb::AuthRoleListRequest& r) = 0;
  virtual Result<etcdserverpb::AuthRoleDeleteResponse> RoleDelete(const etcdserverpb::AuthRoleDeleteRequest& r) = 0;
  virtual Result<etcdserverpb::AuthRoleGrantPermissionResponse> RoleGrantPermission(const etcdserverpb::AuthRoleGrantPermissionRequest& r) = 0;
  virtual Result<etcdserverpb::AuthRoleRevokePermissionResponse> RoleRevokePermission(const etcdserverpb::AuthRoleRevokePermissionRequest& r) = 0;

  // The concurrency API (etcd's v3lock and v3election services). Lock and Campaign wait, without
  // a deadline, until the lock is held or the campaign won; `interrupt` may abandon the wait
  // (the call then fails with "context canceled", as etcdctl's does).
  virtual Result<v3lockpb::LockResponse> Lock(const v3lockpb::LockRequest& r, Interrupt* interrupt) = 0;
  virtual Result<v3lockpb::UnlockResponse> Unlock(const v3lockpb::UnlockRequest& r) = 0;
  virtual Result<v3electionpb::CampaignResponse> Campaign(const v3electionpb::CampaignRequest& r,
                                                          Interrupt* interrupt) = 0;
  virtual Result<v3electionpb::ResignResponse> Resign(const v3electionpb::ResignRequest& r) = 0;
  virtual absl::StatusOr<std::unique_ptr<ObserveStream>> Observe(const v3electionpb::LeaderRequest& r) = 0;

  // Long-lived streams (no deadline). The watch stream carries etcd's "hasleader" metadata.
  virtual absl::StatusOr<std::unique_ptr<WatchStream>> Watch() = 0;
  virtual absl::StatusOr<std::unique_ptr<KeepAliveStream>> KeepAlive() = 0;
};

}  // namespace cairn::ctl

#endif  // CAIRN_TOOLS_CTL_CLIENT_H_
