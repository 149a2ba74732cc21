// MemoryStorage: a Storage kept entirely in memory, for tests, the simulator and benchmarks.
//
// It plays the part of the durable log: the caller writes what each Ready asks to persist
// (SetHardState, Append, ApplySnapshot) and compacts it after taking snapshots (CreateSnapshot,
// Compact). Thread-safe: every method takes an internal lock, so an application thread may
// compact while the raft thread reads.
#ifndef CAIRN_RAFT_MEMORY_STORAGE_H_
#define CAIRN_RAFT_MEMORY_STORAGE_H_

#include <vector>

#include "absl/synchronization/mutex.h"
#include "raft/storage.h"

namespace cairn::raft {

class MemoryStorage : public Storage {
 public:
  MemoryStorage();

  absl::StatusOr<InitialState> GetInitialState() const override;
  absl::StatusOr<std::vector<cairnpb::Entry>> Entries(uint64_t lo, uint64_t hi,
                                                      uint64_t max_bytes) const override;
  absl::StatusOr<uint64_t> Term(uint64_t i) const override;
  absl::StatusOr<uint64_t> FirstIndex() const override;
  absl::StatusOr<uint64_t> LastIndex() const override;
  absl::StatusOr<cairnpb::Snapshot> GetSnapshot() const override;

  void SetHardState(const cairnpb::HardState& hs);
  cairnpb::HardState hard_state() const;

  // Appends entries, replacing any held entries from entries[0].index on. Entries at or below the
  // snapshot are skipped. Fails (InvalidArgument) if the new entries would leave a gap. Takes the
  // entries by value: a caller done with its vector moves it in.
  absl::Status Append(std::vector<cairnpb::Entry> entries);

  // Replaces the whole log with the snapshot. Fails (FailedPrecondition) if it is older than the
  // snapshot already held.
  absl::Status ApplySnapshot(const cairnpb::Snapshot& snapshot);

  // Records a snapshot of the application state at `index` (which must be held and not above
  // `LastIndex()`); the log itself is untouched until Compact(). Fails with CompactedError() if
  // index is at or below the current snapshot.
  absl::StatusOr<cairnpb::Snapshot> CreateSnapshot(uint64_t index, const cairnpb::ConfState& cs,
                                                   std::string data);

  // Drops the entries below compact_index. compact_index must be <= LastIndex(); the entry at
  // compact_index becomes the new "dummy" whose term stays answerable. CompactedError() if
  // already compacted past it.
  absl::Status Compact(uint64_t compact_index);

 private:
  uint64_t FirstIndexLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  uint64_t LastIndexLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  cairnpb::HardState hard_state_ ABSL_GUARDED_BY(mu_);
  cairnpb::Snapshot snapshot_ ABSL_GUARDED_BY(mu_);
  // entries_[0] is a placeholder standing for the snapshot's (index, term); real entries follow.
  std::vector<cairnpb::Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cairn::raft

#endif  // CAIRN_RAFT_MEMORY_STORAGE_H_
