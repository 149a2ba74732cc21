#include "server/auth/authority.h"

#include <chrono>

#include "absl/strings/match.h"
#include "server/auth/auth_state.h"
#include "server/auth/passwords.h"
#include "server/auth/tokens.h"
#include "server/errors.h"
#include "server/tls/tls.h"

namespace cairn::auth {
namespace {

int64_t SystemNowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

Authority::Authority(AuthorityOptions options) : options_(std::move(options)) {
  auto empty = std::make_shared<Snapshot>();
  empty->state = std::make_shared<cairnpb::AuthState>();
  snapshot_ = std::move(empty);
}

absl::Status Authority::Load(absl::string_view blob) {
  auto state = std::make_shared<cairnpb::AuthState>();
  if (auto s = ParseAuthState(blob, state.get()); !s.ok()) return s;
  auto snap = std::make_shared<Snapshot>();
  for (const cairnpb::AuthUser& u : state->users()) {
    UserView view;
    view.root = HasRole(u, kRootRole);
    view.password_revision = u.password_revision();
    for (const std::string& role_name : u.roles()) {
      const authpb::Role* role = FindRole(*state, role_name);
      if (role == nullptr) continue;  // "root" may be granted without a role record
      for (const authpb::Permission& p : role->keypermission()) view.permissions.Add(p);
    }
    view.permissions.Seal();
    snap->users.emplace(u.name(), std::move(view));
  }
  const bool enabled = state->enabled();
  snap->state = std::move(state);
  {
    std::lock_guard<std::mutex> lock(mu_);
    snapshot_ = std::move(snap);
  }
  enabled_.store(enabled, std::memory_order_release);
  return absl::OkStatus();
}

std::shared_ptr<const Authority::Snapshot> Authority::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshot_;
}

std::shared_ptr<const cairnpb::AuthState> Authority::State() const { return Current()->state; }

uint64_t Authority::revision() const { return Current()->state->revision(); }

absl::StatusOr<Caller> Authority::Identify(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
                                           const grpc::AuthContext* auth_context) const {
  auto token_it = metadata.find("token");
  if (token_it == metadata.end()) token_it = metadata.find("authorization");
  if (token_it != metadata.end()) {
    absl::string_view token(token_it->second.data(), token_it->second.size());
    if (absl::StartsWithIgnoreCase(token, "bearer ")) token.remove_prefix(7);
    const auto snap = Current();
    const int64_t now = options_.now_unix ? options_.now_unix() : SystemNowUnix();
    auto claims = VerifyToken(snap->state->token_key(), token, now);
    if (!claims.ok()) return claims.status();
    // The user must still exist with the password the token was issued for.
    auto user = snap->users.find(claims->user);
    if (user == snap->users.end() || user->second.password_revision != claims->password_revision) {
      return server::ErrInvalidAuthToken();
    }
    return Caller{std::move(claims->user)};
  }
  if (std::optional<std::string> name = tls::ClientCommonName(auth_context)) return Caller{std::move(*name)};
  return Caller{};
}

absl::StatusOr<Caller> Authority::Identify(const grpc::ServerContextBase& context) const {
  std::shared_ptr<const grpc::AuthContext> auth_context = context.auth_context();
  return Identify(context.client_metadata(), auth_context.get());
}

absl::StatusOr<Caller> Authority::IdentifyAnyState(const grpc::ServerContextBase& context) const {
  if (enabled()) return Identify(context);
  if (auto s = RefuseToken(context); !s.ok()) return s;
  return Caller{};
}

absl::Status Authority::RefuseToken(const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  if (metadata.find("token") == metadata.end() && metadata.find("authorization") == metadata.end()) {
    return absl::OkStatus();
  }
  return server::ErrInvalidAuthToken();
}

absl::Status Authority::CheckKeysIn(const Snapshot& snap, absl::string_view user, absl::string_view key,
                                    absl::string_view range_end, bool write) const {
  if (!snap.state->enabled()) return absl::OkStatus();
  if (user.empty()) return server::ErrUserEmpty();
  auto it = snap.users.find(user);
  if (it == snap.users.end()) return server::ErrPermissionDenied();
  const UserView& view = it->second;
  if (view.root) return absl::OkStatus();
  const bool allowed = write ? view.permissions.CanWrite(key, range_end) : view.permissions.CanRead(key, range_end);
  return allowed ? absl::OkStatus() : server::ErrPermissionDenied();
}

absl::Status Authority::CheckKeys(absl::string_view user, absl::string_view key, absl::string_view range_end,
                                  bool write) const {
  return CheckKeysIn(*Current(), user, key, range_end, write);
}

absl::Status Authority::CheckLease(const Snapshot& snap, absl::string_view user, int64_t lease) const {
  if (lease == 0 || !options_.lease_keys) return absl::OkStatus();
  for (const std::string& key : options_.lease_keys(lease)) {
    if (auto s = CheckKeysIn(snap, user, key, "", /*write=*/true); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Authority::CheckRange(const grpc::ServerContextBase& c, const etcdserverpb::RangeRequest& r) const {
  auto caller = Identify(c);
  if (!caller.ok()) return caller.status();
  return CheckKeys(caller->user, r.key(), r.range_end(), /*write=*/false);
}

absl::Status Authority::CheckPut(const grpc::ServerContextBase& c, const etcdserverpb::PutRequest& r) const {
  auto caller = Identify(c);
  if (!caller.ok()) return caller.status();
  const auto snap = Current();
  if (auto s = CheckKeysIn(*snap, caller->user, r.key(), "", true); !s.ok()) return s;
  if (auto s = CheckLease(*snap, caller->user, r.lease()); !s.ok()) return s;
  if (r.prev_kv()) return CheckKeysIn(*snap, caller->user, r.key(), "", false);
  return absl::OkStatus();
}

absl::Status Authority::CheckDeleteRange(const grpc::ServerContextBase& c,
                                         const etcdserverpb::DeleteRangeRequest& r) const {
  auto caller = Identify(c);
  if (!caller.ok()) return caller.status();
  const auto snap = Current();
  if (auto s = CheckKeysIn(*snap, caller->user, r.key(), r.range_end(), true); !s.ok()) return s;
  if (r.prev_kv()) return CheckKeysIn(*snap, caller->user, r.key(), r.range_end(), false);
  return absl::OkStatus();
}

absl::Status Authority::CheckTxnOps(const Snapshot& snap, absl::string_view user,
                                    const google::protobuf::RepeatedPtrField<etcdserverpb::RequestOp>& ops) const {
  for (const etcdserverpb::RequestOp& op : ops) {
    absl::Status s;
    switch (op.request_case()) {
      case etcdserverpb::RequestOp::kRequestRange:
        s = CheckKeysIn(snap, user, op.request_range().key(), op.request_range().range_end(), false);
        break;
      case etcdserverpb::RequestOp::kRequestPut:
        s = CheckKeysIn(snap, user, op.request_put().key(), "", true);
        break;
      case etcdserverpb::RequestOp::kRequestDeleteRange: {
        const auto& d = op.request_delete_range();
        if (d.prev_kv()) s = CheckKeysIn(snap, user, d.key(), d.range_end(), false);
        if (s.ok()) s = CheckKeysIn(snap, user, d.key(), d.range_end(), true);
        break;
      }
      case etcdserverpb::RequestOp::kRequestTxn: {
        const auto& t = op.request_txn();
        for (const etcdserverpb::Compare& cmp : t.compare()) {
          if (s.ok()) s = CheckKeysIn(snap, user, cmp.key(), cmp.range_end(), false);
        }
        if (s.ok()) s = CheckTxnOps(snap, user, t.success());
        if (s.ok()) s = CheckTxnOps(snap, user, t.failure());
        break;
      }
      default:
        break;
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Authority::CheckTxn(const grpc::ServerContextBase& c, const etcdserverpb::TxnRequest& r) const {
  auto caller = Identify(c);
  if (!caller.ok()) return caller.status();
  const auto snap = Current();
  for (const etcdserverpb::Compare& cmp : r.compare()) {
    if (auto s = CheckKeysIn(*snap, caller->user, cmp.key(), cmp.range_end(), false); !s.ok()) return s;
  }
  if (auto s = CheckTxnOps(*snap, caller->user, r.success()); !s.ok()) return s;
  return CheckTxnOps(*snap, caller->user, r.failure());
}

absl::Status Authority::CheckWatch(const grpc::ServerContextBase& c, const etcdserverpb::WatchCreateRequest& r) const {
  auto caller = Identify(c);
  if (!caller.ok()) return caller.status();
  return CheckKeys(caller->user, r.key(), r.range_end(), false);
}

absl::Status Authority::CheckLeaseRevoke(const grpc::ServerContextBase& c, int64_t lease) const {
  auto caller = Identify(c);
  if (!caller.ok()) return caller.status();
  return CheckLease(*Current(), caller->user, lease);
}

absl::Status Authority::CheckAdmin(const grpc::ServerContextBase& c) const {
  auto caller = Identify(c);
  if (!caller.ok()) return caller.status();
  return auth::CheckAdmin(*Current()->state, caller->user);
}

absl::StatusOr<std::string> Authority::Authenticate(absl::string_view name, absl::string_view password) const {
  const auto snap = Current();
  const cairnpb::AuthState& state = *snap->state;
  if (!state.enabled()) return server::ErrAuthNotEnabled();
  const cairnpb::AuthUser* user = FindUser(state, name);
  if (user == nullptr) return server::ErrAuthFailed();
  if (user->no_password()) return server::ErrNoPasswordUser();
  if (!VerifyPassword(user->password(), password)) return server::ErrAuthFailed();
  const int64_t now = options_.now_unix ? options_.now_unix() : SystemNowUnix();
  TokenClaims claims;
  claims.user = std::string(name);
  claims.expires_unix = now + options_.token_ttl_seconds;
  claims.password_revision = user->password_revision();
  return IssueToken(state.token_key(), claims);
}

}  // namespace cairn::auth
