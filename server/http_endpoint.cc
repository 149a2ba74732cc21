#include "server/http_endpoint.h"

#include <array>
#include <thread>

#include <boost/asio.hpp>

#include "absl/strings/str_cat.h"

namespace cairn::server {
namespace {

using boost::asio::ip::tcp;

const char* Reason(int code) {
  switch (code) {
    case 200: return "OK";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 503: return "Service Unavailable";
    default: return "";
  }
}

std::string Reply(int code, const std::string& type, const std::string& body) {
  return absl::StrCat("HTTP/1.1 ", code, " ", Reason(code), "\r\nContent-Type: ", type,
                      "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
}

// One connection: read the request line, answer, close. Keeps itself alive through its handlers.
class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(tcp::socket socket, const HttpProviders* providers)
      : socket_(std::move(socket)), providers_(providers) {}

  void Start() {
    auto self = shared_from_this();
    boost::asio::async_read_until(socket_, request_, "\r\n\r\n",
                                  [self](boost::system::error_code ec, size_t) {
                                    if (!ec) self->Answer();
                                  });
  }

 private:
  void Answer() {
    std::istream in(&request_);
    std::string method, target;
    in >> method >> target;
    if (size_t q = target.find('?'); q != std::string::npos) target.resize(q);
    if (auto answer = AnswerOperatorPath(*providers_, method, target)) {
      reply_ = Reply(answer->status, answer->content_type, answer->body);
    } else {
      reply_ = Reply(404, "text/plain", "404 page not found\n");
    }
    auto self = shared_from_this();
    boost::asio::async_write(socket_, boost::asio::buffer(reply_),
                             [self](boost::system::error_code, size_t) {
                               boost::system::error_code ignored;
                               self->socket_.shutdown(tcp::socket::shutdown_both, ignored);
                             });
  }

  tcp::socket socket_;
  const HttpProviders* providers_;
  boost::asio::streambuf request_;
  std::string reply_;
};

}  // namespace

std::optional<HttpAnswer> AnswerOperatorPath(const HttpProviders& providers, const std::string& method,
                                             const std::string& path) {
  const bool known = path == "/health" || path == "/livez" || path == "/readyz" || path == "/metrics" ||
                     path == "/version";
  if (!known) return std::nullopt;
  if (method != "GET" && method != "HEAD") return HttpAnswer{405, "text/plain", "method not allowed\n"};
  if (path == "/metrics") {
    return HttpAnswer{200, "text/plain; version=0.0.4", providers.metrics ? providers.metrics() : std::string()};
  }
  if (path == "/version") return HttpAnswer{200, "application/json", providers.version_json};
  std::string reason = providers.health ? providers.health() : std::string();
  std::string body = absl::StrCat("{\"health\":\"", reason.empty() ? "true" : "false", "\",\"reason\":\"",
                                  reason, "\"}");
  return HttpAnswer{reason.empty() ? 200 : 503, "application/json", std::move(body)};
}

struct HttpEndpoint::Impl {
  HttpProviders providers;
  boost::asio::io_context io;
  tcp::acceptor acceptor{io};
  std::thread thread;

  void Accept() {
    acceptor.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (ec == boost::asio::error::operation_aborted) return;
      if (!ec) std::make_shared<Exchange>(std::move(socket), &providers)->Start();
      Accept();
    });
  }
};

HttpEndpoint::HttpEndpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

absl::StatusOr<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(const std::string& host, int port,
                                                                  HttpProviders providers) {
  auto impl = std::make_unique<Impl>();
  impl->providers = std::move(providers);
  boost::system::error_code ec;
  tcp::resolver resolver(impl->io);
  auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec || results.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot resolve metrics address ", host, ": ", ec.message()));
  }
  tcp::endpoint endpoint = *results.begin();
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(64, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("cannot listen for metrics on ", host, ":", port, ": ", ec.message()));
  }
  impl->Accept();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->io.run(); });
  return std::unique_ptr<HttpEndpoint>(new HttpEndpoint(std::move(impl)));
}

HttpEndpoint::~HttpEndpoint() {
  boost::asio::post(impl_->io, [this] {
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
  });
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int HttpEndpoint::port() const { return impl_->acceptor.local_endpoint().port(); }

}  // namespace cairn::server
