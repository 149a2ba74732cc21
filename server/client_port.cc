#include "server/client_port.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <thread>

#include <boost/asio.hpp>
#include <grpcpp/server_posix.h>

#include "absl/strings/str_cat.h"
#include "server/client_http.h"
#include "server/gateway/gateway_calls.h"

namespace cairn::server {
namespace {

using boost::asio::ip::tcp;

constexpr char kHttp2Preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
// "PRI " already tells HTTP/2 apart from every HTTP/1 method.
constexpr size_t kPeekBytes = 4;

struct Shared {
  boost::asio::io_context io;
  ClientHttpContext http;  // http.io is &io
  grpc::Server* grpc_server = nullptr;
  // Touched only on the io thread. Expired entries are swept as new ones come.
  std::vector<std::weak_ptr<ClientConnection>> connections;
  void Register(std::weak_ptr<ClientConnection> connection) {
    if (connections.size() >= 64 && connections.size() % 64 == 0) {
      std::erase_if(connections, [](const std::weak_ptr<ClientConnection>& c) { return c.expired(); });
    }
    connections.push_back(std::move(connection));
  }
};

// Decides what a new connection speaks from its first bytes (left in the socket for whoever
// serves it).
class Classifier : public ClientConnection, public std::enable_shared_from_this<Classifier> {
 public:
  Classifier(tcp::socket socket, Shared* shared) : socket_(std::move(socket)), timer_(shared->io), shared_(shared) {}

  void Start() {
    timer_.expires_after(kClientRequestTimeout);
    auto self = shared_from_this();
    timer_.async_wait([self](boost::system::error_code ec) {
      if (!ec) self->Drop();
    });
    WaitForBytes();
  }

  void Close() override { Drop(); }

 private:
  void WaitForBytes() {
    auto self = shared_from_this();
    socket_.async_wait(tcp::socket::wait_read, [self](boost::system::error_code ec) {
      if (ec) return self->Drop();
      self->Peek();
    });
  }

  void Peek() {
    char first[kPeekBytes];
    const ssize_t n = ::recv(socket_.native_handle(), first, sizeof(first), MSG_PEEK);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return Drop();
    if (n < 0) return WaitForBytes();
    const bool preface_so_far = std::memcmp(first, kHttp2Preface, static_cast<size_t>(n)) == 0;
    if (!preface_so_far) {
      timer_.cancel();
      shared_->Register(ServeHttp(std::move(socket_), &shared_->http));
      return;
    }
    if (static_cast<size_t>(n) == kPeekBytes) {
      timer_.cancel();
      HandToGrpc();
      return;
    }
    // A few bytes of what may be the preface: the rest is in flight. Look again shortly (the
    // socket stays readable, so waiting for readability would spin).
    auto self = shared_from_this();
    retry_.emplace(shared_->io);
    retry_->expires_after(std::chrono::milliseconds(5));
    retry_->async_wait([self](boost::system::error_code ec) {
      if (!ec) self->Peek();
    });
  }

  void HandToGrpc() {
    boost::system::error_code ec;
    const int fd = socket_.release(ec);
    if (ec) return Drop();
    // As gRPC sets up the sockets it accepts: non-blocking, no Nagle delay on small frames.
    const int flags = ::fcntl(fd, F_GETFL, 0);
    ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    grpc::AddInsecureChannelFromFd(shared_->grpc_server, fd);
  }

  void Drop() {
    boost::system::error_code ignored;
    timer_.cancel();
    if (retry_) retry_->cancel();
    socket_.close(ignored);
  }

  tcp::socket socket_;
  boost::asio::steady_timer timer_;
  std::optional<boost::asio::steady_timer> retry_;
  Shared* shared_;
};

}  // namespace

struct ClientPort::Impl {
  Shared shared;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  std::vector<int> ports;
  std::thread thread;
  bool serving = false;
  bool stopped = false;

  void Accept(tcp::acceptor* acceptor) {
    acceptor->async_accept([this, acceptor](boost::system::error_code ec, tcp::socket socket) {
      if (ec == boost::asio::error::operation_aborted || !acceptor->is_open()) return;
      if (!ec) {
        auto classifier = std::make_shared<Classifier>(std::move(socket), &shared);
        shared.Register(classifier);
        classifier->Start();
      }
      Accept(acceptor);
    });
  }
};

ClientPort::ClientPort(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ClientPort::~ClientPort() { Stop(); }

absl::StatusOr<std::unique_ptr<ClientPort>> ClientPort::Bind(const std::vector<Endpoint>& endpoints,
                                                              ClientPortOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->shared.http.io = &impl->shared.io;
  impl->shared.http.providers = std::move(options.providers);
  const uint64_t max_request = static_cast<uint64_t>(std::max<int64_t>(0, options.max_request_bytes));
  // What the gRPC server still takes (the request plus gRPC's allowance), as base64 JSON.
  impl->shared.http.max_body_bytes = (max_request + 512 * 1024) / 3 * 4 + 64 * 1024;
  impl->shared.http.calls = std::make_unique<gateway::GatewayCalls>(std::move(options.in_process_channel));
  for (const Endpoint& e : endpoints) {
    // As gRPC listens: on every address the host resolves to ("localhost": 127.0.0.1 and ::1),
    // all on one port (port 0: the one the first bind picked); enough that one of them binds.
    std::string host = e.host;
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    boost::system::error_code ec;
    tcp::resolver resolver(impl->shared.io);
    auto results = resolver.resolve(host, std::to_string(e.port), tcp::resolver::passive, ec);
    if (ec || results.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("cannot resolve listen address ", e.HostPort(), ": ", ec.message()));
    }
    int port = e.port;
    size_t bound = 0;
    boost::system::error_code first_error;
    for (const auto& result : results) {
      tcp::endpoint endpoint = result.endpoint();
      endpoint.port(static_cast<unsigned short>(port));
      auto acceptor = std::make_unique<tcp::acceptor>(impl->shared.io);
      ec.clear();
      acceptor->open(endpoint.protocol(), ec);
      if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
      if (!ec && endpoint.protocol() == tcp::v6()) acceptor->set_option(boost::asio::ip::v6_only(true), ec);
      if (!ec) acceptor->bind(endpoint, ec);
      if (!ec) acceptor->listen(boost::asio::socket_base::max_listen_connections, ec);
      if (ec) {
        if (!first_error) first_error = ec;
        continue;
      }
      port = acceptor->local_endpoint().port();
      impl->acceptors.push_back(std::move(acceptor));
      ++bound;
    }
    if (bound == 0) {
      return absl::UnavailableError(absl::StrCat("cannot listen on ", e.HostPort(), ": ", first_error.message()));
    }
    impl->ports.push_back(port);
  }
  return std::unique_ptr<ClientPort>(new ClientPort(std::move(impl)));
}

const std::vector<int>& ClientPort::ports() const { return impl_->ports; }

void ClientPort::Serve(grpc::Server* grpc_server) {
  impl_->shared.grpc_server = grpc_server;
  for (auto& acceptor : impl_->acceptors) impl_->Accept(acceptor.get());
  impl_->serving = true;
  Impl* impl = impl_.get();
  impl_->thread = std::thread([impl] { impl->shared.io.run(); });
}

void ClientPort::Stop() {
  if (impl_ == nullptr || impl_->stopped) return;
  impl_->stopped = true;
  Impl* impl = impl_.get();
  if (impl->serving) {
    // On the io thread: no more accepts, every client connection closed (its stream cancelled).
    std::promise<void> closed;
    boost::asio::post(impl->shared.io, [impl, &closed] {
      for (auto& acceptor : impl->acceptors) {
        boost::system::error_code ignored;
        acceptor->close(ignored);
      }
      for (auto& weak : impl->shared.connections) {
        if (auto connection = weak.lock()) connection->Close();
      }
      impl->shared.connections.clear();
      closed.set_value();
    });
    closed.get_future().wait();
    // Calls still in flight are cancelled; their answers reach closed sockets and are dropped.
    impl->shared.http.calls->CancelAll();
    impl->shared.http.calls->WaitIdle();
    impl->shared.io.stop();
    if (impl->thread.joinable()) impl->thread.join();
    // A connection the io thread accepted just before the listeners closed may still wait in the
    // queue for its handler (which drops it, the listener being closed); stop() left it there, so
    // its socket would stay open until the ClientPort is destroyed. Run what is ready, here, now
    // that the io thread has ended.
    impl->shared.io.restart();
    impl->shared.io.poll();
  }
  impl->shared.http.calls.reset();  // anything started in between was cancelled at once; waits for it
}

}  // namespace cairn::server
