// The log storage seam between the raft state machine and durable (or in-memory) storage.
//
// Raft reads the log through this interface; it never writes to it. The caller writes: it persists
// what a Ready hands out (entries, hard state, snapshot) into its storage before calling
// RawNode::Advance, so anything raft has been told is "stable" can be read back from here.
//
// Contract for implementations (MemoryStorage here; the WAL-backed storage later):
//   * The log held is a contiguous range [FirstIndex(), LastIndex()]. Everything below FirstIndex()
//     has been compacted into the snapshot returned by GetSnapshot(), whose metadata index is
//     FirstIndex() - 1 and whose term is Term(FirstIndex() - 1) (that one term stays answerable).
//   * An empty log that never had a snapshot has FirstIndex() == 1 and LastIndex() == 0.
//   * Errors raft understands are those built by the helpers below (recognise them with the
//     Is...() predicates). Any other error is treated as unrecoverable storage failure: the
//     state machine aborts the process rather than continue on a log it cannot trust.
//   * Raft calls these methods only from the thread that drives the RawNode; an implementation
//     that is written by another thread at the same time must synchronise internally.
#ifndef CAIRN_RAFT_STORAGE_H_
#define CAIRN_RAFT_STORAGE_H_

#include <cstdint>
#include <limits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cairnpb/raft.pb.h"

namespace cairn::raft {

// "No limit" for the max_bytes arguments.
inline constexpr uint64_t kNoLimit = std::numeric_limits<uint64_t>::max();

// The requested index lies below FirstIndex(): its entry was compacted into the snapshot.
absl::Status CompactedError();
// The requested index lies above LastIndex().
absl::Status UnavailableError();
// GetSnapshot() cannot produce a snapshot right now; raft retries later.
absl::Status SnapshotTemporarilyUnavailableError();
bool IsCompactedError(const absl::Status& s);
bool IsUnavailableError(const absl::Status& s);
bool IsSnapshotTemporarilyUnavailable(const absl::Status& s);

struct InitialState {
  cairnpb::HardState hard_state;  // last persisted term, vote and commit
  cairnpb::ConfState conf_state;  // membership as of the latest snapshot
};

class Storage {
 public:
  virtual ~Storage() = default;

  // The persisted hard state and the membership from the latest snapshot. Called once, when a
  // RawNode is created.
  virtual absl::StatusOr<InitialState> GetInitialState() const = 0;

  // Entries with indexes in [lo, hi), in order. Returns at least one entry when lo < hi, and then
  // stops before the total serialized size would exceed max_bytes. CompactedError() if
  // lo < FirstIndex(); UnavailableError() if hi > LastIndex() + 1.
  virtual absl::StatusOr<std::vector<cairnpb::Entry>> Entries(uint64_t lo, uint64_t hi,
                                                              uint64_t max_bytes) const = 0;

  // Term of entry i, for i in [FirstIndex() - 1, LastIndex()]. CompactedError() below that range,
  // UnavailableError() above it.
  virtual absl::StatusOr<uint64_t> Term(uint64_t i) const = 0;

  // Index of the first entry still held (the snapshot's index + 1).
  virtual absl::StatusOr<uint64_t> FirstIndex() const = 0;

  // Index of the last entry held (the snapshot's index when no entry follows it).
  virtual absl::StatusOr<uint64_t> LastIndex() const = 0;

  // The most recent snapshot, used to catch up a follower whose next entry was compacted away.
  // May return SnapshotTemporarilyUnavailableError() while one is being produced.
  virtual absl::StatusOr<cairnpb::Snapshot> GetSnapshot() const = 0;
};

}  // namespace cairn::raft

#endif  // CAIRN_RAFT_STORAGE_H_
