#include "mvcc/errors.h"

namespace cairn::mvcc {

absl::Status ErrCompacted() {
  return absl::OutOfRangeError("etcdserver: mvcc: required revision has been compacted");
}
absl::Status ErrFutureRev() {
  return absl::OutOfRangeError("etcdserver: mvcc: required revision is a future revision");
}
absl::Status ErrNoSpace() { return absl::ResourceExhaustedError("etcdserver: mvcc: database space exceeded"); }
absl::Status ErrKeyNotFound() { return absl::InvalidArgumentError("etcdserver: key not found"); }
absl::Status ErrValueProvided() { return absl::InvalidArgumentError("etcdserver: value is provided"); }
absl::Status ErrLeaseProvided() { return absl::InvalidArgumentError("etcdserver: lease is provided"); }
absl::Status ErrEmptyKey() { return absl::InvalidArgumentError("etcdserver: key is not provided"); }
absl::Status ErrLeaseNotFound() { return absl::NotFoundError("etcdserver: requested lease not found"); }
absl::Status ErrLeaseExists() { return absl::FailedPreconditionError("etcdserver: lease already exists"); }

bool IsError(const absl::Status& status, const absl::Status& expected) {
  return status.code() == expected.code() && status.message() == expected.message();
}

}  // namespace cairn::mvcc
