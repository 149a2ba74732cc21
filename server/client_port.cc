#include "server/client_port.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <future>
#include <thread>

#include <boost/asio.hpp>
#include <grpcpp/server_posix.h>

#include "absl/strings/str_cat.h"
#include "server/gateway/gateway_calls.h"
#include "server/gateway/http_message.h"
#include "server/gateway/json_codec.h"
#include "server/gateway/routes.h"

namespace cairn::server {
namespace {

using boost::asio::ip::tcp;
namespace gw = cairn::gateway;

constexpr char kHttp2Preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
// "PRI " already tells HTTP/2 apart from every HTTP/1 method.
constexpr size_t kPeekBytes = 4;
constexpr size_t kMaxHeadBytes = 64 * 1024;
// A connection that has not sent a complete request (head and body) by then is closed; so is a
// keep-alive connection idle that long.
constexpr auto kHeadTimeout = std::chrono::seconds(60);
// Beyond this a body over the limit is not even read: the connection is answered and closed.
constexpr uint64_t kMaxDiscardBytes = 64 * 1024 * 1024;

// etcd's default (--cors '*'): every answer allows any origin, and a preflight OPTIONS is answered
// 200 with nothing else (cairnd has no --cors flag).
constexpr char kCorsHeaders[] =
    "Access-Control-Allow-Headers: accept, content-type, authorization\r\n"
    "Access-Control-Allow-Methods: POST, GET, OPTIONS, PUT, DELETE\r\n"
    "Access-Control-Allow-Origin: *\r\n";

std::string Reply(int status, absl::string_view content_type, absl::string_view body, bool keep_alive) {
  return gw::Response(status, content_type, body, keep_alive, kCorsHeaders);
}

std::string ReplyHead(int status, absl::string_view content_type, std::optional<size_t> length, bool keep_alive) {
  return gw::ResponseHead(status, content_type, length, keep_alive, kCorsHeaders);
}

// Whatever holds a client socket on the io thread, so that Stop() can close them all.
class Connection {
 public:
  virtual ~Connection() = default;
  virtual void Close() = 0;
};

struct Shared {
  boost::asio::io_context io;
  // Touched only on the io thread. Expired entries are swept as new ones come.
  std::vector<std::weak_ptr<Connection>> connections;
  void Register(std::weak_ptr<Connection> connection) {
    if (connections.size() >= 64 && connections.size() % 64 == 0) {
      std::erase_if(connections, [](const std::weak_ptr<Connection>& c) { return c.expired(); });
    }
    connections.push_back(std::move(connection));
  }
  HttpProviders providers;
  uint64_t max_body_bytes = 0;
  std::unique_ptr<gw::GatewayCalls> calls;
  grpc::Server* grpc_server = nullptr;
};

// One HTTP/1.x connection: requests are read and answered one at a time (keep-alive for plain
// answers; a stream ends its connection). Lives on the io thread; holds itself through handlers.
class HttpSession : public Connection, public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket socket, Shared* shared)
      : socket_(std::move(socket)), timer_(shared->io), shared_(shared) {}

  void Start() { ReadHead(); }

 private:
  void ArmHeadTimer() {
    timer_.expires_after(kHeadTimeout);
    auto self = shared_from_this();
    timer_.async_wait([self](boost::system::error_code ec) {
      if (!ec) self->Close();
    });
  }

  void ReadHead() {
    if (size_t end = gw::FindHeadEnd(in_); end != std::string::npos) {
      auto head = gw::ParseRequestHead(absl::string_view(in_).substr(0, end));
      in_.erase(0, end);
      if (!head.ok()) {
        WriteAndClose(Reply(400, "text/plain; charset=utf-8", "400 Bad Request", false));
        return;
      }
      head_ = std::move(*head);
      StartBody();
      return;
    }
    if (in_.size() > kMaxHeadBytes) {
      WriteAndClose(Reply(431, "text/plain; charset=utf-8", "431 Request Header Fields Too Large", false));
      return;
    }
    if (!timer_armed_) {
      timer_armed_ = true;
      ArmHeadTimer();
    }
    ReadMore([](HttpSession* s) { s->ReadHead(); });
  }

  template <typename Then>
  void ReadMore(Then then) {
    auto self = shared_from_this();
    socket_.async_read_some(boost::asio::buffer(scratch_), [self, then](boost::system::error_code ec, size_t n) {
      if (ec) {
        self->Close();
        return;
      }
      self->in_.append(self->scratch_.data(), n);
      then(self.get());
    });
  }

  void StartBody() {
    body_.clear();
    chunked_ = gw::ChunkedDecoder();
    const uint64_t declared = head_.content_length.value_or(0);
    if (declared > shared_->max_body_bytes) {
      // As etcd answers a request over --max-request-bytes. The body is read and dropped first
      // (within reason): most clients send it all before they read the answer. A client that
      // waits for "100 Continue" is answered at once instead.
      if (head_.expect_continue || declared > kMaxDiscardBytes) {
        WriteAndClose(TooLarge());
        return;
      }
      discard_remaining_ = declared;
      DiscardBody();
      return;
    }
    if (head_.expect_continue && (declared > 0 || head_.chunked)) {
      auto self = shared_from_this();
      continue_ = "HTTP/1.1 100 Continue\r\n\r\n";
      boost::asio::async_write(socket_, boost::asio::buffer(continue_), [self](boost::system::error_code ec, size_t) {
        if (ec) {
          self->Close();
          return;
        }
        self->ReadBody();
      });
      return;
    }
    ReadBody();
  }

  static std::string TooLarge() {
    return Reply(400, "application/json", gw::ErrorJson(3, "etcdserver: request is too large"), false);
  }

  void DiscardBody() {
    const size_t take = std::min<uint64_t>(discard_remaining_, in_.size());
    in_.erase(0, take);
    discard_remaining_ -= take;
    if (discard_remaining_ == 0) {
      WriteAndClose(TooLarge());
      return;
    }
    ReadMore([](HttpSession* s) { s->DiscardBody(); });
  }

  void ReadBody() {
    if (head_.chunked) {
      switch (chunked_.Feed(&in_, &body_)) {
        case gw::ChunkedDecoder::Progress::kMalformed:
          WriteAndClose(Reply(400, "text/plain; charset=utf-8", "400 Bad Request", false));
          return;
        case gw::ChunkedDecoder::Progress::kDone:
          Dispatch();
          return;
        case gw::ChunkedDecoder::Progress::kNeedMore:
          if (body_.size() > shared_->max_body_bytes) {
            WriteAndClose(TooLarge());
            return;
          }
          ReadMore([](HttpSession* s) { s->ReadBody(); });
          return;
      }
    }
    const size_t want = head_.content_length.value_or(0);
    if (in_.size() >= want) {
      body_ = in_.substr(0, want);
      in_.erase(0, want);
      Dispatch();
      return;
    }
    ReadMore([](HttpSession* s) { s->ReadBody(); });
  }

  // The whole request is in: the time limit on receiving it ends.
  void Dispatch() {
    timer_.cancel();
    if (head_.method == "OPTIONS") {
      WriteAnswer(Reply(200, "", "", head_.keep_alive));
      return;
    }
    if (auto answer = AnswerOperatorPath(shared_->providers, head_.method, head_.path)) {
      if (head_.method == "HEAD") {  // the GET answer's head alone
        WriteAnswer(ReplyHead(answer->status, answer->content_type, answer->body.size(), head_.keep_alive));
      } else {
        WriteAnswer(Reply(answer->status, answer->content_type, answer->body, head_.keep_alive));
      }
      return;
    }
    const gw::RouteMatch match = gw::MatchRoute(head_.method, head_.path);
    switch (match.match) {
      case gw::Match::kNotGateway:
        WriteAnswer(Reply(404, "text/plain; charset=utf-8", "404 page not found\n", head_.keep_alive));
        return;
      case gw::Match::kNotFound:
        WriteAnswer(Reply(404, "text/plain; charset=utf-8", "Not Found\n", head_.keep_alive));
        return;
      case gw::Match::kMethodNotAllowed:
        WriteAnswer(Reply(405, "text/plain; charset=utf-8", "Method Not Allowed\n", head_.keep_alive));
        return;
      case gw::Match::kRoute:
        break;
    }
    if (match.route->shape == gw::CallShape::kUnary) {
      auto self = shared_from_this();
      const bool keep_alive = head_.keep_alive;
      shared_->calls->Unary(*match.route, body_, head_.authorization, [self, keep_alive](gw::UnaryReply reply) {
        boost::asio::post(self->shared_->io, [self, keep_alive, reply = std::move(reply)] {
          self->WriteAnswer(Reply(reply.http_status, "application/json", reply.json, keep_alive));
        });
      });
      return;
    }
    StartStream(*match.route);
  }

  // A complete answer; then the next request on this connection, or the end of it.
  void WriteAnswer(std::string response) {
    out_ = std::move(response);
    auto self = shared_from_this();
    boost::asio::async_write(socket_, boost::asio::buffer(out_), [self](boost::system::error_code ec, size_t) {
      if (ec || !self->head_.keep_alive) {
        self->Close();
        return;
      }
      self->timer_armed_ = false;
      self->ReadHead();
    });
  }

  void WriteAndClose(std::string response) {
    head_.keep_alive = false;
    WriteAnswer(std::move(response));
  }

  void StartStream(const gw::Route& route) {
    std::vector<std::string> requests;
    for (absl::string_view value : gw::SplitJsonValues(body_)) requests.emplace_back(value);
    auto self = shared_from_this();
    gw::StreamHandlers handlers;
    handlers.on_result = [self](std::string json) {
      boost::asio::post(self->shared_->io, [self, json = std::move(json)] { self->StreamResult(json); });
    };
    handlers.on_end = [self](const grpc::Status& status) {
      boost::asio::post(self->shared_->io, [self, status] { self->StreamEnd(status); });
    };
    auto call = shared_->calls->Stream(route, std::move(requests), head_.authorization, std::move(handlers));
    if (!call.ok()) {
      // grpc-gateway: a request it cannot decode is an error of its own (500, code 2).
      WriteAndClose(Reply(500, "application/json", gw::ErrorJson(2, call.status().message()), false));
      return;
    }
    stream_ = std::move(*call);
    WatchForHangUp();
  }

  // While a stream runs the client sends nothing more; its EOF means it went away.
  void WatchForHangUp() {
    auto self = shared_from_this();
    socket_.async_read_some(boost::asio::buffer(scratch_), [self](boost::system::error_code ec, size_t) {
      if (ec) {
        self->hung_up_ = true;
        if (self->stream_) self->stream_->Cancel();
        return;
      }
      self->WatchForHangUp();
    });
  }

  void StreamResult(const std::string& json) {
    std::string out;
    if (!head_sent_) {
      head_sent_ = true;
      out = ReplyHead(200, "application/json", std::nullopt, false);
    }
    absl::StrAppend(&out, gw::Chunk(absl::StrCat(json, "\n")));
    QueueStreamWrite(std::move(out), /*then_next=*/true);
  }

  void StreamEnd(const grpc::Status& status) {
    std::string out;
    if (!status.ok() && !hung_up_) {
      if (!head_sent_) {
        out = ReplyHead(gw::HttpStatusForGrpcCode(status.error_code()), "application/json", std::nullopt,
                               false);
      }
      absl::StrAppend(&out, gw::Chunk(gw::StreamErrorJson(status.error_code(), status.error_message())));
    } else if (!head_sent_) {
      out = ReplyHead(200, "application/json", std::nullopt, false);
    }
    head_sent_ = true;
    absl::StrAppend(&out, gw::Chunk(""));
    stream_ended_ = true;
    QueueStreamWrite(std::move(out), /*then_next=*/false);
  }

  void QueueStreamWrite(std::string data, bool then_next) {
    stream_out_.push_back({std::move(data), then_next});
    if (!writing_) WriteNextStreamPiece();
  }

  void WriteNextStreamPiece() {
    if (stream_out_.empty()) {
      writing_ = false;
      if (stream_ended_) {
        stream_.reset();
        Close();
      }
      return;
    }
    writing_ = true;
    auto self = shared_from_this();
    boost::asio::async_write(socket_, boost::asio::buffer(stream_out_.front().data),
                             [self](boost::system::error_code ec, size_t) {
                               const bool then_next = self->stream_out_.front().then_next;
                               self->stream_out_.pop_front();
                               if (ec) {
                                 self->hung_up_ = true;
                                 if (self->stream_) self->stream_->Cancel();
                               } else if (then_next && self->stream_) {
                                 self->stream_->Next();
                               }
                               self->WriteNextStreamPiece();
                             });
  }

  void Close() override {
    if (stream_) stream_->Cancel();
    boost::system::error_code ignored;
    timer_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  struct Piece {
    std::string data;
    bool then_next;
  };

  tcp::socket socket_;
  boost::asio::steady_timer timer_;
  Shared* shared_;
  std::array<char, 16 * 1024> scratch_{};
  std::string in_;
  std::string body_;
  std::string out_;
  std::string continue_;
  gw::HttpRequestHead head_;
  gw::ChunkedDecoder chunked_;
  bool timer_armed_ = false;
  uint64_t discard_remaining_ = 0;
  std::shared_ptr<gw::StreamCall> stream_;
  std::deque<Piece> stream_out_;
  bool writing_ = false;
  bool head_sent_ = false;
  bool stream_ended_ = false;
  bool hung_up_ = false;
};

// Decides what a new connection speaks from its first bytes (left in the socket for whoever
// serves it).
class Classifier : public Connection, public std::enable_shared_from_this<Classifier> {
 public:
  Classifier(tcp::socket socket, Shared* shared) : socket_(std::move(socket)), timer_(shared->io), shared_(shared) {}

  void Start() {
    timer_.expires_after(kHeadTimeout);
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
      auto session = std::make_shared<HttpSession>(std::move(socket_), shared_);
      shared_->Register(session);
      session->Start();
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
  impl->shared.providers = std::move(options.providers);
  const uint64_t max_request = static_cast<uint64_t>(std::max<int64_t>(0, options.max_request_bytes));
  // What the gRPC server still takes (the request plus gRPC's allowance), as base64 JSON.
  impl->shared.max_body_bytes = (max_request + 512 * 1024) / 3 * 4 + 64 * 1024;
  impl->shared.calls = std::make_unique<gw::GatewayCalls>(std::move(options.in_process_channel));
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
    impl->shared.calls->CancelAll();
    impl->shared.calls->WaitIdle();
    impl->shared.io.stop();
    if (impl->thread.joinable()) impl->thread.join();
  }
  impl->shared.calls.reset();  // anything started in between was cancelled at once; waits for it
}

}  // namespace cairn::server
