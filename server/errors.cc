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
absl::Status ErrNotLeader() { return absl::FailedPreconditionError("etcdserver: not leader"); }
absl::Status ErrTimeout() { return absl::UnavailableError("etcdserver: request timed out"); }
absl::Status ErrLeaderChanged() { return absl::UnavailableError("etcdserver: leader changed"); }
absl::Status ErrUnhealthy() { return absl::UnavailableError("etcdserver: unhealthy cluster"); }
absl::Status ErrNotEnoughStartedMembers() {
  // Unknown: etcd 3.4 has no gRPC mapping for this error, so its clients see code Unknown.
  return absl::UnknownError("etcdserver: re-configuration failed due to not enough started members");
}
absl::Status ErrMemberNotLearner() {
  return absl::FailedPreconditionError("etcdserver: can only promote a learner member");
}
absl::Status ErrLearnerNotReady() {
  return absl::FailedPreconditionError("etcdserver: can only promote a learner member which is in sync with leader");
}

absl::Status ErrRootUserNotExist() {
  return absl::FailedPreconditionError("etcdserver: root user does not exist");
}
absl::Status ErrRootRoleNotExist() {
  return absl::FailedPreconditionError("etcdserver: root user does not have root role");
}
absl::Status ErrUserAlreadyExist() { return absl::FailedPreconditionError("etcdserver: user name already exists"); }
absl::Status ErrUserEmpty() { return absl::InvalidArgumentError("etcdserver: user name is empty"); }
absl::Status ErrUserNotFound() { return absl::FailedPreconditionError("etcdserver: user name not found"); }
absl::Status ErrRoleAlreadyExist() { return absl::FailedPreconditionError("etcdserver: role name already exists"); }
absl::Status ErrRoleNotFound() { return absl::FailedPreconditionError("etcdserver: role name not found"); }
absl::Status ErrRoleEmpty() { return absl::InvalidArgumentError("etcdserver: role name is empty"); }
absl::Status ErrAuthFailed() {
  return absl::InvalidArgumentError("etcdserver: authentication failed, invalid user ID or password");
}
absl::Status ErrPermissionDenied() { return absl::PermissionDeniedError("etcdserver: permission denied"); }
absl::Status ErrRoleNotGranted() {
  return absl::FailedPreconditionError("etcdserver: role is not granted to the user");
}
absl::Status ErrPermissionNotGranted() {
  return absl::FailedPreconditionError("etcdserver: permission is not granted to the role");
}
absl::Status ErrAuthNotEnabled() { return absl::FailedPreconditionError("etcdserver: authentication is not enabled"); }
absl::Status ErrInvalidAuthToken() { return absl::UnauthenticatedError("etcdserver: invalid auth token"); }
absl::Status ErrInvalidAuthMgmt() { return absl::InvalidArgumentError("etcdserver: invalid auth management"); }
absl::Status ErrAuthOldRevision() {
  return absl::InvalidArgumentError("etcdserver: revision of auth store is old");
}
absl::Status ErrNoPasswordUser() {
  return absl::UnknownError("auth: authentication failed, password was given for no password user");
}

absl::Status AsUnconvertedAuthError(const absl::Status& status) {
  static constexpr std::pair<const char*, const char*> kTexts[] = {
      {"etcdserver: user name is empty", "auth: user name is empty"},
      {"etcdserver: user name not found", "auth: user not found"},
      {"etcdserver: permission denied", "auth: permission denied"},
      {"etcdserver: invalid auth token", "auth: invalid auth token"},
  };
  for (const auto& [wire, raw] : kTexts) {
    if (status.message() == wire) return absl::UnknownError(raw);
  }
  return status;
}

std::string GoGrpcErrorText(const absl::Status& status) {
  // Go's codes.Code.String(), indexed by code number.
  static constexpr const char* kNames[] = {"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded",
                                           "NotFound", "AlreadyExists", "PermissionDenied", "ResourceExhausted",
                                           "FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented",
                                           "Internal", "Unavailable", "DataLoss", "Unauthenticated"};
  const int code = static_cast<int>(status.code());
  const std::string name = code >= 0 && code < 17 ? kNames[code] : "Code(" + std::to_string(code) + ")";
  return "rpc error: code = " + name + " desc = " + std::string(status.message());
}

absl::Status Unimplemented(const std::string& method) {
  return absl::UnimplementedError("cairn: " + method + " is not implemented yet");
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace cairn::server
