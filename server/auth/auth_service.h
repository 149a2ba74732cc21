// cairn::auth::AuthService — etcdserverpb.Auth over gRPC's callback API, etcd 3.4's behaviour.
//
// Changes (enable/disable, users, roles, permissions) are proposed to the raft log as
// cairnpb::AuthRequest carrying the caller's user name; the applier (auth_state.h) repeats the
// admin check and applies them on every member. Passwords are hashed here, on the HashWorker,
// before anything is proposed. Reads (Authenticate, UserGet/List, RoleGet/List) wait for a read
// barrier (as etcd's linearizable reads) and answer from the Authority's snapshot; AuthStatus
// answers at once. Thread-safe. Destroy after the gRPC server has finished every call.
#pragma once

#include <functional>

#include "absl/status/status.h"
#include "cairnpb/internal.pb.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "google/protobuf/message.h"
#include "server/auth/authority.h"
#include "server/auth/hash_worker.h"

namespace cairn::auth {

struct AuthServiceHooks {
  // Proposes `request`; `done` runs once it is applied (response filled) or refused.
  std::function<void(cairnpb::LogRequest request, google::protobuf::Message* response,
                     etcdserverpb::ResponseHeader* header, std::function<void(absl::Status)> done)>
      propose;
  // Runs `done` once this member's state is as recent as the cluster's (raft ReadIndex).
  std::function<void(std::function<void(absl::Status)> done)> read_barrier;
  // Fills a response header for a read answered locally (IDs, term, store revision).
  std::function<void(etcdserverpb::ResponseHeader*)> stamp;
};

class AuthService final : public etcdserverpb::Auth::CallbackService {
 public:
  AuthService(const Authority* authority, AuthServiceHooks hooks);

  grpc::ServerUnaryReactor* AuthEnable(grpc::CallbackServerContext* c, const etcdserverpb::AuthEnableRequest* r,
                                       etcdserverpb::AuthEnableResponse* out) override;
  grpc::ServerUnaryReactor* AuthDisable(grpc::CallbackServerContext* c, const etcdserverpb::AuthDisableRequest* r,
                                        etcdserverpb::AuthDisableResponse* out) override;
  grpc::ServerUnaryReactor* AuthStatus(grpc::CallbackServerContext* c, const etcdserverpb::AuthStatusRequest* r,
                                       etcdserverpb::AuthStatusResponse* out) override;
  grpc::ServerUnaryReactor* Authenticate(grpc::CallbackServerContext* c, const etcdserverpb::AuthenticateRequest* r,
                                         etcdserverpb::AuthenticateResponse* out) override;
  grpc::ServerUnaryReactor* UserAdd(grpc::CallbackServerContext* c, const etcdserverpb::AuthUserAddRequest* r,
                                    etcdserverpb::AuthUserAddResponse* out) override;
  grpc::ServerUnaryReactor* UserGet(grpc::CallbackServerContext* c, const etcdserverpb::AuthUserGetRequest* r,
                                    etcdserverpb::AuthUserGetResponse* out) override;
  grpc::ServerUnaryReactor* UserList(grpc::CallbackServerContext* c, const etcdserverpb::AuthUserListRequest* r,
                                     etcdserverpb::AuthUserListResponse* out) override;
  grpc::ServerUnaryReactor* UserDelete(grpc::CallbackServerContext* c, const etcdserverpb::AuthUserDeleteRequest* r,
                                       etcdserverpb::AuthUserDeleteResponse* out) override;
  grpc::ServerUnaryReactor* UserChangePassword(grpc::CallbackServerContext* c,
                                               const etcdserverpb::AuthUserChangePasswordRequest* r,
                                               etcdserverpb::AuthUserChangePasswordResponse* out) override;
  grpc::ServerUnaryReactor* UserGrantRole(grpc::CallbackServerContext* c,
                                          const etcdserverpb::AuthUserGrantRoleRequest* r,
                                          etcdserverpb::AuthUserGrantRoleResponse* out) override;
  grpc::ServerUnaryReactor* UserRevokeRole(grpc::CallbackServerContext* c,
                                           const etcdserverpb::AuthUserRevokeRoleRequest* r,
                                           etcdserverpb::AuthUserRevokeRoleResponse* out) override;
  grpc::ServerUnaryReactor* RoleAdd(grpc::CallbackServerContext* c, const etcdserverpb::AuthRoleAddRequest* r,
                                    etcdserverpb::AuthRoleAddResponse* out) override;
  grpc::ServerUnaryReactor* RoleGet(grpc::CallbackServerContext* c, const etcdserverpb::AuthRoleGetRequest* r,
                                    etcdserverpb::AuthRoleGetResponse* out) override;
  grpc::ServerUnaryReactor* RoleList(grpc::CallbackServerContext* c, const etcdserverpb::AuthRoleListRequest* r,
                                     etcdserverpb::AuthRoleListResponse* out) override;
  grpc::ServerUnaryReactor* RoleDelete(grpc::CallbackServerContext* c, const etcdserverpb::AuthRoleDeleteRequest* r,
                                       etcdserverpb::AuthRoleDeleteResponse* out) override;
  grpc::ServerUnaryReactor* RoleGrantPermission(grpc::CallbackServerContext* c,
                                                const etcdserverpb::AuthRoleGrantPermissionRequest* r,
                                                etcdserverpb::AuthRoleGrantPermissionResponse* out) override;
  grpc::ServerUnaryReactor* RoleRevokePermission(grpc::CallbackServerContext* c,
                                                 const etcdserverpb::AuthRoleRevokePermissionRequest* r,
                                                 etcdserverpb::AuthRoleRevokePermissionResponse* out) override;

 private:
  // Proposes `change` as the caller; finishes the call when applied.
  grpc::ServerUnaryReactor* Propose(grpc::CallbackServerContext* c, cairnpb::AuthRequest change,
                                    google::protobuf::Message* response, etcdserverpb::ResponseHeader* header);
  // Proposes a change that is the request itself, placed in the AuthRequest field `field` selects.
  template <typename Request, typename Response>
  grpc::ServerUnaryReactor* ProposeAsIs(grpc::CallbackServerContext* c, const Request& request,
                                        Request* (cairnpb::AuthRequest::*field)(), Response* out) {
    cairnpb::AuthRequest change;
    *(change.*field)() = request;
    return Propose(c, std::move(change), out, out->mutable_header());
  }
  void ProposeFor(grpc::ServerUnaryReactor* reactor, cairnpb::AuthRequest change, google::protobuf::Message* response,
                  etcdserverpb::ResponseHeader* header);
  // Runs `answer` (returning the call's status) after a read barrier, with the caller identified.
  grpc::ServerUnaryReactor* Read(grpc::CallbackServerContext* c, etcdserverpb::ResponseHeader* header,
                                 std::function<absl::Status(const Caller&, const cairnpb::AuthState&)> answer);

  const Authority* const authority_;
  const AuthServiceHooks hooks_;
  HashWorker worker_;  // last: its destructor runs queued jobs, which use the members above
};

}  // namespace cairn::auth
