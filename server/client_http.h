// HTTP/1.x on a plaintext client port: one connection's requests read and answered in turn —
// /health, /metrics, /version (AnswerOperatorPath, the metrics listener's answers) and etcd's v3
// JSON gateway (server/gateway) — with etcd's default CORS headers on every answer. Plain answers
// keep the connection alive; a streaming route's answer ends it.
//
// Threading: everything runs on the thread running `context->io`; gateway calls complete on
// gRPC's threads and post back to it. The context must outlive the io_context's handlers.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <utility>  // boost/asio.hpp needs std::exchange

#include <boost/asio.hpp>

#include "server/gateway/gateway_calls.h"
#include "server/http_endpoint.h"

namespace cairn::server {

// A connection that has not sent a whole request (head and body) within this is closed; so is
// one idle this long between requests, or one that never says what it speaks.
inline constexpr auto kClientRequestTimeout = std::chrono::seconds(60);

// Whatever holds a client socket on the io thread, so that the port can close them all at stop.
class ClientConnection {
 public:
  virtual ~ClientConnection() = default;
  virtual void Close() = 0;  // io thread only; cancels a stream in progress
};

struct ClientHttpContext {
  boost::asio::io_context* io = nullptr;
  HttpProviders providers;
  // Larger bodies get etcd's "request is too large" and the connection is closed.
  uint64_t max_body_bytes = 0;
  std::unique_ptr<gateway::GatewayCalls> calls;
};

// Serves HTTP/1.x on `socket` (its first bytes still unread) until either side closes.
// Call on the io thread. The returned connection lives as long as it has work in flight.
std::shared_ptr<ClientConnection> ServeHttp(boost::asio::ip::tcp::socket socket, ClientHttpContext* context);

}  // namespace cairn::server
