// One running cairnd member: owns the data dir, the log, the store, the write pipeline and the
// gRPC server, and starts and stops them in the right order.
//
// Start-up: data dir checks → store open (no scan: cost independent of key count) → log open and
// replay of entries the store had not applied → writer thread → listeners.
// Shutdown: listeners stop taking calls and in-flight calls finish → writer drains → files close.
#pragma once

#include <chrono>

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "server/config.h"
#include "server/http_endpoint.h"

namespace cairn::server {

struct ListenerTls;  // server/listener_tls.h

class Member {
 public:
  static absl::StatusOr<std::unique_ptr<Member>> Start(const Config& config);
  ~Member();  // Shutdown()s

  void Shutdown();
  // The ports actually bound, in the order of --listen-client-urls (useful with port 0).
  const std::vector<int>& client_ports() const;
  const std::vector<int>& metrics_ports() const;  // --listen-metrics-urls, in order
  uint64_t member_id() const;

 private:
  struct Parts;  // server/member_parts.h
  // member_listeners.cc: the client port's gRPC server (and HTTP/1 beside it on http:// URLs),
  // the peer port's, and what the HTTP endpoints serve.
  static absl::Status StartClientServer(Parts* parts, const Config& config, const ListenerTls& client_tls);
  static absl::Status StartPeerServer(Parts* parts, const Config& config, const ListenerTls& peer_tls);
  static HttpProviders MakeHttpProviders(Parts* parts);
  static void StartRemovalWatch(Parts* parts, std::chrono::milliseconds period);
  static void StartAutoCompactor(Parts* parts, const Config& config);
  explicit Member(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace cairn::server
