#include "server/auth/passwords.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>

namespace cairn::auth {
namespace {

constexpr size_t kSaltBytes = 16;
constexpr size_t kHashBytes = 32;

std::string Derive(absl::string_view password, absl::string_view salt, uint32_t iterations) {
  std::string out(kHashBytes, '\0');
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()),
                        static_cast<int>(iterations), EVP_sha256(), static_cast<int>(out.size()),
                        reinterpret_cast<unsigned char*>(out.data())) != 1) {
    return std::string();
  }
  return out;
}

}  // namespace

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    std::fprintf(stderr, "cairnd: the random number generator failed\n");
    std::abort();
  }
  return out;
}

cairnpb::PasswordHash HashPassword(absl::string_view password, uint32_t iterations) {
  cairnpb::PasswordHash h;
  h.set_salt(RandomBytes(kSaltBytes));
  h.set_iterations(iterations);
  h.set_hash(Derive(password, h.salt(), iterations));
  return h;
}

bool VerifyPassword(const cairnpb::PasswordHash& stored, absl::string_view password) {
  if (stored.salt().empty() || stored.iterations() == 0 || stored.hash().size() != kHashBytes) return false;
  const std::string derived = Derive(password, stored.salt(), stored.iterations());
  return derived.size() == kHashBytes && CRYPTO_memcmp(derived.data(), stored.hash().data(), kHashBytes) == 0;
}

}  // namespace cairn::auth
