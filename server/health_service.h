// grpc.health.v1.Health on the client port, as etcd registers it. The overall service ("") is
// SERVING while the member runs, whatever the raft state (a liveness probe must not restart the
// members of a cluster that merely lost its leader; /health on the metrics listener reports
// that), and NOT_SERVING from the start of shutdown, so load balancers drain the member first.
// Any other service name is NOT_FOUND for Check and SERVICE_UNKNOWN for Watch, as etcd answers.
// (gRPC's built-in health service is not used: gRPC leaves it out when a generic service, our
// UnimplementedService, is registered.)
//
// Thread model: gRPC callback threads; Shutdown() from the member's stopping thread. One mutex
// guards the open Watch streams.
#pragma once

#include <mutex>
#include <set>

#include "grpchealth/health.grpc.pb.h"

namespace cairn::server {

class HealthService final : public grpc::health::v1::Health::CallbackService {
 public:
  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const grpc::health::v1::HealthCheckRequest* request,
                                  grpc::health::v1::HealthCheckResponse* response) override;
  grpc::ServerWriteReactor<grpc::health::v1::HealthCheckResponse>* Watch(
      grpc::CallbackServerContext* context, const grpc::health::v1::HealthCheckRequest* request) override;

  // NOT_SERVING from now on; every open Watch stream is told so and finished.
  void Shutdown();

 private:
  class WatchReactor;
  void Forget(WatchReactor* reactor);

  std::mutex mu_;
  bool shutting_down_ = false;
  std::set<WatchReactor*> watches_;
};

}  // namespace cairn::server
