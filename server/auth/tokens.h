// Auth tokens that every member can check without shared session state.
//
// A token names the user, its expiry (unix seconds) and the auth revision at which the user's
// password was last set, signed with HMAC-SHA256 under the token key of the replicated auth state:
//   "cairn1.<hex user>.<expiry>.<password revision>.<hex mac>"
// The key is replaced each time auth is enabled, so tokens die with a disable/enable; a new
// password (or deleting the user) changes what the token must match (see Authority::Identify).
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cairn::auth {

struct TokenClaims {
  std::string user;
  int64_t expires_unix = 0;
  uint64_t password_revision = 0;
};

std::string IssueToken(absl::string_view key, const TokenClaims& claims);
// The claims of a token signed with `key` that has not expired at `now_unix`; otherwise
// ErrInvalidAuthToken (malformed, wrong signature, expired).
absl::StatusOr<TokenClaims> VerifyToken(absl::string_view key, absl::string_view token, int64_t now_unix);

}  // namespace cairn::auth
