// The write-ahead log: segmented, append-only, checksummed, group-committed.
//
// Every write of the node (Raft entries, hard state, snapshot markers, metadata) is a Record in
// this log and is durable before it is acknowledged. On-disk format and recovery rules are in
// raft/wal/README.md; this header is the contract.
//
// Thread safety: all methods may be called from any thread. Append() is the group-commit path for
// many concurrent callers; Write()/Sync() are for one owner that batches by itself. Mixing them is
// safe (they serialize on one I/O lock) but then Append()'s "my records are contiguous" guarantee
// still holds per call, and a Sync() covers whatever was written by anyone before it.
//
// Errors: an I/O error while writing or syncing poisons the log: that call and every later
// Write/Sync/Append/ReleaseBefore return the same error. After a failed fdatasync the kernel may have
// dropped the dirty pages, so retrying could acknowledge data that is not on disk; the process must
// reopen the log (which re-reads what actually reached the disk).
//
// Background thread: with WalOptions::zero_fill_segments the Wal owns one thread (a
// SegmentPreparer) that zero-fills the next segment file ahead of time. It never takes the Wal's
// locks or touches a segment that has a name; the destructor stops and joins it (cancelling a
// preparation between 256 KiB chunks), so destroying the Wal stays prompt.
//
// Direct sync: with WalOptions::direct_sync the Wal also holds a second, O_DIRECT|O_DSYNC descriptor of
// the segment being written and an aligned buffer of its last partial 4 KiB block (a DirectTail);
// Write() then stages records there and the next Sync()/Append()/roll/destructor writes them.
//
// One process at a time: Open() takes an exclusive flock() on <dir>/LOCK and fails with
// FailedPreconditionError if another Wal holds it.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/wal/direct_tail.h"
#include "raft/wal/record.h"
#include "raft/wal/segment.h"
#include "raft/wal/segment_preparer.h"

namespace cairn::wal {

struct WalOptions {
  std::string dir;                    // created (with parents) if missing
  uint64_t segment_bytes = 64 << 20;  // roll to a new segment once the next record would pass this size
  bool sync = true;                   // fdatasync before acknowledging; false makes Sync() a no-op (tests)
  // Reserve segment_bytes with fallocate() when a segment is created, so appends do not grow the
  // file. Unused space reads as zeros, which recovery treats as end of data.
  bool preallocate = false;
  // Make every segment the log appends to a file of segment_bytes already written with zeros, so
  // appends overwrite allocated, written blocks and each fdatasync flushes only data (no size or
  // extent change to journal): about half the cost per sync on ext4. The zeros are written by a
  // background thread one segment ahead; a roll takes the prepared file (header written at offset
  // 0, synced, renamed). If it is not ready yet the roll does not wait: that segment is created
  // the old way (growing), and the first write after the next prepared file is ready rolls onto it
  // early. A brand-new log zero-fills its first segment synchronously in Open (falling back
  // to a growing one if that fails). When set,
  // `preallocate` is ignored. Segment files on disk are then segment_bytes long (see README.md).
  bool zero_fill_segments = false;
  // With zero_fill_segments (and sync): while the segment being written is zero-filled, make records
  // durable with one pwrite of whole 4 KiB blocks through a second descriptor opened
  // O_DIRECT|O_DSYNC, instead of write() + fdatasync(): cheaper per sync on this machine's ext4. Write()
  // then stages records in memory (they reach the file at the next Sync(), Append(), roll, or when the
  // Wal is destroyed); the bytes on disk are the same as without it. Falls back to write() + fdatasync()
  // on a growing segment, for the headers written at a roll, and wherever the file system refuses
  // O_DIRECT (EINVAL). Ignored without zero_fill_segments or with sync = false.
  bool direct_sync = false;
};

struct WalStats {
  uint64_t syncs = 0;             // fdatasync calls on segment files, and O_DIRECT|O_DSYNC writes with
                                  // direct_sync (including those made when rolling; not the
                                  // preparer's on files that are not segments yet)
  uint64_t bytes_written = 0;     // framed record bytes written (headers of new segments excluded)
  uint64_t records_written = 0;   // user records written (carried-forward copies excluded)
  uint64_t appends = 0;           // completed Append() calls
  uint64_t segments_created = 0;  // by this Wal object (not counting the ones found at Open)
  uint64_t segments_deleted = 0;  // by ReleaseBefore
  uint64_t live_segments = 0;     // segment files currently in the log
  uint64_t torn_bytes_dropped = 0;  // torn-tail bytes truncated away (or zeroed) by Open
  // zero_fill_segments only:
  uint64_t segments_prepared = 0;     // zero-filled files finished (background, or Open of a new log)
  uint64_t segment_prepare_errors = 0;  // preparations that failed (the log carries on, growing)
  uint64_t rolls_without_prepared_segment = 0;  // rolls that found nothing ready and made a growing segment
  uint64_t early_rolls = 0;           // rolls made only to leave a growing segment for a zero-filled one
  // direct_sync only:
  uint64_t direct_syncs = 0;          // of `syncs`, those made by an O_DIRECT|O_DSYNC write
  uint64_t direct_sync_refusals = 0;  // times O_DIRECT was refused (open or write); fell back to fdatasync
};

class Wal {
 public:
  // Opens (or creates) the log in options.dir and appends every record it holds, in log order, to
  // *replay (which may be null to skip them). On error, what was appended to *replay is unspecified.
  //
  //  - A torn tail (damage in the LAST segment with no valid record after it: partial frame, bad
  //    checksum, garbage) is truncated away; stats().torn_bytes_dropped says how many bytes.
  //  - Damage followed by a valid record, damage in any earlier segment, a missing segment in the
  //    middle of the sequence, or a bad segment header: absl::DataLossError
  //    "wal: corrupt record in <file> at offset N: <reason>" (or a message naming the file).
  //  - A segment written in another format version, or a record of a type this build does not know
  //    (with a correct checksum): absl::FailedPreconditionError.
  //
  // Replay note: the latest kMetadata, kSnapshot and kHardState records are repeated at the start of
  // every new segment (so releasing old segments never loses them). Treat those types as
  // "latest value wins", not as positions in the entry stream. Raft may also rewrite an index with a
  // later term; the later record in replay order wins.
  static absl::StatusOr<std::unique_ptr<Wal>> Open(const WalOptions& options, std::vector<Record>* replay);

  ~Wal();
  Wal(const Wal&) = delete;
  Wal& operator=(const Wal&) = delete;

  // Appends `records` contiguously (no other caller's records between them, order kept) and returns
  // once they are durable (fdatasync'ed when options.sync). Concurrent callers are committed together
  // with one write() and one fdatasync(): the first waiting caller becomes the leader and writes the
  // whole queue. Payloads above kMaxPayloadBytes: InvalidArgumentError, nothing written.
  absl::Status Append(std::vector<Record> records);

  // Writes `records` (kernel page cache; with direct_sync, a staging buffer in memory) without waiting
  // for durability. May roll segments; rolling syncs the finished segment, so a later Sync() covers
  // everything written before it.
  absl::Status Write(const std::vector<Record>& records);
  // Makes everything written so far durable. A no-op when options.sync is false.
  absl::Status Sync();

  // Deletes the oldest segments, in order, while each one's kEntry/kSnapshot records all have
  // index < `index` (a segment holding none qualifies). Stops at the first segment that does not
  // qualify and never deletes the segment being written. Call it once everything below `index` is
  // covered by a durable snapshot / the durably applied store.
  absl::Status ReleaseBefore(uint64_t index);

  WalStats stats() const;
  // Index of the last kEntry record written or replayed, raised to the index of any later kSnapshot
  // record (0 if none). Informational: the Wal does not check that indexes increase.
  uint64_t last_index() const;
  const std::string& dir() const { return options_.dir; }

  // Tests only (zero_fill_segments): while paused the background preparer starts no new file.
  void PauseSegmentPreparerForTesting(bool paused);
  // Tests only (direct_sync): act as if the file system refused O_DIRECT, at the next segment's open
  // (`at_open`) or at the next write through the current one (and every segment after).
  void RefuseDirectIoForTesting(bool at_open);

 private:
  struct Segment {
    SegmentId id;
    std::string path;
    uint64_t max_entry_index = 0;
  };
  struct Writer;

  explicit Wal(const WalOptions& options);

  absl::Status Recover(std::vector<Record>* replay);
  absl::Status OpenTailForAppend(const Segment& segment, const ScannedSegment& scanned, uint64_t file_size)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(io_mu_);
  absl::Status WriteGroupsLocked(const std::vector<const std::vector<Record>*>& groups)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(io_mu_);
  absl::Status SyncLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(io_mu_);
  absl::Status RollLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(io_mu_);
  // `prepared_fd` >= 0: an open zero-filled file at prepared_path() to turn into the segment (this
  // call takes ownership); -1: create a fresh, growing file.
  absl::Status CreateSegmentLocked(const SegmentId& id, int prepared_fd) ABSL_EXCLUSIVE_LOCKS_REQUIRED(io_mu_);
  std::string prepared_path() const;
  void NoteRecordLocked(const Record& record) ABSL_EXCLUSIVE_LOCKS_REQUIRED(io_mu_);
  absl::Status Poison(absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(io_mu_);
  // direct_sync: start writing the segment `path` open in fd_ (at write_offset_, zero-filled up to
  // `writable_end`) through a DirectTail; stays buffered if that is not possible.
  void StartDirectTailLocked(const std::string& path, uint64_t writable_end) ABSL_EXCLUSIVE_LOCKS_REQUIRED(io_mu_);
  // Makes the DirectTail's staged bytes durable (one sync), falling back to write() + fdatasync()
  // if O_DIRECT is refused. An error is an I/O error: the caller poisons.
  absl::Status FlushDirectTailLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(io_mu_);
  // fdatasyncs the segment being written (buffered writes), counting the sync and clearing dirty_.
  absl::Status DataSyncTailLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(io_mu_);
  // Flushes and drops the DirectTail (at a roll, or before the segment goes on buffered).
  absl::Status FinishDirectTailLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(io_mu_);

  const WalOptions options_;
  int lock_fd_ = -1;
  // Set once in Open (after recovery) when zero_fill_segments; immutable afterwards.
  std::unique_ptr<SegmentPreparer> preparer_;

  // Writer queue for Append(): the front writer is the leader. Lock order: queue_mu_ is never held
  // while taking io_mu_.
  std::mutex queue_mu_;
  std::deque<Writer*> writers_ ABSL_GUARDED_BY(queue_mu_);

  mutable std::mutex io_mu_;
  absl::Status error_ ABSL_GUARDED_BY(io_mu_);  // sticky after an I/O failure
  int fd_ ABSL_GUARDED_BY(io_mu_) = -1;         // the segment being written
  uint64_t write_offset_ ABSL_GUARDED_BY(io_mu_) = 0;
  uint64_t user_records_in_segment_ ABSL_GUARDED_BY(io_mu_) = 0;
  // The segment being written is segment_bytes of written zeros past write_offset_ (or was found
  // at least that long at Open), so appends to it need no metadata.
  bool tail_zero_filled_ ABSL_GUARDED_BY(io_mu_) = false;
  // direct_sync: set while the segment's end is written through O_DIRECT; then write_offset_
  // includes bytes staged in it but not yet in the file, and dirty_ means "staged, not flushed".
  std::unique_ptr<DirectTail> direct_ ABSL_GUARDED_BY(io_mu_);
  bool refuse_direct_open_for_testing_ ABSL_GUARDED_BY(io_mu_) = false;
  bool refuse_direct_writes_for_testing_ ABSL_GUARDED_BY(io_mu_) = false;
  std::deque<Segment> segments_ ABSL_GUARDED_BY(io_mu_);
  uint64_t last_index_ ABSL_GUARDED_BY(io_mu_) = 0;
  bool dirty_ ABSL_GUARDED_BY(io_mu_) = false;  // written since the last fdatasync
  // Latest-wins records carried into each new segment, in this order.
  std::optional<Record> latest_metadata_ ABSL_GUARDED_BY(io_mu_);
  std::optional<Record> latest_snapshot_ ABSL_GUARDED_BY(io_mu_);
  std::optional<Record> latest_hard_state_ ABSL_GUARDED_BY(io_mu_);
  std::string scratch_ ABSL_GUARDED_BY(io_mu_);
  WalStats stats_ ABSL_GUARDED_BY(io_mu_);
  std::atomic<uint64_t> appends_{0};
};

}  // namespace cairn::wal
