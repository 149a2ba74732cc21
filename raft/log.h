// RaftLog: the state machine's view of its log — what Storage already holds (stable) followed by
// entries and possibly a snapshot not yet handed to the caller for persistence (unstable) — plus
// the commit and apply positions. Internal to raft; not thread-safe.
#ifndef CAIRN_RAFT_LOG_H_
#define CAIRN_RAFT_LOG_H_

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "raft/storage.h"

namespace cairn::raft {

// Entries (and a snapshot) accepted by the state machine but not yet reported persisted.
// entries[i] has index offset + i. A snapshot, if present, precedes the entries.
struct UnstableLog {
  std::optional<cairnpb::Snapshot> snapshot;
  std::vector<cairnpb::Entry> entries;
  uint64_t offset = 0;

  std::optional<uint64_t> MaybeFirstIndex() const;
  std::optional<uint64_t> MaybeLastIndex() const;
  std::optional<uint64_t> MaybeTerm(uint64_t i) const;
  void StableTo(uint64_t index, uint64_t term);
  void StableSnapshotTo(uint64_t index);
  void Restore(const cairnpb::Snapshot& s);
  void TruncateAndAppend(std::vector<cairnpb::Entry> ents);
  // Appends copies of the entries in [lo, hi) to *out.
  void AppendSliceTo(uint64_t lo, uint64_t hi, std::vector<cairnpb::Entry>* out) const;
};

class RaftLog {
 public:
  // Aborts if storage cannot report its bounds.
  explicit RaftLog(const Storage* storage, uint64_t max_next_entries_bytes = kNoLimit);

  uint64_t committed() const { return committed_; }
  uint64_t applied() const { return applied_; }
  const UnstableLog& unstable() const { return unstable_; }

  uint64_t FirstIndex() const;
  uint64_t LastIndex() const;
  uint64_t LastTerm() const;
  // Term of entry i, or CompactedError/UnavailableError when it is outside the log.
  absl::StatusOr<uint64_t> Term(uint64_t i) const;
  // Term of entry i, 0 when it is unknown.
  uint64_t TermOrZero(uint64_t i) const;
  bool MatchTerm(uint64_t i, uint64_t term) const;
  // Candidate's log (last_index, last_term) is at least as up to date as ours (§5.4.1).
  bool IsUpToDate(uint64_t last_index, uint64_t last_term) const;

  // Follower side of AppendEntries: if our entry at `index` has `log_term`, appends `ents` after
  // it (dropping any conflicting suffix) and advances commit. Returns the new last index covered.
  std::optional<uint64_t> MaybeAppend(uint64_t index, uint64_t log_term, uint64_t commit,
                                      const std::vector<cairnpb::Entry>& ents);
  // Appends after truncating at ents[0].index. Returns the new last index.
  uint64_t Append(std::vector<cairnpb::Entry> ents);
  // First index whose entry in `ents` disagrees with ours (0 when none); ents are consecutive.
  uint64_t FindConflict(const std::vector<cairnpb::Entry>& ents) const;
  // Largest index <= index whose term is <= term, with that term: where a peer whose log has
  // `term` at `index` may match ours. Used for fast backtracking on both sides.
  std::pair<uint64_t, uint64_t> FindConflictByTerm(uint64_t index, uint64_t term) const;

  // Entries in [lo, hi), at most max_bytes (but at least one). CompactedError when lo is compacted.
  absl::StatusOr<std::vector<cairnpb::Entry>> Slice(uint64_t lo, uint64_t hi,
                                                    uint64_t max_bytes) const;
  // Entries from i to the end, limited by max_bytes.
  absl::StatusOr<std::vector<cairnpb::Entry>> EntriesFrom(uint64_t i, uint64_t max_bytes) const;

  // Committed entries not yet applied (handed out in a Ready).
  std::vector<cairnpb::Entry> NextCommittedEntries() const;
  bool HasNextCommittedEntries() const;
  const std::vector<cairnpb::Entry>& UnstableEntries() const { return unstable_.entries; }
  absl::StatusOr<cairnpb::Snapshot> Snapshot() const;

  // Commits max_index if its entry is from `term` (a leader commits only current-term entries by
  // counting, §5.4.2). Returns whether commit advanced.
  bool MaybeCommit(uint64_t max_index, uint64_t term);
  void CommitTo(uint64_t index);
  void AppliedTo(uint64_t index);
  void StableTo(uint64_t index, uint64_t term) { unstable_.StableTo(index, term); }
  void StableSnapshotTo(uint64_t index) { unstable_.StableSnapshotTo(index); }
  // Replaces the log with a snapshot received from the leader.
  void Restore(const cairnpb::Snapshot& s);

 private:
  const Storage* storage_;
  UnstableLog unstable_;
  uint64_t committed_ = 0;
  uint64_t applied_ = 0;
  uint64_t max_next_entries_bytes_;
};

// Serialized size of the entries, as Storage::Entries counts it.
uint64_t EntriesSize(const std::vector<cairnpb::Entry>& ents);

}  // namespace cairn::raft

#endif  // CAIRN_RAFT_LOG_H_
