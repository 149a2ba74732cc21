#include "server/errors.h"

#include <string>

namespace cairn::server {

absl::Status ErrEmptyKey() { return absl::InvalidArgumentError("etcdserver: key is not provided"); }
absl::Status ErrKeyNotFound() { return absl::InvalidArgumentError("etcdserver: key not found"); }
absl::Status ErrValueProvided() { return absl::InvalidArgumentError("etcdserver: value is provided"); }
absl::Status ErrLeaseProvided() { return absl::InvalidArgumentError("etcdserver: lease is provided"); }
absl::Status ErrTooManyOps() {
  return absl::InvalidArgumentError("etcdserver: too many operations in txn request");
}
absl::Status ErrDuplicateKey() {
  return absl::InvalidArgumentError("etcdserver: duplicate key given in txn request");
}
absl::Status ErrRequestTooLarge() {
  return absl::InvalidArgumentError("etcdserver: request is too large");
}
absl::Status ErrNoSpace() {
  return absl::ResourceExhaustedError("etcdserver: mvcc: database space exceeded");
}
absl::Status ErrStopped() { return absl::UnavailableError("etcdserver: server stopped"); }
absl::Status ErrTimeout() { return absl::UnavailableError("etcdserver: request timed out"); }
absl::Status ErrNotCapable() { return absl::UnavailableError("etcdserver: not capable"); }
absl::Status ErrMemberNotFound() { return absl::NotFoundError("etcdserver: member not found"); }

absl::Status Unimplemented(const std::string& method) {
  return absl::UnimplementedError("cairn: " + method + " is not implemented yet");
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace cairn::server
