#include "server/concurrency/errors.h"

#include "absl/strings/match.h"

namespace cairn::concurrency {

grpc::Status ForCaller(const grpc::Status& backend_status) {
  if (backend_status.ok()) return backend_status;
  if (absl::StartsWith(backend_status.error_message(), "etcdserver: ")) {
    return grpc::Status(grpc::StatusCode::UNKNOWN, backend_status.error_message());
  }
  return backend_status;
}

grpc::Status ElectionNoLeader() {
  return grpc::Status(grpc::StatusCode::UNKNOWN, "election: no leader");
}

grpc::Status ElectionNotLeader() {
  return grpc::Status(grpc::StatusCode::UNKNOWN, "election: not leader");
}

grpc::Status MissingLeaderKey() {
  return grpc::Status(grpc::StatusCode::UNKNOWN, "\"leader\" field must be provided");
}

}  // namespace cairn::concurrency
