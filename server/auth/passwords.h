// Password hashing for the auth state: PBKDF2-HMAC-SHA256 (OpenSSL) with a 16-byte random salt.
// Plaintext passwords never leave the member that received them: it hashes, then proposes the hash.
//
// Cost: HashPassword and VerifyPassword take tens of milliseconds at the default iteration count
// (on purpose: it slows guessing). Call them off gRPC's callback threads (auth::HashWorker).
// Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "cairnpb/internal.pb.h"

namespace cairn::auth {

inline constexpr uint32_t kDefaultPasswordIterations = 100000;

cairnpb::PasswordHash HashPassword(absl::string_view password, uint32_t iterations = kDefaultPasswordIterations);
// True when `password` hashes to `stored` (constant-time comparison). A hash with no salt or no
// iterations never matches.
bool VerifyPassword(const cairnpb::PasswordHash& stored, absl::string_view password);

// `n` bytes from OpenSSL's CSPRNG. Aborts if the generator fails: no key or salt may be guessable.
std::string RandomBytes(size_t n);

}  // namespace cairn::auth
