#include "server/client_http.h"

#include <array>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "server/gateway/http_message.h"
#include "server/gateway/json_codec.h"
#include "server/gateway/routes.h"

namespace cairn::server {
namespace {

using boost::asio::ip::tcp;
namespace gw = cairn::gateway;

constexpr size_t kMaxHeadBytes = 64 * 1024;
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

// One HTTP/1.x connection: requests are read and answered one at a time (keep-alive for plain
// answers; a stream ends its connection). Lives on the io thread; holds itself through handlers.
class HttpSession : public ClientConnection, public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket socket, ClientHttpContext* context)
      : socket_(std::move(socket)), timer_(*context->io), context_(context) {}

  void Start() { ReadHead(); }

 private:
  void ArmHeadTimer() {
    timer_.expires_after(kClientRequestTimeout);
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
    if (declared > context_->max_body_bytes) {
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

  // A bidi stream (watch, keep-alive) whose body is chunked starts at once and is sent each
  // request object as it arrives, as grpc-gateway reads them: a client can keep the body open and
  // add or cancel watches on the same stream.
  bool StreamsAsBodyArrives() const {
    if (!head_.chunked) return false;
    const gw::RouteMatch match = gw::MatchRoute(head_.method, head_.path);
    return match.match == gw::Match::kRoute && match.route->shape == gw::CallShape::kBidiStream;
  }

  void ReadStreamingBody() {
    const gw::ChunkedDecoder::Progress progress = chunked_.Feed(&in_, &body_);
    if (progress == gw::ChunkedDecoder::Progress::kMalformed) {
      Close();  // the answer has begun (or may have): nothing sensible can be said any more
      return;
    }
    std::vector<absl::string_view> objects;
    const size_t consumed = gw::TakeCompleteJsonObjects(body_, &objects);
    for (absl::string_view object : objects) SendStreamRequest(object);
    body_.erase(0, consumed);
    if (progress == gw::ChunkedDecoder::Progress::kDone) {
      if (!absl::StripAsciiWhitespace(body_).empty()) SendStreamRequest(body_);  // cut short: refused
      if (stream_) stream_->CloseSend();  // as grpc-gateway at the body's end
      WatchForHangUp();
      return;
    }
    if (body_.size() > context_->max_body_bytes) {
      Close();
      return;
    }
    ReadMore([](HttpSession* s) { s->ReadStreamingBody(); });
  }

  void SendStreamRequest(absl::string_view json) {
    if (stream_ == nullptr || request_error_) return;
    absl::Status sent = stream_->Send(json);
    if (sent.ok()) {
      ++requests_sent_;
    } else if (requests_sent_ == 0) {
      // As grpc-gateway: a first request it cannot decode fails the call (500, code 2).
      request_error_ = std::string(sent.message());
      stream_->Cancel();
    }
  }

  void ReadBody() {
    if (StreamsAsBodyArrives()) {
      timer_.cancel();
      StartStream(*gw::MatchRoute(head_.method, head_.path).route, /*body_complete=*/false);
      if (stream_) ReadStreamingBody();
      return;
    }
    if (head_.chunked) {
      switch (chunked_.Feed(&in_, &body_)) {
        case gw::ChunkedDecoder::Progress::kMalformed:
          WriteAndClose(Reply(400, "text/plain; charset=utf-8", "400 Bad Request", false));
          return;
        case gw::ChunkedDecoder::Progress::kDone:
          Dispatch();
          return;
        case gw::ChunkedDecoder::Progress::kNeedMore:
          if (body_.size() > context_->max_body_bytes) {
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
    if (auto answer = AnswerOperatorPath(context_->providers, head_.method, head_.path)) {
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
      context_->calls->Unary(*match.route, body_, head_.authorization, [self, keep_alive](gw::UnaryReply reply) {
        boost::asio::post(*self->context_->io, [self, keep_alive, reply = std::move(reply)] {
          self->WriteAnswer(Reply(reply.http_status, "application/json", reply.json, keep_alive));
        });
      });
      return;
    }
    StartStream(*match.route, /*body_complete=*/true);
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

  // `body_complete`: the requests are all in body_; otherwise they are sent as they arrive.
  void StartStream(const gw::Route& route, bool body_complete) {
    std::vector<std::string> requests;
    if (body_complete) {
      for (absl::string_view value : gw::SplitJsonValues(body_)) requests.emplace_back(value);
    }
    auto self = shared_from_this();
    gw::StreamHandlers handlers;
    handlers.on_result = [self](std::string json) {
      boost::asio::post(*self->context_->io, [self, json = std::move(json)] { self->StreamResult(json); });
    };
    handlers.on_end = [self](const grpc::Status& status) {
      boost::asio::post(*self->context_->io, [self, status] { self->StreamEnd(status); });
    };
    auto call = context_->calls->Stream(route, std::move(requests), head_.authorization, std::move(handlers));
    if (!call.ok()) {
      // grpc-gateway: a bidi stream's first request it cannot decode is an error of its own (500,
      // code 2); a server stream's request is refused as a unary call's (400, code 3).
      const int code = call.status().code() == absl::StatusCode::kInvalidArgument ? 3 : 2;
      WriteAndClose(Reply(gw::HttpStatusForGrpcCode(code), "application/json",
                          gw::ErrorJson(code, call.status().message()), false));
      return;
    }
    stream_ = std::move(*call);
    if (body_complete) {
      // grpc-gateway half-closes the call once the body has ended: a keep-alive stream then ends
      // after its answers (etcd's server returns at EOF); a watch stream goes on.
      stream_->CloseSend();
      WatchForHangUp();
    }
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
    if (request_error_ && !head_sent_) {
      stream_.reset();
      WriteAndClose(Reply(500, "application/json", gw::ErrorJson(2, *request_error_), false));
      return;
    }
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
  ClientHttpContext* context_;
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
  size_t requests_sent_ = 0;                  // on a stream whose body is still arriving
  std::optional<std::string> request_error_;  // its first request could not be decoded
};

}  // namespace

std::shared_ptr<ClientConnection> ServeHttp(tcp::socket socket, ClientHttpContext* context) {
  auto session = std::make_shared<HttpSession>(std::move(socket), context);
  session->Start();
  return session;
}

}  // namespace cairn::server
