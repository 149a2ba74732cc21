// The replicated auth state (cairnpb::AuthState): lookups and the one function that applies a
// logged change to it. Every member applies the same changes in log order, so every member holds
// the same users, roles, revision and token key. Pure functions over the message; the caller
// owns synchronization (the applier runs on the writer thread only).
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cairnpb/internal.pb.h"
#include "google/protobuf/message.h"
#include "mvcc/write_batch.h"

namespace cairn::auth {

inline constexpr char kRootUser[] = "root";
inline constexpr char kRootRole[] = "root";

const cairnpb::AuthUser* FindUser(const cairnpb::AuthState& state, absl::string_view name);
const authpb::Role* FindRole(const cairnpb::AuthState& state, absl::string_view name);
bool HasRole(const cairnpb::AuthUser& user, absl::string_view role);

// Whether `user` may manage auth (etcd's admin check): anyone while auth is disabled; otherwise a
// user holding the root role. Errors: ErrUserEmpty (no user), ErrUserNotFound, ErrPermissionDenied.
absl::Status CheckAdmin(const cairnpb::AuthState& state, absl::string_view user);

// Applies `request` (admin check included) to `state`; on error `state` is unchanged. Changes that
// alter something bump state.revision, as etcd's auth revision. etcd's errors throughout.
absl::Status ApplyAuthChange(cairnpb::AuthState* state, const cairnpb::AuthRequest& request);

// The applier's entry: reads the state from `batch`, applies, writes it back in the same
// transaction. `response` is the etcdserverpb response matching the change (or null); its header
// gets the store revision.
absl::Status ApplyAuthRequest(mvcc::WriteBatch* batch, const cairnpb::AuthRequest& request,
                              google::protobuf::Message* response);

// The auth revision of a stored state (0 for "").
absl::StatusOr<uint64_t> AuthRevisionOf(absl::string_view blob);

// Decodes a stored state ("" is the empty state of a store that never had auth).
absl::Status ParseAuthState(absl::string_view blob, cairnpb::AuthState* state);

}  // namespace cairn::auth
