// Small reactors shared by the gRPC services: finishing a call at once with a status.
#pragma once

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "server/errors.h"

namespace cairn::server {

// Completes a unary call now with `status` (which may be OK, the response already filled).
inline grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* context,
                                             const absl::Status& status) {
  auto* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// A server-streaming call that ends at once with an error. Deletes itself when done.
template <typename Response>
class FailedWriteReactor final : public grpc::ServerWriteReactor<Response> {
 public:
  explicit FailedWriteReactor(const absl::Status& status) { this->Finish(ToGrpcStatus(status)); }
  void OnDone() override { delete this; }
};

}  // namespace cairn::server
