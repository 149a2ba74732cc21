// cairn::tls — TLS for cairnd's gRPC listeners and for the channels members open to each other.
//
// Start-up reads the PEM files named by the flags (LoadTlsMaterial) and checks them, so a bad file
// stops cairnd with its name. The credentials then re-read the files every `reload_seconds`
// (gRPC's file-watcher certificate provider): renewed certificates, keys and CA bundles apply to
// new connections without a restart; established connections keep what they were made with. A
// renewal gRPC cannot read (half-written, key not matching) is logged by gRPC and the previous
// files stay in use. --auto-tls writes a self-signed certificate under the data dir
// (SelfSignedFiles) and turns verification of the other side off, as etcd does.
//
// Errors: absl::Status naming the flag and the file that failed (missing, unreadable, not PEM of the
// expected kind, key not matching the certificate). Nothing here throws or aborts.
// Thread safety: every function is thread-safe; TlsMaterial is plain immutable data.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/tls/tls_files.h"

namespace cairn::tls {

// The checked contents of one listener family's TLS files.
inline constexpr unsigned kDefaultReloadSeconds = 10;

struct TlsMaterial {
  TlsFiles files;           // where the material came from (re-read by the credentials)
  std::string flag_prefix;  // "" (client flags) or "peer-": names flags in logs
  std::string cert_chain;   // PEM; empty: this side presents no certificate
  std::string private_key;  // PEM; set exactly when cert_chain is
  std::string trusted_ca;   // PEM; empty: the system's roots
  bool require_client_cert = false;  // listeners: the other side must present a verified certificate
  bool verify_other_side = true;     // false with auto-tls: no verification of the other side at all
};

// Reads and checks `files`. `flag_prefix` is "" for the client flags and "peer-" for the peer flags,
// so errors name the flag the user wrote ("--peer-key-file /x/y.key: ..."). With no key pair and
// auto_tls, returns no material: call SelfSignedFiles first and load what it returns.
absl::StatusOr<TlsMaterial> LoadTlsMaterial(const TlsFiles& files, const std::string& flag_prefix);

// --auto-tls: <dir>/cert.pem and <dir>/key.pem, created (dir included, key mode 0600) unless both
// exist already, self-signed for `hosts` (IP literals and DNS names; e.g. the listen URLs' hosts)
// with server and client usage. The result has auto_tls set, so the loaded material does not
// verify the other side and does not require client certificates.
absl::StatusOr<TlsFiles> SelfSignedFiles(const std::string& dir, const std::vector<std::string>& hosts);

// What one listener family runs with: the files' material when a key pair is given; else, with
// auto_tls and `needs_key_pair`, a self-signed pair made (or reused) in `auto_tls_dir` for `hosts`;
// else the trusted CA alone (for dialing) when given; else nothing (https is then dialed against
// the system's roots, and no https listener is allowed: server/config checks that).
absl::StatusOr<std::optional<TlsMaterial>> ResolveTls(const TlsFiles& files, const std::string& flag_prefix,
                                                      bool needs_key_pair, const std::string& auto_tls_dir,
                                                      const std::vector<std::string>& hosts);

// Credentials for a gRPC listener. Needs a key pair. The files' CRL and allowed names
// (cert_policy.h) apply to the certificates clients present; a refused one fails its handshake and
// is logged ("cairnd: rejected a client certificate: <reason>").
std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const TlsMaterial& material,
                                                               unsigned reload_seconds = kDefaultReloadSeconds);

// Credentials for dialing an https:// URL: verifies the server against trusted_ca (with the URL's
// host) unless verify_other_side is false; presents the key pair if there is one. The files'
// allowed names apply to the server's certificate too (as etcd checks both directions between
// peers); the CRL does not (etcd checks it on its listeners only).
std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const TlsMaterial& material,
                                                                 unsigned reload_seconds = kDefaultReloadSeconds);

// The common name (CN) of the certificate the caller presented and the listener verified, or
// nullopt on a plaintext connection, an in-process call or a connection without a client
// certificate. For authentication by certificate (etcd uses the CN as the user name). A listener
// asks for a client certificate only when it verifies it (MakeServerCredentials), so a CN found
// here always comes from a verified chain.
std::optional<std::string> ClientCommonName(const grpc::ServerContextBase& context);
// The same, from a call's auth context (null: none).
std::optional<std::string> ClientCommonName(const grpc::AuthContext* auth);

}  // namespace cairn::tls
