// server/tls: the credentials builder's errors name the flag and file, self-signed pairs are
// usable, and the TLS flags parse and are checked as etcd's are.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

#include "absl/synchronization/mutex.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "server/config.h"
#include "server/tls/tls.h"

namespace cairn::tls {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "cairn-tls-XXXXXX").string();
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

void Write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// A key pair and CA made by our own generator (no openssl CLI needed in this unit test).
TlsFiles Generated(const TempDir& dir, const std::string& sub) {
  auto files = SelfSignedFiles(dir / sub, {"127.0.0.1", "localhost"});
  EXPECT_TRUE(files.ok()) << files.status();
  return *files;
}

TEST(LoadTlsMaterial, MissingCertFileIsNamed) {
  TempDir dir;
  TlsFiles files;
  files.cert_file = dir / "nope.crt";
  files.key_file = dir / "nope.key";
  auto loaded = LoadTlsMaterial(files, "");
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("--cert-file " + (dir / "nope.crt")), std::string::npos)
      << loaded.status();
}

TEST(LoadTlsMaterial, BadPemIsNamedWithTheFlag) {
  TempDir dir;
  TlsFiles good = Generated(dir, "a");
  Write(dir / "garbage.pem", "this is not a certificate\n");
  TlsFiles files = good;
  files.cert_file = dir / "garbage.pem";
  auto loaded = LoadTlsMaterial(files, "peer-");
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("--peer-cert-file " + (dir / "garbage.pem")), std::string::npos)
      << loaded.status();

  files = good;
  files.key_file = dir / "garbage.pem";
  loaded = LoadTlsMaterial(files, "");
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("--key-file " + (dir / "garbage.pem")), std::string::npos)
      << loaded.status();

  files = good;
  files.trusted_ca_file = dir / "garbage.pem";
  loaded = LoadTlsMaterial(files, "");
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("--trusted-ca-file " + (dir / "garbage.pem")), std::string::npos)
      << loaded.status();
}

TEST(LoadTlsMaterial, KeyOfAnotherCertificateIsRefused) {
  TempDir dir;
  TlsFiles a = Generated(dir, "a");
  TlsFiles b = Generated(dir, "b");
  TlsFiles mixed = a;
  mixed.key_file = b.key_file;
  auto loaded = LoadTlsMaterial(mixed, "");
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("does not match"), std::string::npos) << loaded.status();
  EXPECT_NE(loaded.status().message().find(b.key_file), std::string::npos) << loaded.status();
}

TEST(LoadTlsMaterial, GoodFilesLoadAndSetTheModes) {
  TempDir dir;
  TlsFiles files = Generated(dir, "a");
  files.auto_tls = false;
  files.trusted_ca_file = files.cert_file;  // self-signed: its own CA
  auto loaded = LoadTlsMaterial(files, "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_NE(loaded->cert_chain.find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_NE(loaded->trusted_ca.find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_TRUE(loaded->require_client_cert);  // a trusted CA alone requires client certs (etcd 3.4)
  EXPECT_TRUE(loaded->verify_other_side);
  EXPECT_NE(MakeServerCredentials(*loaded), nullptr);
  EXPECT_NE(MakeChannelCredentials(*loaded), nullptr);
}

TEST(SelfSignedFiles, CreatesOncePrivateKeyAndReuses) {
  TempDir dir;
  TlsFiles first = Generated(dir, "fixtures/peer");
  struct stat st {};
  ASSERT_EQ(::stat(first.key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::ifstream in(first.cert_file);
  std::string before((std::istreambuf_iterator<char>(in)), {});
  TlsFiles second = Generated(dir, "fixtures/peer");
  std::ifstream again(second.cert_file);
  std::string after((std::istreambuf_iterator<char>(again)), {});
  EXPECT_EQ(before, after);
  auto loaded = LoadTlsMaterial(second, "peer-");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_FALSE(loaded->verify_other_side);
  EXPECT_FALSE(loaded->require_client_cert);
}

TEST(ResolveTls, AutoTlsOnlyWhenNoFilesAndAnHttpsListener) {
  TempDir dir;
  TlsFiles none;
  none.auto_tls = true;
  auto resolved = ResolveTls(none, "", /*needs_key_pair=*/false, dir / "auto", {"127.0.0.1"});
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_FALSE(resolved->has_value());
  EXPECT_FALSE(fs::exists(dir / "auto"));
  resolved = ResolveTls(none, "", /*needs_key_pair=*/true, dir / "auto", {"127.0.0.1"});
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  ASSERT_TRUE(resolved->has_value());
  EXPECT_FALSE((*resolved)->verify_other_side);
  EXPECT_TRUE(fs::exists(dir / "auto/cert.pem"));
}

// Runs the openssl CLI in `dir`; certificates for the tests are made at test time, as a user would.
bool OpenSsl(const TempDir& dir, const std::string& args) {
  return std::system(("cd '" + (dir / "") + "' && openssl " + args + " >/dev/null 2>&1").c_str()) == 0;
}

bool MakeCa(const TempDir& dir, const std::string& ca) {
  return OpenSsl(dir, "req -x509 -newkey rsa:2048 -nodes -keyout " + ca + ".key -out " + ca + ".crt -days 2 -subj /CN=" + ca);
}

// <name>.crt/.key with CN=<name>, signed by <ca>, for `san` (e.g. "IP:127.0.0.1").
bool MakeLeaf(const TempDir& dir, const std::string& name, const std::string& ca, const std::string& san) {
  Write(dir / (name + ".cnf"), "subjectAltName=" + san + "\nextendedKeyUsage=serverAuth,clientAuth\n");
  return OpenSsl(dir, "req -newkey rsa:2048 -nodes -keyout " + name + ".key -out " + name + ".csr -subj /CN=" + name) &&
         OpenSsl(dir, "x509 -req -in " + name + ".csr -CA " + ca + ".crt -CAkey " + ca + ".key -CAcreateserial -out " +
                          name + ".crt -days 2 -extfile " + name + ".cnf");
}

// ca.crt signs server.crt (SAN 127.0.0.1) and alice.crt (CN=alice).
bool MakeCertificates(const TempDir& dir) {
  return MakeCa(dir, "ca") && MakeLeaf(dir, "server", "ca", "IP:127.0.0.1") && MakeLeaf(dir, "alice", "ca", "IP:127.0.0.1");
}

// Answers every call UNIMPLEMENTED after noting the caller's certificate CN.
class CommonNameRecorder final : public grpc::CallbackGenericService {
 public:
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* context) override {
    {
      absl::MutexLock lock(&mu_);
      seen_ = ClientCommonName(*context);
      calls_++;
    }
    class Refuse final : public grpc::ServerGenericBidiReactor {
     public:
      Refuse() { Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "")); }
      void OnDone() override { delete this; }
    };
    return new Refuse;
  }
  std::pair<int, std::optional<std::string>> Seen() {
    absl::MutexLock lock(&mu_);
    return {calls_, seen_};
  }

 private:
  absl::Mutex mu_;
  int calls_ = 0;
  std::optional<std::string> seen_;
};

grpc::StatusCode CallRange(const std::string& target, const std::shared_ptr<grpc::ChannelCredentials>& creds) {
  auto stub = etcdserverpb::KV::NewStub(grpc::CreateChannel(target, creds));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  etcdserverpb::RangeResponse response;
  return stub->Range(&context, etcdserverpb::RangeRequest(), &response).error_code();
}

TEST(Credentials, MutualTlsExposesTheClientCommonNameAndRefusesClientsWithoutCertificates) {
  TempDir dir;
  ASSERT_TRUE(MakeCertificates(dir)) << "openssl CLI failed";
  TlsFiles server_files{dir / "server.crt", dir / "server.key", dir / "ca.crt", true, false, "", "", ""};
  auto server_material = LoadTlsMaterial(server_files, "");
  ASSERT_TRUE(server_material.ok()) << server_material.status();
  CommonNameRecorder recorder;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", MakeServerCredentials(*server_material), &port);
  builder.RegisterCallbackGenericService(&recorder);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  const std::string target = "127.0.0.1:" + std::to_string(port);

  TlsFiles alice{dir / "alice.crt", dir / "alice.key", dir / "ca.crt", false, false, "", "", ""};
  auto alice_material = LoadTlsMaterial(alice, "");
  ASSERT_TRUE(alice_material.ok()) << alice_material.status();
  EXPECT_EQ(CallRange(target, MakeChannelCredentials(*alice_material)), grpc::StatusCode::UNIMPLEMENTED);
  auto [calls, common_name] = recorder.Seen();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(common_name, std::optional<std::string>("alice"));

  TlsFiles anonymous{"", "", dir / "ca.crt", false, false, "", "", ""};
  auto anonymous_material = LoadTlsMaterial(anonymous, "");
  ASSERT_TRUE(anonymous_material.ok()) << anonymous_material.status();
  EXPECT_EQ(CallRange(target, MakeChannelCredentials(*anonymous_material)), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(recorder.Seen().first, 1);  // refused during the handshake: no call reached the service
  server->Shutdown(std::chrono::system_clock::now());
}

// A listener on 127.0.0.1 with `material`'s server credentials, answering UNIMPLEMENTED.
struct TestServer {
  TestServer(const TlsMaterial& material, unsigned reload_seconds) {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", MakeServerCredentials(material, reload_seconds), &port);
    builder.RegisterCallbackGenericService(&recorder);
    server = builder.BuildAndStart();
    target = "127.0.0.1:" + std::to_string(port);
  }
  ~TestServer() {
    if (server) server->Shutdown(std::chrono::system_clock::now());
  }
  CommonNameRecorder recorder;
  std::unique_ptr<grpc::Server> server;
  std::string target;
};

grpc::StatusCode CallTrusting(const TempDir& dir, const std::string& target, const std::string& ca) {
  TlsFiles trust;
  trust.trusted_ca_file = dir / (ca + ".crt");
  auto material = LoadTlsMaterial(trust, "peer-");
  EXPECT_TRUE(material.ok()) << material.status();
  return CallRange(target, MakeChannelCredentials(*material));
}

TEST(Credentials, ServerCertificateMustNameTheHostDialed) {
  TempDir dir;
  ASSERT_TRUE(MakeCa(dir, "ca") && MakeLeaf(dir, "elsewhere", "ca", "DNS:elsewhere.example")) << "openssl CLI failed";
  TlsFiles files{dir / "elsewhere.crt", dir / "elsewhere.key", "", false, false, "", "", ""};
  auto material = LoadTlsMaterial(files, "");
  ASSERT_TRUE(material.ok()) << material.status();
  TestServer server(*material, kDefaultReloadSeconds);
  ASSERT_NE(server.server, nullptr);
  EXPECT_EQ(CallTrusting(dir, server.target, "ca"), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(server.recorder.Seen().first, 0);
}

TEST(Credentials, RenewedServerCertificateIsUsedByNewConnectionsWithoutRestart) {
  TempDir dir;
  ASSERT_TRUE(MakeCa(dir, "ca") && MakeCa(dir, "next-ca") && MakeLeaf(dir, "server", "ca", "IP:127.0.0.1") &&
              MakeLeaf(dir, "renewed", "next-ca", "IP:127.0.0.1"))
      << "openssl CLI failed";
  fs::copy_file(dir / "server.crt", dir / "live.crt");
  fs::copy_file(dir / "server.key", dir / "live.key");
  TlsFiles files{dir / "live.crt", dir / "live.key", "", false, false, "", "", ""};
  auto material = LoadTlsMaterial(files, "");
  ASSERT_TRUE(material.ok()) << material.status();
  TestServer server(*material, /*reload_seconds=*/1);
  ASSERT_NE(server.server, nullptr);
  EXPECT_EQ(CallTrusting(dir, server.target, "ca"), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(CallTrusting(dir, server.target, "next-ca"), grpc::StatusCode::UNAVAILABLE);

  // Renewal as tools do it: each file replaced whole by a rename.
  fs::copy_file(dir / "renewed.key", dir / "live.key.new");
  fs::copy_file(dir / "renewed.crt", dir / "live.crt.new");
  fs::rename(dir / "live.key.new", dir / "live.key");
  fs::rename(dir / "live.crt.new", dir / "live.crt");
  bool renewed = false;
  for (int attempt = 0; attempt < 100 && !renewed; ++attempt) {  // the provider re-reads every second
    renewed = CallTrusting(dir, server.target, "next-ca") == grpc::StatusCode::UNIMPLEMENTED;
    if (!renewed) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_TRUE(renewed) << "a new connection never saw the renewed certificate";
  EXPECT_EQ(CallTrusting(dir, server.target, "ca"), grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace cairn::tls

namespace cairn::server {
namespace {

TEST(TlsFlags, ParseLikeEtcd) {
  auto c = ParseFlags({"--listen-client-urls=https://127.0.0.1:2379", "--cert-file", "/c.crt", "--key-file=/c.key",
                       "--trusted-ca-file", "/ca.crt", "--client-cert-auth", "--peer-cert-file=/p.crt",
                       "--peer-key-file=/p.key", "--peer-trusted-ca-file=/pca.crt", "--peer-client-cert-auth",
                       "--peer-auto-tls=false", "--auto-tls=true"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen_client_urls[0].scheme, "https");
  EXPECT_EQ(c->client_tls.cert_file, "/c.crt");
  EXPECT_EQ(c->client_tls.key_file, "/c.key");
  EXPECT_EQ(c->client_tls.trusted_ca_file, "/ca.crt");
  EXPECT_TRUE(c->client_tls.client_cert_auth);
  EXPECT_TRUE(c->client_tls.auto_tls);
  EXPECT_EQ(c->peer_tls.cert_file, "/p.crt");
  EXPECT_EQ(c->peer_tls.key_file, "/p.key");
  EXPECT_EQ(c->peer_tls.trusted_ca_file, "/pca.crt");
  EXPECT_TRUE(c->peer_tls.client_cert_auth);
  EXPECT_FALSE(c->peer_tls.auto_tls);
}

TEST(TlsFlags, EnvironmentVariables) {
  auto c = ParseFlagsWithEnv({"--listen-peer-urls=https://127.0.0.1:2380"}, [](const char* name) -> const char* {
    std::string n(name);
    if (n == "ETCD_PEER_CERT_FILE") return "/p.crt";
    if (n == "ETCD_PEER_KEY_FILE") return "/p.key";
    if (n == "ETCD_PEER_CLIENT_CERT_AUTH") return "true";
    return nullptr;
  });
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->peer_tls.cert_file, "/p.crt");
  EXPECT_TRUE(c->peer_tls.client_cert_auth);
}

TEST(TlsFlags, HttpsWithoutKeyPairIsAStartupError) {
  auto c = ParseFlags({"--listen-client-urls=https://127.0.0.1:2379"});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("--cert-file, --key-file"), std::string::npos) << c.status();
  EXPECT_NE(c.status().message().find("https://127.0.0.1:2379"), std::string::npos) << c.status();

  c = ParseFlags({"--listen-peer-urls=https://127.0.0.1:2380", "--cert-file=/c", "--key-file=/k"});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("--peer-cert-file, --peer-key-file"), std::string::npos) << c.status();

  c = ParseFlags({"--listen-client-urls=https://127.0.0.1:2379", "--cert-file=/c"});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("together"), std::string::npos) << c.status();

  EXPECT_TRUE(ParseFlags({"--listen-client-urls=https://127.0.0.1:2379", "--auto-tls"}).ok());
  // http URLs ignore the TLS flags, as etcd's do.
  EXPECT_TRUE(ParseFlags({"--client-cert-auth", "--peer-client-cert-auth"}).ok());
}

TEST(TlsFlags, HttpsMetricsListenerIsRefused) {
  auto c = ParseFlags({"--listen-metrics-urls=https://127.0.0.1:2381", "--cert-file=/c", "--key-file=/k"});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("--listen-metrics-urls"), std::string::npos) << c.status();
}

}  // namespace
}  // namespace cairn::server
