// cairn::tls::CertPolicy — what cairnd checks of a certificate the other side presented, beyond
// the chain gRPC has already verified against the trusted CA (etcd's --client-crl-file,
// --client-cert-allowed-hostname, --peer-crl-file, --peer-cert-allowed-cn,
// --peer-cert-allowed-hostname):
//
//  - Revocation: no certificate the other side sent has its serial number in the CRL file (PEM or
//    DER). As in etcd, only serial numbers count: the CRL's issuer and signature are not checked,
//    so the file is trusted as the CA bundle is. The file is read again whenever it changes
//    (inode, size or modification time), so a new CRL applies from the next connection without a
//    restart. A CRL that cannot be read or parsed refuses every connection, as etcd does; start-up
//    checks it first (CheckCrlFile) so a wrong path stops cairnd instead.
//  - Names: with an allowed common name and/or host name, the leaf certificate must have that
//    subject CN, or subject alternative names covering that host (Go's rules, which etcd uses: an
//    IP is matched against IP SANs; a DNS name case-insensitively against DNS SANs, where "*."
//    covers exactly one leftmost label). Either match admits it.
//
// Errors: Check returns UnauthenticatedError with the reason (for the log; the other side only
// sees its handshake fail). Thread safety: CertPolicy is safe to share between gRPC's handshake
// threads; the CRL cache is guarded.
#pragma once

#include <sys/types.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace cairn::tls {

// What the checks need of a presented chain, leaf first.
struct PresentedChain {
  std::string common_name;              // the leaf's subject CN ("" if none)
  std::vector<std::string> dns_names;   // the leaf's DNS SANs
  std::vector<std::string> ip_names;    // the leaf's IP SANs, as text ("127.0.0.1", "::1")
  std::vector<std::string> serials;     // every certificate's serial, as OpenSSL's upper-case hex of whole bytes
};

// The whole of a file a TLS flag names; errors name the flag and file ("--cert-file /x: cannot read: ...").
absl::StatusOr<std::string> ReadFlagFile(const std::string& flag, const std::string& path);

// Parses a PEM chain (as gRPC hands it to a verifier). Fails when it holds no certificate.
absl::StatusOr<PresentedChain> DescribeChain(const std::string& chain_pem);

// The serial numbers a CRL file lists (same form as PresentedChain::serials). `flag` names the flag
// in errors ("--client-crl-file /etc/x.crl: ...").
absl::StatusOr<std::set<std::string>> ReadCrlSerials(const std::string& flag, const std::string& path);

// Start-up check of a CRL flag's file: it must exist and parse.
absl::Status CheckCrlFile(const std::string& flag, const std::string& path);

// Go's Certificate.VerifyHostname rules for `host` against the chain's leaf SANs.
bool CoversHost(const PresentedChain& chain, const std::string& host);

struct CertRules {
  std::string crl_flag;          // for messages: "client-crl-file" or "peer-crl-file"
  std::string crl_file;          // "" : no revocation check
  std::string allowed_cn;        // "" : none
  std::string allowed_hostname;  // "" : none
  bool Empty() const { return crl_file.empty() && allowed_cn.empty() && allowed_hostname.empty(); }
};

class CertPolicy {
 public:
  explicit CertPolicy(CertRules rules) : rules_(std::move(rules)) {}

  const CertRules& rules() const { return rules_; }

  // OK when `chain` passes every rule; else UnauthenticatedError saying which failed.
  absl::Status Check(const PresentedChain& chain);

 private:
  // The CRL's serials, re-read when the file changed since the last read. Shared, not copied:
  // every handshake asks, and a CRL can list thousands of serials.
  absl::StatusOr<std::shared_ptr<const std::set<std::string>>> CurrentSerials();

  const CertRules rules_;
  absl::Mutex mu_;
  struct FileStamp {
    ino_t inode = 0;
    off_t size = -1;
    long long mtime_ns = -1;
    bool operator==(const FileStamp&) const = default;
  };
  FileStamp stamp_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const std::set<std::string>> serials_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cairn::tls
