#include "server/auth/auth_service.h"

#include "server/auth/auth_state.h"
#include "server/auth/passwords.h"
#include "server/errors.h"

namespace cairn::auth {
namespace {

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* c, const absl::Status& s) {
  auto* reactor = c->DefaultReactor();
  reactor->Finish(server::ToGrpcStatus(s));
  return reactor;
}

}  // namespace

AuthService::AuthService(const Authority* authority, AuthServiceHooks hooks)
    : authority_(authority), hooks_(std::move(hooks)) {}

void AuthService::ProposeFor(grpc::ServerUnaryReactor* reactor, cairnpb::AuthRequest change,
                             google::protobuf::Message* response, etcdserverpb::ResponseHeader* header) {
  cairnpb::LogRequest log;
  *log.mutable_auth() = std::move(change);
  hooks_.propose(std::move(log), response, header,
                 [reactor](absl::Status s) { reactor->Finish(server::ToGrpcStatus(s)); });
}

grpc::ServerUnaryReactor* AuthService::Propose(grpc::CallbackServerContext* c, cairnpb::AuthRequest change,
                                               google::protobuf::Message* response,
                                               etcdserverpb::ResponseHeader* header) {
  // While auth is off nobody needs a name, but a token sent is refused (etcd has none then).
  auto caller = authority_->IdentifyAnyState(*c);
  if (!caller.ok()) return FinishNow(c, caller.status());
  change.set_user(caller->user);
  auto* reactor = c->DefaultReactor();
  ProposeFor(reactor, std::move(change), response, header);
  return reactor;
}

grpc::ServerUnaryReactor* AuthService::Read(
    grpc::CallbackServerContext* c, etcdserverpb::ResponseHeader* header,
    std::function<absl::Status(const Caller&, const cairnpb::AuthState&)> answer) {
  auto identified = authority_->IdentifyAnyState(*c);
  if (!identified.ok()) return FinishNow(c, identified.status());
  Caller caller = std::move(*identified);
  auto* reactor = c->DefaultReactor();
  hooks_.read_barrier([this, reactor, header, caller = std::move(caller), answer = std::move(answer)](absl::Status ready) {
    if (ready.ok()) {
      ready = answer(caller, *authority_->State());
      if (ready.ok() && header != nullptr) hooks_.stamp(header);
    }
    reactor->Finish(server::ToGrpcStatus(ready));
  });
  return reactor;
}

grpc::ServerUnaryReactor* AuthService::AuthEnable(grpc::CallbackServerContext* c, const etcdserverpb::AuthEnableRequest* r,
                                                  etcdserverpb::AuthEnableResponse* out) {
  cairnpb::AuthRequest change;
  *change.mutable_enable() = *r;
  change.set_token_key(RandomBytes(32));
  return Propose(c, std::move(change), out, out->mutable_header());
}

grpc::ServerUnaryReactor* AuthService::AuthDisable(grpc::CallbackServerContext* c,
                                                   const etcdserverpb::AuthDisableRequest* r,
                                                   etcdserverpb::AuthDisableResponse* out) {
  return ProposeAsIs(c, *r, &cairnpb::AuthRequest::mutable_disable, out);
}

grpc::ServerUnaryReactor* AuthService::AuthStatus(grpc::CallbackServerContext* c, const etcdserverpb::AuthStatusRequest*,
                                                  etcdserverpb::AuthStatusResponse* out) {
  auto state = authority_->State();
  out->set_enabled(state->enabled());
  out->set_authrevision(state->revision());
  hooks_.stamp(out->mutable_header());
  return FinishNow(c, absl::OkStatus());
}

grpc::ServerUnaryReactor* AuthService::Authenticate(grpc::CallbackServerContext* c,
                                                    const etcdserverpb::AuthenticateRequest* r,
                                                    etcdserverpb::AuthenticateResponse* out) {
  auto* reactor = c->DefaultReactor();
  hooks_.read_barrier([this, c, reactor, r, out](absl::Status ready) {
    if (!ready.ok()) return reactor->Finish(server::ToGrpcStatus(ready));
    worker_.Run([this, c, reactor, r, out] {
      auto token = authority_->Authenticate(r->name(), r->password());
      // etcd looks at the caller's own token (if it sent one) only once the password is right: a
      // client re-authenticating with its stale token gets ErrInvalidAuthToken, not a new one.
      if (token.ok()) {
        if (auto caller = authority_->Identify(*c); !caller.ok()) token = caller.status();
      }
      if (token.ok()) {
        out->set_token(std::move(*token));
        hooks_.stamp(out->mutable_header());
      }
      reactor->Finish(server::ToGrpcStatus(token.status()));
    });
  });
  return reactor;
}

grpc::ServerUnaryReactor* AuthService::UserAdd(grpc::CallbackServerContext* c, const etcdserverpb::AuthUserAddRequest* r,
                                               etcdserverpb::AuthUserAddResponse* out) {
  cairnpb::AuthRequest change;
  cairnpb::AuthUserAdd* add = change.mutable_user_add();
  add->set_name(r->name());
  if (r->has_options()) *add->mutable_options() = r->options();
  // An empty name is refused at apply, after the admin check (etcd's order: a non-root caller is
  // told "permission denied" first).
  if (add->options().no_password()) return Propose(c, std::move(change), out, out->mutable_header());
  auto caller = authority_->IdentifyAnyState(*c);
  if (!caller.ok()) return FinishNow(c, caller.status());
  change.set_user(caller->user);
  auto* reactor = c->DefaultReactor();
  worker_.Run([this, reactor, r, out, change = std::move(change)]() mutable {
    *change.mutable_user_add()->mutable_password() = HashPassword(r->password());
    ProposeFor(reactor, std::move(change), out, out->mutable_header());
  });
  return reactor;
}

grpc::ServerUnaryReactor* AuthService::UserChangePassword(grpc::CallbackServerContext* c,
                                                          const etcdserverpb::AuthUserChangePasswordRequest* r,
                                                          etcdserverpb::AuthUserChangePasswordResponse* out) {
  cairnpb::AuthRequest change;
  change.mutable_user_change_password()->set_name(r->name());
  auto caller = authority_->IdentifyAnyState(*c);
  if (!caller.ok()) return FinishNow(c, caller.status());
  change.set_user(caller->user);
  auto* reactor = c->DefaultReactor();
  worker_.Run([this, reactor, r, out, change = std::move(change)]() mutable {
    *change.mutable_user_change_password()->mutable_password() = HashPassword(r->password());
    ProposeFor(reactor, std::move(change), out, out->mutable_header());
  });
  return reactor;
}

grpc::ServerUnaryReactor* AuthService::UserDelete(grpc::CallbackServerContext* c,
                                                  const etcdserverpb::AuthUserDeleteRequest* r,
                                                  etcdserverpb::AuthUserDeleteResponse* out) {
  return ProposeAsIs(c, *r, &cairnpb::AuthRequest::mutable_user_delete, out);
}

grpc::ServerUnaryReactor* AuthService::UserGrantRole(grpc::CallbackServerContext* c,
                                                     const etcdserverpb::AuthUserGrantRoleRequest* r,
                                                     etcdserverpb::AuthUserGrantRoleResponse* out) {
  return ProposeAsIs(c, *r, &cairnpb::AuthRequest::mutable_user_grant_role, out);
}

grpc::ServerUnaryReactor* AuthService::UserRevokeRole(grpc::CallbackServerContext* c,
                                                      const etcdserverpb::AuthUserRevokeRoleRequest* r,
                                                      etcdserverpb::AuthUserRevokeRoleResponse* out) {
  return ProposeAsIs(c, *r, &cairnpb::AuthRequest::mutable_user_revoke_role, out);
}

grpc::ServerUnaryReactor* AuthService::RoleAdd(grpc::CallbackServerContext* c, const etcdserverpb::AuthRoleAddRequest* r,
                                               etcdserverpb::AuthRoleAddResponse* out) {
  return ProposeAsIs(c, *r, &cairnpb::AuthRequest::mutable_role_add, out);
}

grpc::ServerUnaryReactor* AuthService::RoleDelete(grpc::CallbackServerContext* c,
                                                  const etcdserverpb::AuthRoleDeleteRequest* r,
                                                  etcdserverpb::AuthRoleDeleteResponse* out) {
  return ProposeAsIs(c, *r, &cairnpb::AuthRequest::mutable_role_delete, out);
}

grpc::ServerUnaryReactor* AuthService::RoleGrantPermission(grpc::CallbackServerContext* c,
                                                           const etcdserverpb::AuthRoleGrantPermissionRequest* r,
                                                           etcdserverpb::AuthRoleGrantPermissionResponse* out) {
  return ProposeAsIs(c, *r, &cairnpb::AuthRequest::mutable_role_grant_permission, out);
}

grpc::ServerUnaryReactor* AuthService::RoleRevokePermission(grpc::CallbackServerContext* c,
                                                            const etcdserverpb::AuthRoleRevokePermissionRequest* r,
                                                            etcdserverpb::AuthRoleRevokePermissionResponse* out) {
  return ProposeAsIs(c, *r, &cairnpb::AuthRequest::mutable_role_revoke_permission, out);
}

grpc::ServerUnaryReactor* AuthService::UserGet(grpc::CallbackServerContext* c, const etcdserverpb::AuthUserGetRequest* r,
                                               etcdserverpb::AuthUserGetResponse* out) {
  return Read(c, out->mutable_header(), [r, out](const Caller& caller, const cairnpb::AuthState& state) {
    // Anyone may look themselves up; others need root.
    if (auto s = CheckAdmin(state, caller.user); !s.ok() && r->name() != caller.user) return s;
    const cairnpb::AuthUser* user = FindUser(state, r->name());
    if (user == nullptr) return server::ErrUserNotFound();
    for (const std::string& role : user->roles()) out->add_roles(role);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AuthService::UserList(grpc::CallbackServerContext* c, const etcdserverpb::AuthUserListRequest*,
                                                etcdserverpb::AuthUserListResponse* out) {
  return Read(c, out->mutable_header(), [out](const Caller& caller, const cairnpb::AuthState& state) {
    if (auto s = CheckAdmin(state, caller.user); !s.ok()) return s;
    for (const cairnpb::AuthUser& u : state.users()) out->add_users(u.name());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AuthService::RoleGet(grpc::CallbackServerContext* c, const etcdserverpb::AuthRoleGetRequest* r,
                                               etcdserverpb::AuthRoleGetResponse* out) {
  return Read(c, out->mutable_header(), [r, out](const Caller& caller, const cairnpb::AuthState& state) {
    // A user may look up the roles it holds; others need root.
    if (auto s = CheckAdmin(state, caller.user); !s.ok()) {
      const cairnpb::AuthUser* self = FindUser(state, caller.user);
      if (self == nullptr || !HasRole(*self, r->role())) return s;
    }
    const authpb::Role* role = FindRole(state, r->role());
    if (role == nullptr) return server::ErrRoleNotFound();
    for (const authpb::Permission& p : role->keypermission()) *out->add_perm() = p;
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AuthService::RoleList(grpc::CallbackServerContext* c, const etcdserverpb::AuthRoleListRequest*,
                                                etcdserverpb::AuthRoleListResponse* out) {
  return Read(c, out->mutable_header(), [out](const Caller& caller, const cairnpb::AuthState& state) {
    if (auto s = CheckAdmin(state, caller.user); !s.ok()) return s;
    for (const authpb::Role& role : state.roles()) out->add_roles(role.name());
    return absl::OkStatus();
  });
}

}  // namespace cairn::auth
