#include "server/gateway/routes.h"

#include <iterator>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace cairn::gateway {
namespace {

using S = CallShape;

// etcd 3.4's gateway paths (etcdserverpb/gw, v3lockpb/gw, v3electionpb/gw). HashKV shares
// "/v3/maintenance/hash" with Hash there and is never reached (Hash is registered first), so it
// has no entry here either.
constexpr Route kRoutes[] = {
    {"/v3/kv/range", "/etcdserverpb.KV/Range", S::kUnary},
    {"/v3/kv/put", "/etcdserverpb.KV/Put", S::kUnary},
    {"/v3/kv/deleterange", "/etcdserverpb.KV/DeleteRange", S::kUnary},
    {"/v3/kv/txn", "/etcdserverpb.KV/Txn", S::kUnary},
    {"/v3/kv/compaction", "/etcdserverpb.KV/Compact", S::kUnary},
    {"/v3/watch", "/etcdserverpb.Watch/Watch", S::kBidiStream},
    {"/v3/lease/grant", "/etcdserverpb.Lease/LeaseGrant", S::kUnary},
    {"/v3/lease/revoke", "/etcdserverpb.Lease/LeaseRevoke", S::kUnary},
    {"/v3/kv/lease/revoke", "/etcdserverpb.Lease/LeaseRevoke", S::kUnary},
    {"/v3/lease/keepalive", "/etcdserverpb.Lease/LeaseKeepAlive", S::kBidiStream},
    {"/v3/lease/timetolive", "/etcdserverpb.Lease/LeaseTimeToLive", S::kUnary},
    {"/v3/kv/lease/timetolive", "/etcdserverpb.Lease/LeaseTimeToLive", S::kUnary},
    {"/v3/lease/leases", "/etcdserverpb.Lease/LeaseLeases", S::kUnary},
    {"/v3/kv/lease/leases", "/etcdserverpb.Lease/LeaseLeases", S::kUnary},
    {"/v3/cluster/member/add", "/etcdserverpb.Cluster/MemberAdd", S::kUnary},
    {"/v3/cluster/member/remove", "/etcdserverpb.Cluster/MemberRemove", S::kUnary},
    {"/v3/cluster/member/update", "/etcdserverpb.Cluster/MemberUpdate", S::kUnary},
    {"/v3/cluster/member/list", "/etcdserverpb.Cluster/MemberList", S::kUnary},
    {"/v3/cluster/member/promote", "/etcdserverpb.Cluster/MemberPromote", S::kUnary},
    {"/v3/maintenance/alarm", "/etcdserverpb.Maintenance/Alarm", S::kUnary},
    {"/v3/maintenance/status", "/etcdserverpb.Maintenance/Status", S::kUnary},
    {"/v3/maintenance/defragment", "/etcdserverpb.Maintenance/Defragment", S::kUnary},
    {"/v3/maintenance/hash", "/etcdserverpb.Maintenance/Hash", S::kUnary},
    {"/v3/maintenance/snapshot", "/etcdserverpb.Maintenance/Snapshot", S::kServerStream},
    {"/v3/maintenance/transfer-leadership", "/etcdserverpb.Maintenance/MoveLeader", S::kUnary},
    {"/v3/auth/enable", "/etcdserverpb.Auth/AuthEnable", S::kUnary},
    {"/v3/auth/disable", "/etcdserverpb.Auth/AuthDisable", S::kUnary},
    {"/v3/auth/authenticate", "/etcdserverpb.Auth/Authenticate", S::kUnary},
    {"/v3/auth/user/add", "/etcdserverpb.Auth/UserAdd", S::kUnary},
    {"/v3/auth/user/get", "/etcdserverpb.Auth/UserGet", S::kUnary},
    {"/v3/auth/user/list", "/etcdserverpb.Auth/UserList", S::kUnary},
    {"/v3/auth/user/delete", "/etcdserverpb.Auth/UserDelete", S::kUnary},
    {"/v3/auth/user/changepw", "/etcdserverpb.Auth/UserChangePassword", S::kUnary},
    {"/v3/auth/user/grant", "/etcdserverpb.Auth/UserGrantRole", S::kUnary},
    {"/v3/auth/user/revoke", "/etcdserverpb.Auth/UserRevokeRole", S::kUnary},
    {"/v3/auth/role/add", "/etcdserverpb.Auth/RoleAdd", S::kUnary},
    {"/v3/auth/role/get", "/etcdserverpb.Auth/RoleGet", S::kUnary},
    {"/v3/auth/role/list", "/etcdserverpb.Auth/RoleList", S::kUnary},
    {"/v3/auth/role/delete", "/etcdserverpb.Auth/RoleDelete", S::kUnary},
    {"/v3/auth/role/grant", "/etcdserverpb.Auth/RoleGrantPermission", S::kUnary},
    {"/v3/auth/role/revoke", "/etcdserverpb.Auth/RoleRevokePermission", S::kUnary},
    {"/v3/lock/lock", "/v3lockpb.Lock/Lock", S::kUnary},
    {"/v3/lock/unlock", "/v3lockpb.Lock/Unlock", S::kUnary},
    {"/v3/election/campaign", "/v3electionpb.Election/Campaign", S::kUnary},
    {"/v3/election/proclaim", "/v3electionpb.Election/Proclaim", S::kUnary},
    {"/v3/election/leader", "/v3electionpb.Election/Leader", S::kUnary},
    {"/v3/election/observe", "/v3electionpb.Election/Observe", S::kServerStream},
    {"/v3/election/resign", "/v3electionpb.Election/Resign", S::kUnary},
};

}  // namespace

RouteMatch MatchRoute(absl::string_view http_method, absl::string_view path) {
  if (size_t q = path.find('?'); q != absl::string_view::npos) path = path.substr(0, q);
  std::string v3_path;
  if (absl::StartsWith(path, "/v3beta/")) {
    v3_path = absl::StrCat("/v3/", path.substr(8));
  } else if (absl::StartsWith(path, "/v3/")) {
    v3_path = std::string(path);
  } else {
    return {};
  }
  for (const Route& route : kRoutes) {
    if (v3_path != route.path) continue;
    if (http_method != "POST") return {Match::kMethodNotAllowed, &route};
    return {Match::kRoute, &route};
  }
  return {Match::kNotFound, nullptr};
}

const google::protobuf::MethodDescriptor* MethodOf(const Route& route) {
  // "/pkg.Service/Method" -> "pkg.Service.Method"
  std::string full(route.grpc_method + 1);
  full[full.rfind('/')] = '.';
  return google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(full);
}

const Route* AllRoutes(size_t* count) {
  *count = std::size(kRoutes);
  return kRoutes;
}

}  // namespace cairn::gateway
