// What the TLS flags of one listener family say (client: --cert-file ...; peer: --peer-cert-file ...).
// Plain data with no dependencies, so the flag parser (server/config) can hold it.
#pragma once

#include <string>

namespace cairn::tls {

struct TlsFiles {
  std::string cert_file;        // PEM certificate chain this side presents
  std::string key_file;         // PEM private key of cert_file
  std::string trusted_ca_file;  // PEM CA bundle the other side's certificate must chain to
  // Listeners require and verify the other side's certificate. As in etcd 3.4, giving
  // trusted_ca_file alone has the same effect.
  bool client_cert_auth = false;
  // No files given: generate a self-signed certificate under the data dir at start-up and do not
  // verify the other side (etcd's --auto-tls / --peer-auto-tls). Ignored when files are given.
  bool auto_tls = false;
  // Checks of the other side's verified certificate beyond its chain (server/tls/cert_policy.h).
  std::string crl_file;          // --client-crl-file / --peer-crl-file: listeners refuse revoked certificates
  std::string allowed_cn;        // --peer-cert-allowed-cn: the peer's certificate must have this CN...
  std::string allowed_hostname;  // --client-cert-allowed-hostname / --peer-cert-allowed-hostname: ...or cover this host

  bool HasKeyPair() const { return !cert_file.empty() || !key_file.empty(); }
  bool RequiresClientCert() const { return client_cert_auth || !trusted_ca_file.empty(); }
  bool HasNameRule() const { return !allowed_cn.empty() || !allowed_hostname.empty(); }
};

}  // namespace cairn::tls
