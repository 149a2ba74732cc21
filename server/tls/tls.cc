#include "server/tls/tls.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/tls/cert_policy.h"
#include "server/tls/openssl_ptrs.h"

namespace cairn::tls {
namespace {

// OpenSSL keeps its reasons on a per-thread queue; the oldest one is the cause, the rest noise.
std::string OpenSslReason() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

// Every certificate in a PEM bundle; an error when there is none.
absl::StatusOr<std::vector<X509Ptr>> ParseCertificates(const std::string& flag, const std::string& path,
                                                      const std::string& pem) {
  ERR_clear_error();
  BioPtr bio = MemoryBio(pem);
  std::vector<X509Ptr> certs;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) certs.emplace_back(cert);
  ERR_clear_error();  // the loop ends on "no start line", which is not a failure
  if (certs.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, " ", path, ": no PEM certificate found (want \"-----BEGIN CERTIFICATE-----\")"));
  }
  return certs;
}

absl::StatusOr<KeyPtr> ParseKey(const std::string& flag, const std::string& path, const std::string& pem) {
  ERR_clear_error();
  BioPtr bio = MemoryBio(pem);
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " ", path,
                                                   ": no unencrypted PEM private key found (", OpenSslReason(), ")"));
  }
  return key;
}

bool IsIpLiteral(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

absl::Status AddExtension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return absl::InternalError(absl::StrCat("certificate extension ", value, ": ", OpenSslReason()));
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return absl::OkStatus();
}

std::string CrlFlag(const std::string& flag_prefix) {
  return flag_prefix.empty() ? "client-crl-file" : flag_prefix + "crl-file";
}

absl::Status WritePem(const std::string& path, mode_t mode, const std::function<int(BIO*)>& write) {
  const std::string temp = path + ".tmp";
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("cannot create ", temp, ": ", std::strerror(errno)));
  BioPtr mem(BIO_new(BIO_s_mem()));
  if (write(mem.get()) != 1) {
    ::close(fd);
    return absl::InternalError(absl::StrCat("cannot encode ", path, ": ", OpenSslReason()));
  }
  char* data = nullptr;
  long size = BIO_get_mem_data(mem.get(), &data);
  bool ok = ::write(fd, data, static_cast<size_t>(size)) == size && ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok || ::rename(temp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot write ", path, ": ", std::strerror(ok ? errno : saved)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TlsMaterial> LoadTlsMaterial(const TlsFiles& files, const std::string& flag_prefix) {
  const std::string cert_flag = flag_prefix + "cert-file";
  const std::string key_flag = flag_prefix + "key-file";
  const std::string ca_flag = flag_prefix + "trusted-ca-file";
  TlsMaterial material;
  material.files = files;
  material.flag_prefix = flag_prefix;
  material.verify_other_side = !files.auto_tls;
  material.require_client_cert = files.RequiresClientCert() && !files.auto_tls;
  if (files.cert_file.empty() != files.key_file.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--", cert_flag, " and --", key_flag, " must be given together"));
  }
  if (!files.cert_file.empty()) {
    auto cert_pem = ReadFlagFile(cert_flag, files.cert_file);
    if (!cert_pem.ok()) return cert_pem.status();
    auto certs = ParseCertificates(cert_flag, files.cert_file, *cert_pem);
    if (!certs.ok()) return certs.status();
    auto key_pem = ReadFlagFile(key_flag, files.key_file);
    if (!key_pem.ok()) return key_pem.status();
    auto key = ParseKey(key_flag, files.key_file, *key_pem);
    if (!key.ok()) return key.status();
    ERR_clear_error();
    if (X509_check_private_key(certs->front().get(), key->get()) != 1) {
      ERR_clear_error();
      return absl::InvalidArgumentError(absl::StrCat("--", key_flag, " ", files.key_file,
                                                     ": the private key does not match the certificate in --",
                                                     cert_flag, " ", files.cert_file));
    }
    material.cert_chain = std::move(*cert_pem);
    material.private_key = std::move(*key_pem);
  }
  if (!files.trusted_ca_file.empty()) {
    auto ca_pem = ReadFlagFile(ca_flag, files.trusted_ca_file);
    if (!ca_pem.ok()) return ca_pem.status();
    auto certs = ParseCertificates(ca_flag, files.trusted_ca_file, *ca_pem);
    if (!certs.ok()) return certs.status();
    material.trusted_ca = std::move(*ca_pem);
  }
  if (!files.crl_file.empty()) {
    if (auto s = CheckCrlFile(CrlFlag(flag_prefix), files.crl_file); !s.ok()) return s;
  }
  return material;
}

absl::StatusOr<TlsFiles> SelfSignedFiles(const std::string& dir, const std::vector<std::string>& hosts) {
  TlsFiles files;
  files.cert_file = (std::filesystem::path(dir) / "cert.pem").string();
  files.key_file = (std::filesystem::path(dir) / "key.pem").string();
  files.auto_tls = true;
  std::error_code ec;
  if (std::filesystem::exists(files.cert_file, ec) && std::filesystem::exists(files.key_file, ec)) return files;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("cannot create ", dir, ": ", ec.message()));

  ERR_clear_error();
  KeyPtr key(EVP_EC_gen("P-256"));
  if (key == nullptr) return absl::InternalError(absl::StrCat("cannot generate a key: ", OpenSslReason()));
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);  // v3, for the extensions
  unsigned char serial_bytes[16];
  if (RAND_bytes(serial_bytes, sizeof(serial_bytes)) != 1) {
    return absl::InternalError(absl::StrCat("cannot draw a serial number: ", OpenSslReason()));
  }
  serial_bytes[0] &= 0x7f;  // a positive serial
  BIGNUM* serial = BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr);
  BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert.get()));
  BN_free(serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 365L * 24 * 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("cairn"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509_set_pubkey(cert.get(), key.get());
  std::vector<std::string> names;
  for (const std::string& host : hosts) {
    std::string bare = host;
    if (bare.size() > 2 && bare.front() == '[' && bare.back() == ']') bare = bare.substr(1, bare.size() - 2);
    if (bare.empty()) continue;
    names.push_back(absl::StrCat(IsIpLiteral(bare) ? "IP:" : "DNS:", bare));
  }
  if (!names.empty()) {
    if (auto s = AddExtension(cert.get(), NID_subject_alt_name, absl::StrJoin(names, ",")); !s.ok()) return s;
  }
  if (auto s = AddExtension(cert.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment"); !s.ok()) return s;
  if (auto s = AddExtension(cert.get(), NID_ext_key_usage, "serverAuth,clientAuth"); !s.ok()) return s;
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    return absl::InternalError(absl::StrCat("cannot sign the self-signed certificate: ", OpenSslReason()));
  }
  EVP_PKEY* raw_key = key.get();
  X509* raw_cert = cert.get();
  if (auto s = WritePem(files.key_file, 0600, [raw_key](BIO* bio) {
        return PEM_write_bio_PrivateKey(bio, raw_key, nullptr, nullptr, 0, nullptr, nullptr);
      });
      !s.ok()) {
    return s;
  }
  if (auto s = WritePem(files.cert_file, 0644, [raw_cert](BIO* bio) { return PEM_write_bio_X509(bio, raw_cert); });
      !s.ok()) {
    return s;
  }
  return files;
}

absl::StatusOr<std::optional<TlsMaterial>> ResolveTls(const TlsFiles& files, const std::string& flag_prefix,
                                                      bool needs_key_pair, const std::string& auto_tls_dir,
                                                      const std::vector<std::string>& hosts) {
  TlsFiles chosen = files;
  if (files.HasKeyPair()) {
    chosen.auto_tls = false;  // etcd too ignores auto-tls when files are given
  } else if (files.auto_tls && needs_key_pair) {
    auto generated = SelfSignedFiles(auto_tls_dir, hosts);
    if (!generated.ok()) {
      return absl::Status(generated.status().code(),
                          absl::StrCat("--", flag_prefix, "auto-tls: ", generated.status().message()));
    }
    chosen = *generated;
  } else if (files.trusted_ca_file.empty()) {
    return std::optional<TlsMaterial>();
  }
  auto material = LoadTlsMaterial(chosen, flag_prefix);
  if (!material.ok()) return material.status();
  return std::optional<TlsMaterial>(std::move(*material));
}

namespace {

// gRPC's file watcher serves roots only from a file; with no CA file (the system's roots) the
// credentials are built from the bytes read at start-up instead, and are not reloaded.
bool CanWatchFiles(const TlsMaterial& material, bool needs_roots) {
  return !material.files.auto_tls && (!needs_roots || !material.files.trusted_ca_file.empty());
}

std::shared_ptr<grpc::experimental::CertificateProviderInterface> FileWatcher(const TlsMaterial& material,
                                                                           unsigned reload_seconds) {
  return std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      material.files.key_file, material.files.cert_file, material.files.trusted_ca_file, reload_seconds);
}

// Runs after gRPC has verified the chain (and, when dialing, after `first`, the host-name check):
// applies the CRL and allowed names. Synchronous: the CRL is a local file, cached.
class PolicyVerifier : public grpc::experimental::ExternalCertificateVerifier {
 public:
  PolicyVerifier(std::shared_ptr<CertPolicy> policy, std::string whose,
                 std::shared_ptr<grpc::experimental::CertificateVerifier> first)
      : policy_(std::move(policy)), whose_(std::move(whose)), first_(std::move(first)) {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request, std::function<void(grpc::Status)>,
              grpc::Status* sync_status) override {
    if (first_ != nullptr) {
      grpc::Status first_status;
      // The host-name verifier always answers synchronously.
      if (first_->Verify(request, [](grpc::Status) {}, &first_status) && !first_status.ok()) {
        *sync_status = first_status;
        return true;
      }
    }
    // The leaf first (DescribeChain reads names from the first certificate), then the verified
    // chain gRPC built, whose order is not the leaf's first: every serial there is checked too.
    grpc::string_ref leaf = request->peer_cert();
    grpc::string_ref rest = request->peer_cert_full_chain();
    absl::Status verdict;
    auto chain = DescribeChain(absl::StrCat(absl::string_view(leaf.data(), leaf.size()), "\n",
                                            absl::string_view(rest.data(), rest.size())));
    verdict = chain.ok() ? policy_->Check(*chain) : chain.status();
    if (!verdict.ok()) {
      std::fprintf(stderr, "cairnd: rejected a %s certificate: %s\n", whose_.c_str(),
                   std::string(verdict.message()).c_str());
      *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(verdict.message()));
    } else {
      *sync_status = grpc::Status::OK;
    }
    return true;
  }

  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {}

 private:
  const std::shared_ptr<CertPolicy> policy_;
  const std::string whose_;
  const std::shared_ptr<grpc::experimental::CertificateVerifier> first_;
};

// The policy the material's files ask for, on a listener (`listening`) or a dial; null if none.
std::shared_ptr<CertPolicy> PolicyFor(const TlsMaterial& material, bool listening) {
  CertRules rules;
  rules.crl_flag = CrlFlag(material.flag_prefix);
  if (listening) rules.crl_file = material.files.crl_file;
  rules.allowed_cn = material.files.allowed_cn;
  rules.allowed_hostname = material.files.allowed_hostname;
  if (rules.Empty() || !material.verify_other_side) return nullptr;
  return std::make_shared<CertPolicy>(std::move(rules));
}

std::string Whose(const TlsMaterial& material, bool listening) {
  const bool peer = !material.flag_prefix.empty();
  if (listening) return peer ? "peer's client" : "client";
  return "peer's server";
}

}  // namespace

std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const TlsMaterial& material, unsigned reload_seconds) {
  const grpc_ssl_client_certificate_request_type request =
      material.require_client_cert ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                   : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  if (CanWatchFiles(material, material.require_client_cert)) {
    grpc::experimental::TlsServerCredentialsOptions options(FileWatcher(material, reload_seconds));
    options.watch_identity_key_cert_pairs();
    if (!material.files.trusted_ca_file.empty()) options.watch_root_certs();
    options.set_cert_request_type(request);
    if (auto policy = PolicyFor(material, /*listening=*/true); policy != nullptr && material.require_client_cert) {
      options.set_certificate_verifier(grpc::experimental::ExternalCertificateVerifier::Create<PolicyVerifier>(
          policy, Whose(material, true), nullptr));
    }
    return grpc::experimental::TlsServerCredentials(options);
  }
  grpc::SslServerCredentialsOptions options(request);
  options.pem_root_certs = material.trusted_ca;
  options.pem_key_cert_pairs.push_back({material.private_key, material.cert_chain});
  return grpc::SslServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const TlsMaterial& material, unsigned reload_seconds) {
  if (material.verify_other_side && CanWatchFiles(material, /*needs_roots=*/true)) {
    grpc::experimental::TlsChannelCredentialsOptions options;
    options.set_certificate_provider(FileWatcher(material, reload_seconds));
    options.watch_root_certs();
    if (!material.files.cert_file.empty()) options.watch_identity_key_cert_pairs();
    options.set_verify_server_certs(true);
    // The server's certificate must name the host dialed (its IP or DNS name), as with SslCredentials.
    auto host_name = std::make_shared<grpc::experimental::HostNameCertificateVerifier>();
    if (auto policy = PolicyFor(material, /*listening=*/false); policy != nullptr) {
      options.set_certificate_verifier(grpc::experimental::ExternalCertificateVerifier::Create<PolicyVerifier>(
          policy, Whose(material, false), host_name));
    } else {
      options.set_certificate_verifier(host_name);
    }
    return grpc::experimental::TlsCredentials(options);
  }
  if (material.verify_other_side) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = material.trusted_ca;
    options.pem_private_key = material.private_key;
    options.pem_cert_chain = material.cert_chain;
    return grpc::SslCredentials(options);
  }
  // Self-signed on both ends (auto-tls): encryption only, as etcd's auto-tls.
  grpc::experimental::TlsChannelCredentialsOptions options;
  if (!material.cert_chain.empty()) {
    options.set_certificate_provider(std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
        std::vector<grpc::experimental::IdentityKeyCertPair>{{material.private_key, material.cert_chain}}));
    options.watch_identity_key_cert_pairs();
  }
  options.set_verify_server_certs(false);
  options.set_check_call_host(false);
  options.set_certificate_verifier(std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
  return grpc::experimental::TlsCredentials(options);
}

std::optional<std::string> ClientCommonName(const grpc::ServerContextBase& context) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  return ClientCommonName(auth.get());
}

std::optional<std::string> ClientCommonName(const grpc::AuthContext* auth) {
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return std::nullopt;
  std::vector<grpc::string_ref> names = auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME);
  if (names.empty()) return std::nullopt;
  return std::string(names.front().data(), names.front().size());
}

}  // namespace cairn::tls
