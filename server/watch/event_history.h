// cairn::watch::EventHistory — the store's past, as the watch hub needs it for catching watchers up.
//
// The hub never reads the store directly: the member adapts mvcc::Store to this interface, and tests use an
// in-memory fake. Implementations must be thread-safe (the hub's catch-up thread calls them while the writer
// thread commits).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "mvccpb/kv.pb.h"

namespace cairn::watch {

class EventHistory {
 public:
  virtual ~EventHistory() = default;

  // Appends to *out the events with revision >= from_rev, in revision order, for keys in [key, range_end)
  // (etcd's range rules: empty range_end = the single key, "\0" = every key >= key), prev_kv filled when the
  // previous version still exists. Returns at most about max_events events; a revision's events MAY be split
  // across calls (the hub copes). Sets *next_rev to the revision to continue from (current revision + 1 when
  // nothing is left). Fails with OutOfRange "etcdserver: mvcc: required revision has been compacted" when
  // from_rev is below what the store still holds.
  virtual absl::Status ReadEvents(const std::string& key, const std::string& range_end, int64_t from_rev,
                                  size_t max_events, std::vector<mvccpb::Event>* out,
                                  int64_t* next_rev) const = 0;

  // Revision of the last committed write (1 for an empty store, as etcd).
  virtual int64_t CurrentRevision() const = 0;
  // Highest compaction revision applied; -1 or 0 when never compacted.
  virtual int64_t CompactedRevision() const = 0;
};

}  // namespace cairn::watch
