// A small HTTP/1.1 listener (Boost.Asio) for what operators and load balancers poll:
//   GET /health   {"health":"true","reason":""}    (503 with health "false" when unhealthy)
//   GET /metrics  Prometheus text exposition
//   GET /version  {"etcdserver":"3.5.0","etcdcluster":"3.5.0"}
// It runs on its own thread, serves one short request per connection, and never touches the store
// directly: it calls the providers it was given, which must be thread-safe and fast.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace cairn::server {

struct HttpProviders {
  // Empty string: healthy. Otherwise the reason it is not.
  std::function<std::string()> health;
  std::function<std::string()> metrics;  // Prometheus text
  std::string version_json;
};

// One answer to an operator's request, framed by whoever serves the connection.
struct HttpAnswer {
  int status = 200;
  std::string content_type;
  std::string body;
};

// The answer for /health (/livez, /readyz), /metrics and /version, or nullopt for any other path.
// The metrics listener and the client port's HTTP both answer through this one function.
std::optional<HttpAnswer> AnswerOperatorPath(const HttpProviders& providers, const std::string& method,
                                             const std::string& path);

class HttpEndpoint {
 public:
  // Binds host:port (port 0 picks one) and starts serving.
  static absl::StatusOr<std::unique_ptr<HttpEndpoint>> Start(const std::string& host, int port,
                                                             HttpProviders providers);
  ~HttpEndpoint();  // stops and joins
  int port() const;

 private:
  struct Impl;
  explicit HttpEndpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn::server
