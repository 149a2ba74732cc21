#include "server/lease/lease_errors.h"

namespace cairn::lease {

absl::Status ErrLeaseTtlTooLarge() { return absl::OutOfRangeError("etcdserver: too large lease TTL"); }
absl::Status ErrNoLeader() { return absl::UnavailableError("etcdserver: no leader"); }
absl::Status ErrStopped() { return absl::UnavailableError("etcdserver: server stopped"); }

}  // namespace cairn::lease
