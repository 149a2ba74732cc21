#include "tools/ctl/metrics_fetch.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tools/ctl/go_format.h"

namespace cairn::ctl {
namespace {

// A member that accepts the connection but never answers must not hang the check forever.
constexpr int kIoTimeoutSeconds = 30;

// Go's net error words for connect(2) failures, so the message reads like etcdctl's.
std::string DialError(const std::string& hostport, int err) {
  return absl::StrCat("dial tcp ", hostport, ": connect: ", err == ECONNREFUSED ? "connection refused" : std::strerror(err));
}

absl::StatusOr<std::string> HttpGet(const std::string& host, const std::string& port, const std::string& path) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return absl::UnavailableError(absl::StrCat("dial tcp: lookup ", host, ": ", gai_strerror(rc)));
  }
  int fd = -1;
  int last_err = 0;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    timeval tv{kIoTimeoutSeconds, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      last_err = errno;
      ::close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) return absl::UnavailableError(DialError(host + ":" + port, last_err));
  std::string request = absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: ", host, ":", port,
                                     "\r\nUser-Agent: cairnctl\r\nConnection: close\r\n\r\n");
  for (size_t sent = 0; sent < request.size();) {
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      int e = errno;
      ::close(fd);
      return absl::UnavailableError(absl::StrCat("write tcp ", host, ":", port, ": ", std::strerror(e)));
    }
    sent += static_cast<size_t>(n);
  }
  std::string response;
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return absl::UnavailableError(absl::StrCat("read tcp ", host, ":", port, ": ", std::strerror(e)));
    }
    if (n == 0) break;
    response.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return response;
}

// The body of an HTTP/1.1 response, undoing chunked transfer coding when it is used.
absl::StatusOr<std::string> ResponseBody(const std::string& response) {
  size_t head_end = response.find("\r\n\r\n");
  if (head_end == std::string::npos) return absl::DataLossError("malformed HTTP response");
  std::string head = absl::AsciiStrToLower(response.substr(0, head_end));
  std::string body = response.substr(head_end + 4);
  if (!absl::StrContains(head, "transfer-encoding: chunked")) return body;
  std::string out;
  size_t at = 0;
  for (;;) {
    size_t eol = body.find("\r\n", at);
    if (eol == std::string::npos) return absl::DataLossError("unexpected EOF");
    unsigned long size = std::strtoul(body.substr(at, eol - at).c_str(), nullptr, 16);
    if (size == 0) return out;
    if (eol + 2 + size > body.size()) return absl::DataLossError("unexpected EOF");
    out.append(body, eol + 2, size);
    at = eol + 2 + size + 2;
  }
}

}  // namespace

absl::StatusOr<double> FindMetric(const std::string& text, const std::string& metric) {
  std::string value;
  bool seen = false;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StartsWith(line, metric)) {
      value = std::string(absl::StripAsciiWhitespace(line.substr(metric.size())));
      seen = true;
      break;
    }
  }
  if (!seen || value.empty()) return absl::NotFoundError("could not find: " + metric);
  double v = 0;
  if (!absl::SimpleAtod(value, &v)) {
    return absl::InvalidArgumentError(
        absl::StrCat("parse error: strconv.ParseFloat: parsing ", GoQuote(value), ": invalid syntax"));
  }
  return v;
}

absl::StatusOr<double> FetchMetric(const std::string& endpoint, const std::string& metric) {
  std::string base = endpoint;
  if (absl::StartsWith(base, "https://")) {
    return absl::UnimplementedError("fetch error: cairnctl reads /metrics over plain HTTP only (" + base + ")");
  }
  if (!absl::StartsWith(base, "http://")) base = "http://" + base;
  const std::string url = base + "/metrics";
  std::string hostport = base.substr(7);
  hostport = hostport.substr(0, hostport.find('/'));
  std::string host = hostport, port = "80";
  if (size_t colon = hostport.rfind(':'); colon != std::string::npos && hostport.find(']', colon) == std::string::npos) {
    host = hostport.substr(0, colon);
    port = hostport.substr(colon + 1);
  }
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) host = host.substr(1, host.size() - 2);
  auto response = HttpGet(host, port, "/metrics");
  if (!response.ok()) {
    return absl::UnavailableError(absl::StrCat("fetch error: Get ", GoQuote(url), ": ", response.status().message()));
  }
  auto body = ResponseBody(*response);
  if (!body.ok()) {
    return absl::DataLossError(absl::StrCat("fetch error: reading ", url, ": ", body.status().message()));
  }
  return FindMetric(*body, metric);
}

}  // namespace cairn::ctl
