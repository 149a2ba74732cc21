// cairn::auth::Authority — this member's read side of the replicated auth state: who is calling,
// and may they do this. Every service asks it before acting on a request.
//
// Cost when auth is disabled: one atomic load (enabled()) and a look for a token in the call's
// metadata (see Identity below). When enabled, a check copies a shared pointer to the current snapshot under a mutex and
// looks the user's merged key ranges up in it.
//
// Identity (etcd's order): gRPC metadata "token" (or "authorization") — a token that does not
// verify fails with ErrInvalidAuthToken; else, when the connection carries a verified TLS client
// certificate, its Common Name (auth context property "x509_common_name"); else no user ("").
// While auth is disabled no token is valid: etcd drops every simple token when auth is disabled and
// issues none until it is enabled again, so it refuses any call that sends one with
// ErrInvalidAuthToken (clients then authenticate again, learn that auth is off and send none).
//
// Thread model: Load() is called by one thread at a time (start-up, then the write pipeline's
// round after each commit that changed auth, or after a store image replaced the store); every
// other method is safe from any thread concurrently with it.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cairnpb/internal.pb.h"
#include "etcdserverpb/rpc.pb.h"
#include "server/auth/permissions.h"

namespace cairn::auth {

struct AuthorityOptions {
  int64_t token_ttl_seconds = 300;  // --auth-token-ttl
  // Wall clock in unix seconds (tests replace it).
  std::function<int64_t()> now_unix;
  // Keys attached to a lease, for Put with a lease and LeaseRevoke (write needed on each). May be
  // unset: then leases' keys are not checked.
  std::function<std::vector<std::string>(int64_t lease)> lease_keys;
};

// What Identify() found. `user` empty: no credentials.
struct Caller {
  std::string user;
};

class Authority {
 public:
  explicit Authority(AuthorityOptions options);

  // Replaces the snapshot with the stored state `blob` ("" = never written).
  absl::Status Load(absl::string_view blob);

  bool enabled() const { return enabled_.load(std::memory_order_acquire); }
  uint64_t revision() const;
  // A copy of the whole state (users with hashes, roles): for the Auth service's reads.
  std::shared_ptr<const cairnpb::AuthState> State() const;

  // The caller of a request (see the file comment). Errors: ErrInvalidAuthToken.
  absl::StatusOr<Caller> Identify(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
                                  const grpc::AuthContext* auth_context) const;
  absl::StatusOr<Caller> Identify(const grpc::ServerContextBase& context) const;
  // Identify() while auth is enabled; while it is disabled, no user, or ErrInvalidAuthToken if the
  // call sends a token.
  absl::StatusOr<Caller> IdentifyAnyState(const grpc::ServerContextBase& context) const;
  // For calls while auth is disabled: ErrInvalidAuthToken if the call sends a token, else OK.
  static absl::Status RefuseToken(const grpc::ServerContextBase& context);

  // Checks by request kind; while auth is disabled, only RefuseToken(). etcd's errors: ErrUserEmpty
  // (no credentials), ErrInvalidAuthToken, ErrPermissionDenied, and for admin ErrUserNotFound.
  absl::Status AuthorizeRange(const grpc::ServerContextBase& c, const etcdserverpb::RangeRequest& r) const {
    return enabled() ? CheckRange(c, r) : RefuseToken(c);
  }
  absl::Status AuthorizePut(const grpc::ServerContextBase& c, const etcdserverpb::PutRequest& r) const {
    return enabled() ? CheckPut(c, r) : RefuseToken(c);
  }
  absl::Status AuthorizeDeleteRange(const grpc::ServerContextBase& c, const etcdserverpb::DeleteRangeRequest& r) const {
    return enabled() ? CheckDeleteRange(c, r) : RefuseToken(c);
  }
  absl::Status AuthorizeTxn(const grpc::ServerContextBase& c, const etcdserverpb::TxnRequest& r) const {
    return enabled() ? CheckTxn(c, r) : RefuseToken(c);
  }
  absl::Status AuthorizeWatch(const grpc::ServerContextBase& c, const etcdserverpb::WatchCreateRequest& r) const {
    return enabled() ? CheckWatch(c, r) : RefuseToken(c);
  }
  absl::Status AuthorizeLeaseRevoke(const grpc::ServerContextBase& c, int64_t lease) const {
    return enabled() ? CheckLeaseRevoke(c, lease) : RefuseToken(c);
  }
  // Root only (Defragment, Snapshot, Hash, HashKV, member changes).
  absl::Status AuthorizeAdmin(const grpc::ServerContextBase& c) const {
    return enabled() ? CheckAdmin(c) : RefuseToken(c);
  }
  // Any caller whose token (if it sent one) is valid: what etcd 3.4 asks of Compact, Alarm and
  // LeaseGrant.
  absl::Status AuthorizeAnyCaller(const grpc::ServerContextBase& c) const {
    return enabled() ? Identify(c).status() : RefuseToken(c);
  }

  // The same checks for an identified user (used by the above, the Auth service and tests).
  absl::Status CheckKeys(absl::string_view user, absl::string_view key, absl::string_view range_end, bool write) const;

  // Verifies `password` (slow: PBKDF2; call off gRPC's callback threads) and issues a token.
  // Errors: ErrAuthNotEnabled, ErrAuthFailed, ErrNoPasswordUser.
  absl::StatusOr<std::string> Authenticate(absl::string_view name, absl::string_view password) const;

 private:
  struct UserView {
    bool root = false;
    uint64_t password_revision = 0;
    KeyPermissions permissions;
  };
  struct Snapshot {
    std::shared_ptr<const cairnpb::AuthState> state;
    std::map<std::string, UserView, std::less<>> users;
  };

  std::shared_ptr<const Snapshot> Current() const;
  absl::Status CheckKeysIn(const Snapshot& snap, absl::string_view user, absl::string_view key,
                           absl::string_view range_end, bool write) const;
  absl::Status CheckRange(const grpc::ServerContextBase& c, const etcdserverpb::RangeRequest& r) const;
  absl::Status CheckPut(const grpc::ServerContextBase& c, const etcdserverpb::PutRequest& r) const;
  absl::Status CheckDeleteRange(const grpc::ServerContextBase& c, const etcdserverpb::DeleteRangeRequest& r) const;
  absl::Status CheckTxn(const grpc::ServerContextBase& c, const etcdserverpb::TxnRequest& r) const;
  absl::Status CheckWatch(const grpc::ServerContextBase& c, const etcdserverpb::WatchCreateRequest& r) const;
  absl::Status CheckLeaseRevoke(const grpc::ServerContextBase& c, int64_t lease) const;
  absl::Status CheckAdmin(const grpc::ServerContextBase& c) const;
  absl::Status CheckLease(const Snapshot& snap, absl::string_view user, int64_t lease) const;
  absl::Status CheckTxnOps(const Snapshot& snap, absl::string_view user,
                           const google::protobuf::RepeatedPtrField<etcdserverpb::RequestOp>& ops) const;

  const AuthorityOptions options_;
  std::atomic<bool> enabled_{false};
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_;  // guarded by mu_ (the pointer; the snapshot is immutable)
};

}  // namespace cairn::auth
