#include "server/auth/tokens.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/errors.h"

namespace cairn::auth {
namespace {

constexpr char kVersion[] = "cairn1";

std::string Mac(absl::string_view key, absl::string_view text) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(text.data()),
           text.size(), out, &len) == nullptr) {
    return std::string();
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

}  // namespace

std::string IssueToken(absl::string_view key, const TokenClaims& claims) {
  std::string body = absl::StrCat(kVersion, ".", absl::BytesToHexString(claims.user), ".", claims.expires_unix, ".",
                                  claims.password_revision);
  const std::string mac = Mac(key, body);
  return absl::StrCat(body, ".", absl::BytesToHexString(mac));
}

absl::StatusOr<TokenClaims> VerifyToken(absl::string_view key, absl::string_view token, int64_t now_unix) {
  const size_t last_dot = token.rfind('.');
  if (key.empty() || last_dot == absl::string_view::npos) return server::ErrInvalidAuthToken();
  const absl::string_view body = token.substr(0, last_dot);
  const absl::string_view mac_hex = token.substr(last_dot + 1);
  const std::string expected = Mac(key, body);
  const std::string mac = absl::HexStringToBytes(mac_hex);
  if (expected.empty() || mac.size() != expected.size() ||
      absl::BytesToHexString(mac) != absl::AsciiStrToLower(mac_hex) ||
      CRYPTO_memcmp(mac.data(), expected.data(), mac.size()) != 0) {
    return server::ErrInvalidAuthToken();
  }
  std::vector<absl::string_view> parts = absl::StrSplit(body, '.');
  TokenClaims claims;
  if (parts.size() != 4 || parts[0] != kVersion || !absl::SimpleAtoi(parts[2], &claims.expires_unix) ||
      !absl::SimpleAtoi(parts[3], &claims.password_revision)) {
    return server::ErrInvalidAuthToken();
  }
  claims.user = absl::HexStringToBytes(parts[1]);
  if (claims.expires_unix <= now_unix) return server::ErrInvalidAuthToken();
  return claims;
}

}  // namespace cairn::auth
