// Every error the store can hand to a client, with etcd's exact message text and the absl code that
// maps 1:1 onto the gRPC status code etcd uses for it. Clients match on these strings, so they are
// wire facts: never reword them.
#pragma once

#include "absl/status/status.h"

namespace cairn::mvcc {

absl::Status ErrCompacted();         // OutOfRange "etcdserver: mvcc: required revision has been compacted"
absl::Status ErrFutureRev();         // OutOfRange "etcdserver: mvcc: required revision is a future revision"
absl::Status ErrNoSpace();           // ResourceExhausted "etcdserver: mvcc: database space exceeded"
absl::Status ErrKeyNotFound();       // InvalidArgument "etcdserver: key not found"
absl::Status ErrValueProvided();     // InvalidArgument "etcdserver: value is provided"
absl::Status ErrLeaseProvided();     // InvalidArgument "etcdserver: lease is provided"
absl::Status ErrEmptyKey();          // InvalidArgument "etcdserver: key is not provided"
absl::Status ErrLeaseNotFound();     // NotFound "etcdserver: requested lease not found"
absl::Status ErrLeaseExists();       // FailedPrecondition "etcdserver: lease already exists"

// True when `status` is the given store error (same code and message).
bool IsError(const absl::Status& status, const absl::Status& expected);

}  // namespace cairn::mvcc
