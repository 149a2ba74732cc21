// A member in-process with two plaintext client URLs on port 0: gRPC and HTTP share each port (the
// HTTP/2 connections are handed to gRPC), ports are reported, and shutting down with gateway
// calls and streams open neither hangs nor crashes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "server/member.h"

namespace cairn::server {
namespace {

// A blocking loopback connection with a receive timeout, for speaking raw HTTP/1.1.
class RawConnection {
 public:
  explicit RawConnection(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawConnection() { ::close(fd_); }
  bool connected() const { return connected_; }
  bool closed() const { return eof_; }  // by the server (not a receive timeout)
  void Send(const std::string& data) { ASSERT_EQ(::send(fd_, data.data(), data.size(), MSG_NOSIGNAL), ssize_t(data.size())); }
  // Reads until `needle` has arrived, EOF, or the timeout; returns everything read.
  std::string ReadUntil(const std::string& needle) {
    while (received_.find(needle) == std::string::npos) {
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      // Closed by the server: an orderly EOF, or a reset for a connection it never took from the
      // listen backlog before it stopped.
      if (n == 0 || (n < 0 && errno == ECONNRESET)) eof_ = true;
      if (n <= 0) break;
      received_.append(buf, static_cast<size_t>(n));
    }
    return received_;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string received_;
};

std::string Post(const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

class ClientPortTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cairn-client-port-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto config = ParseFlags({"--data-dir", dir_ + "/data", "--listen-client-urls",
                              "http://127.0.0.1:0,http://127.0.0.1:0", "--listen-peer-urls", "http://127.0.0.1:0"});
    ASSERT_TRUE(config.ok()) << config.status();
    auto member = Member::Start(*config);
    ASSERT_TRUE(member.ok()) << member.status();
    member_ = std::move(*member);
  }
  void TearDown() override {
    member_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string dir_;
  std::unique_ptr<Member> member_;
};

TEST_F(ClientPortTest, EveryPlaintextUrlServesGrpcAndHttpOnItsReportedPort) {
  ASSERT_EQ(member_->client_ports().size(), 2u);
  EXPECT_NE(member_->client_ports()[0], 0);
  EXPECT_NE(member_->client_ports()[1], 0);
  EXPECT_NE(member_->client_ports()[0], member_->client_ports()[1]);
  for (int port : member_->client_ports()) {
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
    auto kv = etcdserverpb::KV::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    etcdserverpb::PutRequest put;
    put.set_key("k" + std::to_string(port));
    put.set_value("grpc");
    etcdserverpb::PutResponse put_response;
    ASSERT_TRUE(kv->Put(&ctx, put, &put_response).ok());

    RawConnection http(port);
    ASSERT_TRUE(http.connected());
    http.Send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_NE(http.ReadUntil("}").find("\"health\":\"true\""), std::string::npos);
    // The same connection again (keep-alive).
    http.Send("GET /version HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_NE(http.ReadUntil("etcdcluster").find("etcdcluster"), std::string::npos);
  }
}

TEST_F(ClientPortTest, GatewayReadsWhatGrpcWrote) {
  const int port = member_->client_ports()[1];
  auto kv = etcdserverpb::KV::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  etcdserverpb::PutRequest put;
  put.set_key("foo");  // "Zm9v"
  put.set_value("bar");  // "YmFy"
  etcdserverpb::PutResponse put_response;
  ASSERT_TRUE(kv->Put(&ctx, put, &put_response).ok());
  RawConnection http(port);
  http.Send(Post("/v3/kv/range", R"({"key":"Zm9v"})"));
  std::string answer = http.ReadUntil("\"count\"");
  EXPECT_EQ(answer.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << answer;
  EXPECT_NE(answer.find(R"("value":"YmFy")"), std::string::npos) << answer;
}

// grpc-gateway half-closes a stream call when the request body ends: etcd's keep-alive then ends
// after its answers; a watch goes on (found by tests/compat/test_differential_gateway.py).
TEST_F(ClientPortTest, AtTheBodysEndAKeepAliveStreamEndsAndAWatchGoesOn) {
  const int port = member_->client_ports()[0];
  RawConnection keepalive(port);
  keepalive.Send(Post("/v3/lease/keepalive", R"({"ID":"5"}{"ID":"6"})"));
  const std::string answers = keepalive.ReadUntil("never");
  EXPECT_TRUE(keepalive.closed()) << answers;
  EXPECT_NE(answers.find(R"("ID":"5")"), std::string::npos) << answers;
  EXPECT_NE(answers.find(R"("ID":"6")"), std::string::npos) << answers;
  EXPECT_NE(answers.find("\r\n0\r\n\r\n"), std::string::npos) << answers;  // the chunked answer ended
  RawConnection watch(port);
  watch.Send(Post("/v3/watch", R"({"create_request":{"key":"Zm9v"}})"));
  ASSERT_NE(watch.ReadUntil("\"created\":true").find("\"created\":true"), std::string::npos);
  RawConnection put(port);
  put.Send(Post("/v3/kv/put", R"({"key":"Zm9v","value":"YmFy"})"));
  EXPECT_NE(watch.ReadUntil("\"events\"").find(R"("value":"YmFy")"), std::string::npos);
  EXPECT_FALSE(watch.closed());
}

TEST_F(ClientPortTest, ShutdownWithOpenGatewayStreamsAndPendingRequestsFinishes) {
  const int port = member_->client_ports()[0];
  RawConnection watch(port);
  watch.Send(Post("/v3/watch", R"({"create_request":{"key":"Zm9v"}})"));
  ASSERT_NE(watch.ReadUntil("\"created\":true").find("\"created\":true"), std::string::npos);
  RawConnection keepalive(port);  // its chunked body still open, so the stream is too
  keepalive.Send("POST /v3/lease/keepalive HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "8\r\n{\"ID\":1}\r\n");
  ASSERT_NE(keepalive.ReadUntil("\"ID\":\"1\"").find("\"ID\":\"1\""), std::string::npos);
  RawConnection half(port);  // a head that never ends
  half.Send("POST /v3/kv/put HTTP/1.1\r\nContent-Length: 10\r\n");
  RawConnection idle(port);  // says nothing at all
  member_->Shutdown();  // a hang fails by the test's timeout
  // Every HTTP connection is closed by the server, the streaming ones included.
  watch.ReadUntil("never");
  EXPECT_TRUE(watch.closed());
  keepalive.ReadUntil("never");
  EXPECT_TRUE(keepalive.closed());
  half.ReadUntil("never");
  EXPECT_TRUE(half.closed());
  idle.ReadUntil("never");
  EXPECT_TRUE(idle.closed());
}

}  // namespace
}  // namespace cairn::server
