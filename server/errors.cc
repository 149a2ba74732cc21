#include "server/errors.h"

#include <string>

namespace cairn::server {

absl::Status ErrTooManyOps() {
  return absl::InvalidArgumentError("etcdserver: too many operations in txn request");
}
absl::Status ErrDuplicateKey() {
  return absl::InvalidArgumentError("etcdserver: duplicate key given in txn request");
}
absl::Status ErrRequestTooLarge() {
  return absl::InvalidArgumentError("etcdserver: request is too large");
}
absl::Status ErrStopped() { return absl::UnavailableError("etcdserver: server stopped"); }
absl::Status ErrMemberNotFound() { return absl::NotFoundError("etcdserver: member not found"); }
absl::Status ErrNoLeader() { return absl::UnavailableError("etcdserver: no leader"); }
absl::Status ErrTimeout() { return absl::UnavailableError("etcdserver: request timed out"); }
absl::Status ErrLeaderChanged() { return absl::UnavailableError("etcdserver: leader changed"); }

absl::Status Unimplemented(const std::string& method) {
  return absl::UnimplementedError("cairn: " + method + " is not implemented yet");
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace cairn::server
