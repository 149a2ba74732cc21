// The plaintext (http://) client listeners. cairnd accepts these connections itself and looks at
// the first bytes each client sends: an HTTP/2 connection preface ("PRI * HTTP/2.0") is handed,
// socket and all, to the gRPC server (grpc::AddInsecureChannelFromFd), which serves it from then
// on exactly as a connection it had accepted; anything else is HTTP/1.x (server/client_http):
// /health, /metrics, /version (the same answers as --listen-metrics-urls) and etcd's v3 JSON
// gateway under /v3/ and /v3beta/ (server/gateway).
//
// https:// client URLs are not served here: gRPC's TLS server owns those sockets (gRPC only).
//
// Threads: one, owned by the ClientPort, runs accepts, the peeks and every HTTP connection;
// gateway calls complete on gRPC's threads and hand their answers back to it.
// Ownership: the gRPC server given to Serve() must outlive Stop(); Stop() must run before the gRPC
// server shuts down (no connection is handed to a stopping server, no gateway call is left).
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "server/config.h"
#include "server/http_endpoint.h"

namespace cairn::server {

struct ClientPortOptions {
  HttpProviders providers;
  // A JSON body is larger than the request it carries (bytes in base64): bodies beyond what the
  // gRPC server could still take, 4/3 * (max_request_bytes + 512 KiB) + 64 KiB, are refused with
  // etcd's "request is too large" and the connection closed. Below that the request itself is
  // checked by the services, exactly as for a gRPC client.
  int64_t max_request_bytes = 1536 * 1024;
  // The gRPC server's in-process channel; called once, at the first gateway call.
  std::function<std::shared_ptr<grpc::Channel>()> in_process_channel;
};

class ClientPort {
 public:
  // Binds every endpoint (port 0 picks one); accepts nothing until Serve().
  static absl::StatusOr<std::unique_ptr<ClientPort>> Bind(const std::vector<Endpoint>& endpoints,
                                                          ClientPortOptions options);
  ~ClientPort();  // Stop()s

  // The ports bound, in the order of the endpoints.
  const std::vector<int>& ports() const;

  // Starts accepting; HTTP/2 connections go to `grpc_server`.
  void Serve(grpc::Server* grpc_server);

  // Closes the listeners and every HTTP connection, cancels gateway calls and waits for them,
  // joins the thread. Connections already handed to gRPC are gRPC's. Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit ClientPort(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn::server
