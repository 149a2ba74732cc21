// server/tls/cert_policy: revocation by serial from a CRL file that may change under a running
// server, and the allowed common name / host name with Go's host-name rules (etcd's semantics).
// Certificates and CRLs are made here with OpenSSL's API.
#include "server/tls/cert_policy.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace cairn::tls {
namespace {

namespace fs = std::filesystem;

EVP_PKEY* TestKey() {
  static EVP_PKEY* key = EVP_EC_gen("P-256");
  return key;
}

std::string ToPem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(n));
  BIO_free(bio);
  return pem;
}

// A self-signed certificate with this CN, these SANs ("DNS:x", "IP:1.2.3.4") and serial.
std::string MakeCert(const std::string& cn, const std::string& sans, long serial) {
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_NAME* name = X509_get_subject_name(cert);
  if (!cn.empty()) {
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  }
  X509_set_issuer_name(cert, name);
  X509_set_pubkey(cert, TestKey());
  if (!sans.empty()) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, sans.c_str());
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(cert, TestKey(), EVP_sha256());
  std::string pem = ToPem(cert);
  X509_free(cert);
  return pem;
}

// A CRL revoking `serials`, PEM or DER.
std::string MakeCrl(const std::vector<long>& serials, bool pem) {
  X509_CRL* crl = X509_CRL_new();
  X509_CRL_set_version(crl, 1);
  X509_NAME* issuer = X509_NAME_new();
  X509_NAME_add_entry_by_txt(issuer, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("ca"), -1, -1, 0);
  X509_CRL_set_issuer_name(crl, issuer);
  X509_NAME_free(issuer);
  ASN1_TIME* now = ASN1_TIME_set(nullptr, time(nullptr));
  X509_CRL_set1_lastUpdate(crl, now);
  for (long serial : serials) {
    X509_REVOKED* revoked = X509_REVOKED_new();
    ASN1_INTEGER* number = ASN1_INTEGER_new();
    ASN1_INTEGER_set(number, serial);
    X509_REVOKED_set_serialNumber(revoked, number);
    X509_REVOKED_set_revocationDate(revoked, now);
    X509_CRL_add0_revoked(crl, revoked);
    ASN1_INTEGER_free(number);
  }
  ASN1_TIME_free(now);
  X509_CRL_sort(crl);
  X509_CRL_sign(crl, TestKey(), EVP_sha256());
  BIO* bio = BIO_new(BIO_s_mem());
  if (pem) {
    PEM_write_bio_X509_CRL(bio, crl);
  } else {
    i2d_X509_CRL_bio(bio, crl);
  }
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string bytes(data, static_cast<size_t>(n));
  BIO_free(bio);
  X509_CRL_free(crl);
  return bytes;
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "cairn-certpolicy-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Replaces the file whole, as an operator renewing a CRL should.
void Replace(const std::string& path, const std::string& bytes) {
  std::ofstream(path + ".new", std::ios::binary) << bytes;
  fs::rename(path + ".new", path);
}

PresentedChain Describe(const std::string& pem) {
  auto chain = DescribeChain(pem);
  EXPECT_TRUE(chain.ok()) << chain.status();
  return chain.ok() ? *chain : PresentedChain{};
}

TEST(DescribeChain, ReadsTheLeafsNamesAndEverySerial) {
  const std::string chain_pem =
      MakeCert("member-1", "DNS:m1.example,IP:127.0.0.1,IP:::1", 0x1234) + MakeCert("ca", "", 77);
  PresentedChain chain = Describe(chain_pem);
  EXPECT_EQ(chain.common_name, "member-1");
  EXPECT_EQ(chain.dns_names, std::vector<std::string>{"m1.example"});
  EXPECT_EQ(chain.ip_names, (std::vector<std::string>{"127.0.0.1", "::1"}));
  EXPECT_EQ(chain.serials, (std::vector<std::string>{"1234", "4D"}));
  EXPECT_FALSE(DescribeChain("not a certificate").ok());
}

TEST(CoversHost, FollowsGosHostNameRules) {
  PresentedChain chain = Describe(MakeCert("cn.example", "DNS:Client.Example,DNS:*.svc.example,IP:10.0.0.7", 1));
  EXPECT_TRUE(CoversHost(chain, "client.example"));
  EXPECT_TRUE(CoversHost(chain, "CLIENT.example."));
  EXPECT_TRUE(CoversHost(chain, "a.svc.example"));
  EXPECT_FALSE(CoversHost(chain, "a.b.svc.example"));  // a wildcard covers one label
  EXPECT_FALSE(CoversHost(chain, "svc.example"));
  EXPECT_FALSE(CoversHost(chain, "*.example"));        // the allowed name is not a pattern
  EXPECT_FALSE(CoversHost(chain, "cn.example"));       // the CN is not a host name
  EXPECT_TRUE(CoversHost(chain, "10.0.0.7"));
  EXPECT_TRUE(CoversHost(chain, "::ffff:10.0.0.7"));   // the same address
  EXPECT_FALSE(CoversHost(chain, "10.0.0.8"));
  PresentedChain v6 = Describe(MakeCert("", "IP:::1,DNS:10.0.0.9", 2));
  EXPECT_TRUE(CoversHost(v6, "[::1]"));
  EXPECT_FALSE(CoversHost(v6, "10.0.0.9"));  // an IP is matched against IP SANs only
}

TEST(CertPolicy, RevokedSerialsAreRefusedAndANewListAppliesAtOnce) {
  TempDir dir;
  const std::string crl = dir / "crl.pem";
  Replace(crl, MakeCrl({5}, /*pem=*/true));
  CertPolicy policy({"client-crl-file", crl, "", ""});
  const PresentedChain good = Describe(MakeCert("good", "", 4));
  const PresentedChain revoked = Describe(MakeCert("bad", "", 5));
  const PresentedChain revoked_issuer = Describe(MakeCert("leaf", "", 4) + MakeCert("ca", "", 5));
  EXPECT_TRUE(policy.Check(good).ok());
  absl::Status refused = policy.Check(revoked);
  EXPECT_TRUE(absl::IsUnauthenticated(refused)) << refused;
  EXPECT_NE(refused.message().find("certificate serial 05 is revoked (--client-crl-file " + crl + ")"),
            std::string::npos)
      << refused;
  EXPECT_FALSE(policy.Check(revoked_issuer).ok());

  // A renewed list (DER this time) revokes 4 and no longer 5, from the next check on.
  Replace(crl, MakeCrl({4}, /*pem=*/false));
  EXPECT_FALSE(policy.Check(good).ok());
  EXPECT_TRUE(policy.Check(revoked).ok());

  // A list that disappears or is garbled refuses everyone (fail closed, as etcd).
  fs::remove(crl);
  absl::Status missing = policy.Check(revoked);
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("revocation list unusable"), std::string::npos) << missing;
  Replace(crl, "garbage");
  EXPECT_FALSE(policy.Check(revoked).ok());
  Replace(crl, MakeCrl({}, true));
  EXPECT_TRUE(policy.Check(good).ok());
}

TEST(CertPolicy, CheckCrlFileNamesTheFlagAndFile) {
  TempDir dir;
  absl::Status missing = CheckCrlFile("peer-crl-file", dir / "none.crl");
  EXPECT_NE(missing.message().find("--peer-crl-file " + (dir / "none.crl") + ": cannot read"), std::string::npos)
      << missing;
  Replace(dir / "cert.pem", MakeCert("x", "", 1));
  absl::Status wrong_kind = CheckCrlFile("client-crl-file", dir / "cert.pem");
  EXPECT_NE(wrong_kind.message().find("not a certificate revocation list"), std::string::npos) << wrong_kind;
  Replace(dir / "ok.crl", MakeCrl({1, 2}, true));
  EXPECT_TRUE(CheckCrlFile("client-crl-file", dir / "ok.crl").ok());
}

TEST(CertPolicy, AllowedCommonNameOrHostNameEitherAdmits) {
  const PresentedChain member = Describe(MakeCert("member", "DNS:m.example", 1));
  const PresentedChain stranger = Describe(MakeCert("stranger", "DNS:s.example", 2));
  CertPolicy by_cn({"peer-crl-file", "", "member", ""});
  EXPECT_TRUE(by_cn.Check(member).ok());
  absl::Status refused = by_cn.Check(stranger);
  EXPECT_TRUE(absl::IsUnauthenticated(refused));
  EXPECT_NE(refused.message().find("lacks the allowed common name \"member\""), std::string::npos) << refused;

  CertPolicy by_host({"peer-crl-file", "", "", "m.example"});
  EXPECT_TRUE(by_host.Check(member).ok());
  EXPECT_FALSE(by_host.Check(stranger).ok());

  CertPolicy either({"peer-crl-file", "", "stranger", "m.example"});
  EXPECT_TRUE(either.Check(member).ok());
  EXPECT_TRUE(either.Check(stranger).ok());
  EXPECT_FALSE(either.Check(Describe(MakeCert("third", "DNS:t.example", 3))).ok());
}

}  // namespace
}  // namespace cairn::tls
