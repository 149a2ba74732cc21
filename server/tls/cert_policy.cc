#include "server/tls/cert_policy.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/tls/openssl_ptrs.h"

namespace cairn::tls {
namespace {

// One form for serials on both sides of the comparison: OpenSSL's hex of the integer.
std::string SerialText(const ASN1_INTEGER* serial) {
  BignumPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (bn == nullptr) return "";
  char* hex = BN_bn2hex(bn.get());
  std::string text = hex == nullptr ? "" : hex;
  OPENSSL_free(hex);
  return text;
}

std::string IpText(const ASN1_OCTET_STRING* ip) {
  char text[INET6_ADDRSTRLEN] = {};
  const int family = ip->length == 4 ? AF_INET : ip->length == 16 ? AF_INET6 : 0;
  if (family == 0 || inet_ntop(family, ip->data, text, sizeof(text)) == nullptr) return "";
  return text;
}

// Binary form of an IP literal (v4-mapped v6 compares equal to v4, as Go's IP.Equal does).
bool ParseIp(const std::string& text, unsigned char out[16]) {
  unsigned char v4[4];
  if (inet_pton(AF_INET, text.c_str(), v4) == 1) {
    std::memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    std::memcpy(out + 12, v4, 4);
    return true;
  }
  return inet_pton(AF_INET6, text.c_str(), out) == 1;
}

std::string TrimDot(std::string name) {
  if (!name.empty() && name.back() == '.') name.pop_back();
  return name;
}

// A DNS SAN `pattern` against `host` (both lower case, trailing dot trimmed): same number of
// labels, none empty, each equal, except that a leftmost "*" in the pattern covers any one label.
bool MatchesPattern(const std::string& pattern, const std::string& host) {
  if (pattern.empty() || host.empty()) return false;
  std::vector<std::string> want = absl::StrSplit(pattern, '.');
  std::vector<std::string> got = absl::StrSplit(host, '.');
  if (want.size() != got.size()) return false;
  for (size_t i = 0; i < want.size(); ++i) {
    if (got[i].empty() || want[i].empty()) return false;
    if (i == 0 && want[i] == "*") continue;
    if (want[i] != got[i]) return false;
  }
  return true;
}

absl::StatusOr<std::set<std::string>> ParseCrl(const std::string& flag, const std::string& path,
                                               const std::string& bytes) {
  ERR_clear_error();
  auto bio = MemoryBio(bytes);
  CrlPtr crl(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
  if (crl == nullptr) {
    auto der = MemoryBio(bytes);
    crl.reset(d2i_X509_CRL_bio(der.get(), nullptr));
  }
  ERR_clear_error();
  if (crl == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, " ", path, ": not a certificate revocation list (PEM \"X509 CRL\" or DER)"));
  }
  std::set<std::string> serials;
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl.get());
  for (int i = 0; revoked != nullptr && i < sk_X509_REVOKED_num(revoked); ++i) {
    serials.insert(SerialText(X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revoked, i))));
  }
  return serials;
}

}  // namespace

absl::StatusOr<std::string> ReadFlagFile(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " ", path, ": cannot read: ", std::strerror(errno)));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " ", path, ": cannot read: ", std::strerror(errno)));
  }
  return contents.str();
}

absl::StatusOr<PresentedChain> DescribeChain(const std::string& chain_pem) {
  ERR_clear_error();
  auto bio = MemoryBio(chain_pem);
  PresentedChain chain;
  bool leaf = true;
  while (X509* raw = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509Ptr cert(raw);
    chain.serials.push_back(SerialText(X509_get0_serialNumber(cert.get())));
    if (!leaf) continue;
    leaf = false;
    // Go keeps the last CN of the subject; so do we.
    const X509_NAME* subject = X509_get_subject_name(cert.get());
    for (int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); i >= 0;
         i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) {
      unsigned char* utf8 = nullptr;
      const int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i)));
      if (n >= 0) chain.common_name.assign(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
      OPENSSL_free(utf8);
    }
    GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
    for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names.get()); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
      if (name->type == GEN_DNS) {
        const ASN1_IA5STRING* dns = name->d.dNSName;
        chain.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                                     static_cast<size_t>(ASN1_STRING_length(dns)));
      } else if (name->type == GEN_IPADD) {
        if (std::string ip = IpText(name->d.iPAddress); !ip.empty()) chain.ip_names.push_back(ip);
      }
    }
  }
  ERR_clear_error();  // the loop ends on "no start line"
  if (chain.serials.empty()) return absl::InvalidArgumentError("no certificate in the presented chain");
  return chain;
}

absl::StatusOr<std::set<std::string>> ReadCrlSerials(const std::string& flag, const std::string& path) {
  auto bytes = ReadFlagFile(flag, path);
  if (!bytes.ok()) return bytes.status();
  return ParseCrl(flag, path, *bytes);
}

absl::Status CheckCrlFile(const std::string& flag, const std::string& path) {
  return ReadCrlSerials(flag, path).status();
}

bool CoversHost(const PresentedChain& chain, const std::string& host) {
  std::string bare = host;
  if (bare.size() >= 3 && bare.front() == '[' && bare.back() == ']') bare = bare.substr(1, bare.size() - 2);
  unsigned char want[16];
  if (ParseIp(bare, want)) {
    for (const std::string& ip : chain.ip_names) {
      unsigned char got[16];
      if (ParseIp(ip, got) && std::memcmp(want, got, 16) == 0) return true;
    }
    return false;
  }
  const std::string name = TrimDot(absl::AsciiStrToLower(host));
  for (const std::string& dns : chain.dns_names) {
    if (MatchesPattern(TrimDot(absl::AsciiStrToLower(dns)), name)) return true;
  }
  return false;
}

absl::StatusOr<std::shared_ptr<const std::set<std::string>>> CertPolicy::CurrentSerials() {
  struct stat st;
  if (::stat(rules_.crl_file.c_str(), &st) != 0) {
    return absl::UnavailableError(
        absl::StrCat("--", rules_.crl_flag, " ", rules_.crl_file, ": cannot read: ", std::strerror(errno)));
  }
  const FileStamp now{st.st_ino, st.st_size, static_cast<long long>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
  absl::MutexLock lock(&mu_);
  if (now == stamp_) return serials_;
  auto serials = ReadCrlSerials(rules_.crl_flag, rules_.crl_file);
  if (!serials.ok()) return serials.status();
  stamp_ = now;
  serials_ = std::make_shared<const std::set<std::string>>(std::move(*serials));
  return serials_;
}

absl::Status CertPolicy::Check(const PresentedChain& chain) {
  if (!rules_.crl_file.empty()) {
    auto revoked = CurrentSerials();
    if (!revoked.ok()) {
      return absl::UnauthenticatedError(absl::StrCat("revocation list unusable: ", revoked.status().message()));
    }
    for (const std::string& serial : chain.serials) {
      if ((*revoked)->count(serial) != 0) {
        return absl::UnauthenticatedError(absl::StrCat("certificate serial ", serial, " is revoked (--",
                                                       rules_.crl_flag, " ", rules_.crl_file, ")"));
      }
    }
  }
  if (rules_.allowed_cn.empty() && rules_.allowed_hostname.empty()) return absl::OkStatus();
  if (!rules_.allowed_cn.empty() && chain.common_name == rules_.allowed_cn) return absl::OkStatus();
  if (!rules_.allowed_hostname.empty() && CoversHost(chain, rules_.allowed_hostname)) return absl::OkStatus();
  std::vector<std::string> wanted;
  if (!rules_.allowed_cn.empty()) wanted.push_back(absl::StrCat("common name \"", rules_.allowed_cn, "\""));
  if (!rules_.allowed_hostname.empty()) wanted.push_back(absl::StrCat("host name \"", rules_.allowed_hostname, "\""));
  return absl::UnauthenticatedError(absl::StrCat("certificate (CN \"", chain.common_name, "\", DNS [",
                                                 absl::StrJoin(chain.dns_names, " "), "], IP [",
                                                 absl::StrJoin(chain.ip_names, " "), "]) lacks the allowed ",
                                                 absl::StrJoin(wanted, " or ")));
}

}  // namespace cairn::tls
