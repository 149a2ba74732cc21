// Lease errors a client can see, with etcd's codes and exact texts (clients match on them). The two
// the store also raises (lease not found / already exists) live in mvcc/errors.h and are re-exported
// here so lease code has one place to look.
#pragma once

#include "absl/status/status.h"
#include "mvcc/errors.h"

namespace cairn::lease {

using mvcc::ErrLeaseExists;    // FailedPrecondition "etcdserver: lease already exists"
using mvcc::ErrLeaseNotFound;  // NotFound "etcdserver: requested lease not found"
absl::Status ErrLeaseTtlTooLarge();  // OutOfRange "etcdserver: too large lease TTL"
absl::Status ErrNoLeader();          // Unavailable "etcdserver: no leader"
absl::Status ErrStopped();           // Unavailable "etcdserver: server stopped"

}  // namespace cairn::lease
