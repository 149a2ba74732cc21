#include "server/tls/cipher_suites.h"

#include <cstdlib>
#include <map>
#include <memory>
#include <vector>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace cairn::tls {
namespace {

// The suites etcd 3.4 accepts by name, with the IANA suite's OpenSSL name.
const std::map<std::string, std::string>& EtcdSuites() {
  static const auto* suites = new std::map<std::string, std::string>{
      {"TLS_RSA_WITH_RC4_128_SHA", "RC4-SHA"},
      {"TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA"},
      {"TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"},
      {"TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"},
      {"TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256"},
      {"TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"},
      {"TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"},
      {"TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", "ECDHE-ECDSA-RC4-SHA"},
      {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"},
      {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"},
      {"TLS_ECDHE_RSA_WITH_RC4_128_SHA", "ECDHE-RSA-RC4-SHA"},
      {"TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "ECDHE-RSA-DES-CBC3-SHA"},
      {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"},
      {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"},
      {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256"},
      {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256"},
      {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
      {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"},
      {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"},
      {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"},
      {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"},
      {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305"},
  };
  return *suites;
}

struct CtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};

// Whether this process's OpenSSL, at its default security level, offers `openssl_name`.
bool Available(const std::string& openssl_name) {
  std::unique_ptr<SSL_CTX, CtxFree> ctx(SSL_CTX_new(TLS_method()));
  const bool ok = ctx != nullptr && SSL_CTX_set_cipher_list(ctx.get(), openssl_name.c_str()) == 1;
  ERR_clear_error();
  return ok;
}

}  // namespace

absl::StatusOr<std::string> OpenSslCipherList(const std::string& etcd_names) {
  std::vector<std::string> openssl_names;
  for (absl::string_view part : absl::StrSplit(etcd_names, ',')) {
    const std::string name(absl::StripAsciiWhitespace(part));
    auto found = EtcdSuites().find(name);
    if (found == EtcdSuites().end()) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected TLS cipher suite \"", name, "\""));
    }
    if (!Available(found->second)) {
      return absl::InvalidArgumentError(absl::StrCat("--cipher-suites: ", name, " (OpenSSL ", found->second,
                                                     ") is not available in this build's OpenSSL"));
    }
    openssl_names.push_back(found->second);
  }
  return absl::StrJoin(openssl_names, ":");
}

void UseCipherSuites(const std::string& openssl_list) {
  ::setenv("GRPC_SSL_CIPHER_SUITES", openssl_list.c_str(), /*overwrite=*/1);
}

}  // namespace cairn::tls
