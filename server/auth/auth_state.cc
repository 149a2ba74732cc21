#include "server/auth/auth_state.h"

#include <algorithm>

#include "etcdserverpb/rpc.pb.h"
#include "server/errors.h"

namespace cairn::auth {
namespace {

template <typename Repeated, typename Name>
auto LowerBoundByName(Repeated* items, absl::string_view name, Name name_of) {
  return std::lower_bound(items->begin(), items->end(), name,
                          [&](const auto& item, absl::string_view n) { return absl::string_view(name_of(item)) < n; });
}

cairnpb::AuthUser* MutableUser(cairnpb::AuthState* state, absl::string_view name) {
  auto it = LowerBoundByName(state->mutable_users(), name, [](const cairnpb::AuthUser& u) { return u.name(); });
  return it != state->mutable_users()->end() && it->name() == name ? &*it : nullptr;
}

authpb::Role* MutableRole(cairnpb::AuthState* state, absl::string_view name) {
  auto it = LowerBoundByName(state->mutable_roles(), name, [](const authpb::Role& r) { return r.name(); });
  return it != state->mutable_roles()->end() && it->name() == name ? &*it : nullptr;
}

// Inserts keeping the repeated field sorted by name (protobuf has no insert; add then rotate).
template <typename T, typename Name>
T* InsertSorted(google::protobuf::RepeatedPtrField<T>* items, absl::string_view name, Name name_of) {
  const int pos = static_cast<int>(LowerBoundByName(items, name, name_of) - items->begin());
  T* added = items->Add();
  for (int i = items->size() - 1; i > pos; --i) items->SwapElements(i, i - 1);
  (void)added;
  return items->Mutable(pos);
}

template <typename T>
void RemoveAt(google::protobuf::RepeatedPtrField<T>* items, int pos) {
  items->DeleteSubrange(pos, 1);
}

absl::Status UserAdd(cairnpb::AuthState* s, const cairnpb::AuthUserAdd& r) {
  if (r.name().empty()) return server::ErrUserEmpty();
  if (FindUser(*s, r.name()) != nullptr) return server::ErrUserAlreadyExist();
  cairnpb::AuthUser* u = InsertSorted(s->mutable_users(), r.name(), [](const cairnpb::AuthUser& x) { return x.name(); });
  u->set_name(r.name());
  u->set_no_password(r.options().no_password());
  if (!u->no_password()) *u->mutable_password() = r.password();
  s->set_revision(s->revision() + 1);
  u->set_password_revision(s->revision());
  return absl::OkStatus();
}

absl::Status UserDelete(cairnpb::AuthState* s, const etcdserverpb::AuthUserDeleteRequest& r) {
  if (s->enabled() && r.name() == kRootUser) return server::ErrInvalidAuthMgmt();
  auto it = LowerBoundByName(s->mutable_users(), r.name(), [](const cairnpb::AuthUser& u) { return u.name(); });
  if (it == s->mutable_users()->end() || it->name() != r.name()) return server::ErrUserNotFound();
  RemoveAt(s->mutable_users(), static_cast<int>(it - s->mutable_users()->begin()));
  s->set_revision(s->revision() + 1);
  return absl::OkStatus();
}

absl::Status UserChangePassword(cairnpb::AuthState* s, const cairnpb::AuthUserChangePassword& r) {
  cairnpb::AuthUser* u = MutableUser(s, r.name());
  if (u == nullptr) return server::ErrUserNotFound();
  *u->mutable_password() = r.password();
  s->set_revision(s->revision() + 1);
  u->set_password_revision(s->revision());
  return absl::OkStatus();
}

absl::Status UserGrantRole(cairnpb::AuthState* s, const etcdserverpb::AuthUserGrantRoleRequest& r) {
  cairnpb::AuthUser* u = MutableUser(s, r.user());
  if (u == nullptr) return server::ErrUserNotFound();
  if (r.role() != kRootRole && FindRole(*s, r.role()) == nullptr) return server::ErrRoleNotFound();
  if (HasRole(*u, r.role())) return absl::OkStatus();  // already granted: nothing changes
  auto* roles = u->mutable_roles();
  const int pos = static_cast<int>(std::lower_bound(roles->begin(), roles->end(), r.role()) - roles->begin());
  roles->Add(std::string(r.role()));
  for (int i = roles->size() - 1; i > pos; --i) roles->SwapElements(i, i - 1);
  s->set_revision(s->revision() + 1);
  return absl::OkStatus();
}

absl::Status UserRevokeRole(cairnpb::AuthState* s, const etcdserverpb::AuthUserRevokeRoleRequest& r) {
  if (s->enabled() && r.name() == kRootUser && r.role() == kRootRole) return server::ErrInvalidAuthMgmt();
  cairnpb::AuthUser* u = MutableUser(s, r.name());
  if (u == nullptr) return server::ErrUserNotFound();
  auto* roles = u->mutable_roles();
  auto it = std::find(roles->begin(), roles->end(), r.role());
  if (it == roles->end()) return server::ErrRoleNotGranted();
  roles->DeleteSubrange(static_cast<int>(it - roles->begin()), 1);
  s->set_revision(s->revision() + 1);
  return absl::OkStatus();
}

absl::Status RoleAdd(cairnpb::AuthState* s, const etcdserverpb::AuthRoleAddRequest& r) {
  if (r.name().empty()) return server::ErrRoleEmpty();
  if (FindRole(*s, r.name()) != nullptr) return server::ErrRoleAlreadyExist();
  authpb::Role* role = InsertSorted(s->mutable_roles(), r.name(), [](const authpb::Role& x) { return x.name(); });
  role->set_name(r.name());
  s->set_revision(s->revision() + 1);
  return absl::OkStatus();
}

absl::Status RoleDelete(cairnpb::AuthState* s, const etcdserverpb::AuthRoleDeleteRequest& r) {
  if (s->enabled() && r.role() == kRootRole) return server::ErrInvalidAuthMgmt();
  auto it = LowerBoundByName(s->mutable_roles(), r.role(), [](const authpb::Role& x) { return x.name(); });
  if (it == s->mutable_roles()->end() || it->name() != r.role()) return server::ErrRoleNotFound();
  RemoveAt(s->mutable_roles(), static_cast<int>(it - s->mutable_roles()->begin()));
  for (cairnpb::AuthUser& u : *s->mutable_users()) {
    auto* roles = u.mutable_roles();
    auto found = std::find(roles->begin(), roles->end(), r.role());
    if (found != roles->end()) roles->DeleteSubrange(static_cast<int>(found - roles->begin()), 1);
  }
  s->set_revision(s->revision() + 1);
  return absl::OkStatus();
}

absl::Status RoleGrantPermission(cairnpb::AuthState* s, const etcdserverpb::AuthRoleGrantPermissionRequest& r) {
  authpb::Role* role = MutableRole(s, r.name());
  if (role == nullptr) return server::ErrRoleNotFound();
  auto* perms = role->mutable_keypermission();
  const authpb::Permission& want = r.perm();
  bool updated = false;
  for (authpb::Permission& p : *perms) {
    if (p.key() == want.key() && p.range_end() == want.range_end()) {
      p.set_permtype(want.permtype());  // same range granted again: the new type replaces the old
      updated = true;
      break;
    }
  }
  if (!updated) {
    // Sorted by key; a new range goes after the ones with an equal key.
    int pos = 0;
    while (pos < perms->size() && perms->Get(pos).key() <= want.key()) ++pos;
    *perms->Add() = want;
    for (int i = perms->size() - 1; i > pos; --i) perms->SwapElements(i, i - 1);
  }
  s->set_revision(s->revision() + 1);
  return absl::OkStatus();
}

absl::Status RoleRevokePermission(cairnpb::AuthState* s, const etcdserverpb::AuthRoleRevokePermissionRequest& r) {
  authpb::Role* role = MutableRole(s, r.role());
  if (role == nullptr) return server::ErrRoleNotFound();
  auto* perms = role->mutable_keypermission();
  const int before = perms->size();
  for (int i = perms->size() - 1; i >= 0; --i) {
    if (perms->Get(i).key() == r.key() && perms->Get(i).range_end() == r.range_end()) perms->DeleteSubrange(i, 1);
  }
  if (perms->size() == before) return server::ErrPermissionNotGranted();
  s->set_revision(s->revision() + 1);
  return absl::OkStatus();
}

absl::Status Enable(cairnpb::AuthState* s, const cairnpb::AuthRequest& r) {
  if (s->enabled()) return absl::OkStatus();  // already on: ignored, as etcd does
  const cairnpb::AuthUser* root = FindUser(*s, kRootUser);
  if (root == nullptr) return server::ErrRootUserNotExist();
  if (!HasRole(*root, kRootRole)) return server::ErrRootRoleNotExist();
  if (r.token_key().empty()) return absl::InternalError("cairn: auth enable without a token key");
  s->set_enabled(true);
  s->set_token_key(r.token_key());
  // etcd does not count enabling as an auth revision; disabling is.
  return absl::OkStatus();
}

absl::Status Disable(cairnpb::AuthState* s) {
  if (!s->enabled()) return absl::OkStatus();
  s->set_enabled(false);
  s->set_revision(s->revision() + 1);
  return absl::OkStatus();
}

}  // namespace

const cairnpb::AuthUser* FindUser(const cairnpb::AuthState& state, absl::string_view name) {
  auto it = std::lower_bound(state.users().begin(), state.users().end(), name,
                             [](const cairnpb::AuthUser& u, absl::string_view n) { return absl::string_view(u.name()) < n; });
  return it != state.users().end() && it->name() == name ? &*it : nullptr;
}

const authpb::Role* FindRole(const cairnpb::AuthState& state, absl::string_view name) {
  auto it = std::lower_bound(state.roles().begin(), state.roles().end(), name,
                             [](const authpb::Role& r, absl::string_view n) { return absl::string_view(r.name()) < n; });
  return it != state.roles().end() && it->name() == name ? &*it : nullptr;
}

bool HasRole(const cairnpb::AuthUser& user, absl::string_view role) {
  return std::binary_search(user.roles().begin(), user.roles().end(), role,
                            [](absl::string_view a, absl::string_view b) { return a < b; });
}

absl::Status CheckAdmin(const cairnpb::AuthState& state, absl::string_view user) {
  if (!state.enabled()) return absl::OkStatus();
  if (user.empty()) return server::ErrUserEmpty();
  const cairnpb::AuthUser* u = FindUser(state, user);
  if (u == nullptr) return server::ErrUserNotFound();
  if (!HasRole(*u, kRootRole)) return server::ErrPermissionDenied();
  return absl::OkStatus();
}

absl::Status ApplyAuthChange(cairnpb::AuthState* state, const cairnpb::AuthRequest& request) {
  if (auto s = CheckAdmin(*state, request.user()); !s.ok()) return s;
  cairnpb::AuthState next = *state;
  absl::Status s;
  switch (request.change_case()) {
    case cairnpb::AuthRequest::kEnable: s = Enable(&next, request); break;
    case cairnpb::AuthRequest::kDisable: s = Disable(&next); break;
    case cairnpb::AuthRequest::kUserAdd: s = UserAdd(&next, request.user_add()); break;
    case cairnpb::AuthRequest::kUserDelete: s = UserDelete(&next, request.user_delete()); break;
    case cairnpb::AuthRequest::kUserChangePassword: s = UserChangePassword(&next, request.user_change_password()); break;
    case cairnpb::AuthRequest::kUserGrantRole: s = UserGrantRole(&next, request.user_grant_role()); break;
    case cairnpb::AuthRequest::kUserRevokeRole: s = UserRevokeRole(&next, request.user_revoke_role()); break;
    case cairnpb::AuthRequest::kRoleAdd: s = RoleAdd(&next, request.role_add()); break;
    case cairnpb::AuthRequest::kRoleDelete: s = RoleDelete(&next, request.role_delete()); break;
    case cairnpb::AuthRequest::kRoleGrantPermission: s = RoleGrantPermission(&next, request.role_grant_permission()); break;
    case cairnpb::AuthRequest::kRoleRevokePermission: s = RoleRevokePermission(&next, request.role_revoke_permission()); break;
    default: return absl::InternalError("cairn: auth change of a kind this version cannot apply");
  }
  if (!s.ok()) return s;
  *state = std::move(next);
  return absl::OkStatus();
}

absl::Status ParseAuthState(absl::string_view blob, cairnpb::AuthState* state) {
  state->Clear();
  if (blob.empty()) return absl::OkStatus();
  if (!state->ParseFromArray(blob.data(), static_cast<int>(blob.size()))) {
    return absl::DataLossError("cairn: the store's auth record does not decode");
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> AuthRevisionOf(absl::string_view blob) {
  cairnpb::AuthState state;
  if (auto s = ParseAuthState(blob, &state); !s.ok()) return s;
  return state.revision();
}

absl::Status ApplyAuthRequest(mvcc::WriteBatch* batch, const cairnpb::AuthRequest& request,
                              google::protobuf::Message* response) {
  auto blob = batch->AuthState();
  if (!blob.ok()) return blob.status();
  cairnpb::AuthState state;
  if (auto s = ParseAuthState(*blob, &state); !s.ok()) return s;
  const uint64_t revision_before = state.revision();
  const bool enabled_before = state.enabled();
  if (auto s = ApplyAuthChange(&state, request); !s.ok()) return s;
  if (state.revision() != revision_before || state.enabled() != enabled_before) {
    if (auto s = batch->SetAuthState(state.SerializeAsString()); !s.ok()) return s;
  }
  if (response != nullptr) {
    // Every Auth* response has `ResponseHeader header = 1`.
    const auto* field = response->GetDescriptor()->FindFieldByName("header");
    if (field != nullptr && field->message_type() == etcdserverpb::ResponseHeader::descriptor()) {
      auto* header = static_cast<etcdserverpb::ResponseHeader*>(response->GetReflection()->MutableMessage(response, field));
      header->set_revision(batch->revision());
    }
  }
  return absl::OkStatus();
}

}  // namespace cairn::auth
