// What the lease code reads from the store: the persisted leases (to rebuild the lessor at start-up
// or on promotion), the keys attached to one lease (LeaseTimeToLive keys=true) and the current
// revision (response headers). An interface so the lessor and service can be tested without LMDB.
// Implementations must be thread-safe: gRPC threads call these concurrently with the writer.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace cairn::mvcc {
class Store;
}

namespace cairn::lease {

struct LeaseRecord {
  int64_t id = 0;
  int64_t ttl = 0;            // granted TTL in seconds, as logged
  int64_t remaining_ttl = 0;  // seconds left at the last applied lease checkpoint; 0 when none
};

class LeaseRecords {
 public:
  virtual ~LeaseRecords() = default;
  // Every lease granted and not revoked, as of the last commit, in any order.
  virtual absl::Status AllLeases(std::vector<LeaseRecord>* out) const = 0;
  // The user keys currently attached to lease `id` (none if it has no keys or does not exist).
  virtual absl::Status KeysOf(int64_t id, std::vector<std::string>* out) const = 0;
  // The store's current revision.
  virtual int64_t Revision() const = 0;
};

// LeaseRecords over the real store (Store::ListLeases / LeaseKeys / CurrentRevision). `store` must
// outlive the returned object.
std::unique_ptr<LeaseRecords> StoreLeaseRecords(const mvcc::Store* store);

}  // namespace cairn::lease
