// cairn::mvcc::Store — etcd's revisioned key-value store (mvcc) on LMDB.
//
// Semantics are etcd 3.4's: an empty store is at revision 1; every write request that changes
// something takes the next main revision (one per request, however many keys it touches) and each
// changed key a sub revision within it; a DeleteRange that deletes nothing, or a txn whose chosen
// branch only reads, takes none. Reads can be served at any revision >= the compacted revision.
//
// Thread model: exactly one thread writes (the server's apply loop), through BeginWrite()/Commit()
// and CompactStep(), never two of those at once. Any number of threads may call the const methods
// concurrently with each other and with the writer; a read sees the last committed batch.
//
// Durability: see StoreOptions; by default a commit is crash-consistent but not durable on its own:
// the server's WAL is the durable record and is replayed from AppliedIndex()+1 at start. The applied
// index/term are written in the same LMDB transaction as the data they cover, so a replay never
// applies an entry twice.
//
// Space: the quota bounds the pages in use (DbSizeInUse()), checked by the member that receives a
// write before proposing it (HasRoomFor), as etcd does. Applying never refuses a request for its
// size (members' page counts differ; the same log must give the same store everywhere): what was
// accepted goes into the map headroom beyond the quota, as do deletes and compaction, so an operator
// can free space. Only a full LMDB map fails a batch (ErrNoSpace, nothing kept). See mvcc/README.md.
#pragma once

#include <lmdb.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "etcdserverpb/rpc.pb.h"
#include "mvcc/errors.h"
#include "mvcc/tables.h"
#include "mvcc/write_batch.h"
#include "mvccpb/kv.pb.h"

namespace cairn::mvcc {

struct StoreOptions {
  std::string dir;                    // created if missing; holds LMDB's data.mdb and lock.mdb
  uint64_t quota_bytes = 2ull << 30;  // etcd's default backend quota
  // How a commit reaches the disk. Default (both false): LMDB's MDB_NOMETASYNC — the data pages are
  // fdatasync'ed at each commit, the meta page only with the next one, so a power loss can undo the
  // last commit (the WAL replays it from AppliedIndex()+1) but never leaves a corrupt file.
  bool sync_commits = false;  // also sync the meta page: every commit durable on its own
  bool no_sync = false;       // MDB_NOSYNC: no fsync at all. Survives process crashes, but a power
                              // loss can corrupt the file. For tests and benchmarks.
  // Extra LMDB map space beyond the quota that only deletes, compaction, pages freed but not yet
  // reusable, and commit bookkeeping can use. 0 picks max(quota/4, 8 MiB); at least 1 MiB.
  uint64_t headroom_bytes = 0;
  unsigned max_readers = 1024;        // concurrent read transactions (LMDB reader slots)
};

// Rejects a Put that can never succeed, before it is proposed: empty key, ignore_value with a value,
// ignore_lease with a lease. (Whether the key exists is only known when applying.)
absl::Status ValidatePut(const etcdserverpb::PutRequest& request);

// Whether either branch of the txn, at any nesting depth, puts a key. Txns that only read or delete
// stay possible when the quota is reached (NOSPACE), so space can be freed.
bool TxnHasPuts(const etcdserverpb::TxnRequest& request);

class Store {
 public:
  // Opens or creates the store in options.dir. Costs the same whatever the number of keys (the key
  // index is on disk), except once: a store of the previous format (cairn-mvcc-2) is converted, in
  // one transaction, and ConvertedOnOpen() says so. FailedPrecondition if the directory holds any
  // other format.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const StoreOptions& options);
  // The format this Open converted from ("" when the store already had this build's format).
  const std::string& ConvertedOnOpen() const { return converted_from_; }
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // etcd's Range: fills kvs, more, count and header.revision (the current revision). Errors:
  // ErrFutureRev, ErrCompacted.
  absl::Status Range(const etcdserverpb::RangeRequest& request, etcdserverpb::RangeResponse* response) const;

  // Starts the single write batch (writer thread only). nullptr while another batch is open (not
  // yet committed or destroyed) or if LMDB cannot start a write transaction.
  std::unique_ptr<WriteBatch> BeginWrite();

  int64_t CurrentRevision() const { return current_revision_.load(std::memory_order_acquire); }
  // Highest accepted compaction revision; -1 if the store was never compacted (etcd's convention).
  int64_t CompactedRevision() const { return compact_revision_.load(std::memory_order_acquire); }
  uint64_t AppliedIndex() const { return applied_index_.load(std::memory_order_acquire); }
  uint64_t AppliedTerm() const { return applied_term_.load(std::memory_order_acquire); }
  // True while a compaction's old revisions are not all removed from disk yet.
  bool CompactionPending() const { return compaction_pending_.load(std::memory_order_acquire); }

  // Removes up to `max_revisions` revisions' worth of compacted history in its own write txn (writer
  // thread, between batches). Returns true when no compaction work remains.
  absl::StatusOr<bool> CompactStep(size_t max_revisions);

  // Lease records as granted through WriteBatch::LeaseGrant (for the lessor to load at start), and
  // the keys currently attached to one lease (LeaseTimeToLive keys=true), in key order.
  struct LeaseRecord {
    int64_t id = 0;
    int64_t ttl = 0;
    int64_t remaining_ttl = 0;  // from the last WriteBatch::LeaseCheckpoint; 0 when none
  };
  absl::Status ListLeases(std::vector<LeaseRecord>* leases) const;
  absl::Status LeaseKeys(int64_t id, std::vector<std::string>* keys) const;

  // Store images, for bringing a member that fell too far behind up to date (raft snapshots).
  // CopyTo writes a consistent, compacted image of the store as of the last commit into the file
  // `path` (replaced if present); any thread, concurrently with the writer.
  absl::Status CopyTo(const std::string& path) const;
  // The image's applied index and term, without changing anything.
  static absl::Status ReadImagePoint(const std::string& path, uint64_t* applied_index, uint64_t* applied_term);
  // Replaces the whole content of this store with the image's, in one write transaction: readers
  // see either the old content or the new, never a mix. Writer thread, no batch open. The image
  // must have this build's format, or format 2 (converted in that same transaction); afterwards
  // every accessor reports the image's state.
  absl::Status ReplaceContentsFrom(const std::string& path);

  // The membership record last written with WriteBatch::SetMembership ("" if never written).
  absl::StatusOr<std::string> Membership() const;
  // The auth record last written with WriteBatch::SetAuthState ("" if never written). Any thread.
  absl::StatusOr<std::string> AuthState() const;
  // The alarm record last written with WriteBatch::SetAlarms ("" if never written). Any thread.
  absl::StatusOr<std::string> Alarms() const;

  // Makes every committed batch durable (fsync), whatever sync_commits says. After it returns, the
  // log entries up to AppliedIndex() are no longer needed for recovery. Writer thread only.
  absl::Status Sync();

  // Drops this process's page-table mappings of the data file. LMDB reads and writes through a
  // shared map, so every page ever touched stays mapped and counted in the process's RSS until the
  // kernel needs the memory; as commits move pages around the file, that grows to the whole file.
  // The pages stay in the kernel's page cache, written ones still dirty (nothing is lost or read
  // again from disk); the next access to one maps it again with a minor fault. Safe from any thread
  // with readers running; cairnd calls it on the writer thread between write batches.
  void ReleaseMappedPages() const;

  // Versions (including deletion markers) physically stored; for tests and metrics.
  int64_t StoredVersions() const;

  // Operations this store has executed since it opened, for etcd's etcd_mvcc_*_total metrics: puts,
  // deletes and ranges (inside txns too: applied writes, Range calls, a txn's executed branch), and
  // txns that executed more than one operation (etcd's rule). Relaxed counters: any thread.
  struct OpCounts {
    uint64_t puts = 0, deletes = 0, ranges = 0, txns = 0;
  };
  OpCounts op_counts() const {
    return OpCounts{puts_.load(std::memory_order_relaxed), deletes_.load(std::memory_order_relaxed),
                    ranges_.load(std::memory_order_relaxed), txns_.load(std::memory_order_relaxed)};
  }

  // Bytes of the data file (Maintenance.Status dbSize) and bytes of it in use (dbSizeInUse).
  int64_t DbSize() const;
  int64_t DbSizeInUse() const;

  // The quota check made before proposing a write (etcd's backend quota): whether the pages in use
  // as of the last commit plus the most this request can add stay within the quota. No LMDB
  // transaction: O(1) for a put and a lease grant, O(ops) for a txn (true when it puts nothing).
  // An estimate: writes accepted since the last commit are not counted, so a burst can go past
  // the quota by up to one batch, into the headroom. Any thread.
  bool HasRoomFor(const etcdserverpb::PutRequest& request) const;
  bool HasRoomFor(const etcdserverpb::TxnRequest& request) const;
  bool HasRoomForLease() const;
  // Whether the pages in use as of the last commit exceed the quota by more than half the headroom:
  // writes accepted by other members (or a burst) are eating the space kept for deletes and
  // compaction, and the map is getting near full. Any thread, O(1).
  bool NearMapLimit() const;

  // CRC-32C of the key space's history as seen at `rev` (<= 0: current), independent of how far
  // physical compaction got, so equal on every member that applied the same log. Sets
  // *hash_revision to the revision hashed and *compact_revision to the compacted revision.
  absl::StatusOr<uint32_t> HashKV(int64_t rev, int64_t* hash_revision, int64_t* compact_revision) const;

  // CRC-32C of every table's stored bytes (table name, then each key and value in table order), as
  // one read transaction sees them: etcd's Maintenance.Hash, a check for tests and debugging. It
  // covers physical layout (e.g. how far compaction's removal got, the applied index), so members
  // agree only when idle at the same applied index; HashKV is the one to compare members with.
  absl::StatusOr<uint32_t> Hash() const;

  // Events of keys in (key, range_end) (etcd's range convention) with revision >= from_rev, in
  // revision order, prev_kv filled when the previous version still exists. Stops after the revision
  // at which max_events is reached (a revision's events are never split) and sets *next_rev to the
  // revision to continue from (max(from_rev, current revision + 1) when caught up). ErrCompacted if
  // from_rev < the compacted revision, ErrFutureRev never (a future from_rev just yields nothing).
  absl::Status ReadEvents(absl::string_view key, absl::string_view range_end, int64_t from_rev, size_t max_events,
                          std::vector<mvccpb::Event>* events, int64_t* next_rev) const;

 private:
  friend class WriteBatch;
  Store() = default;

  // A reset read txn from the pool (or a fresh one), renewed; returned with ReleaseReader.
  absl::StatusOr<MDB_txn*> AcquireReader() const;
  void ReleaseReader(MDB_txn* txn) const;
  void Publish(const internal::StoreState& state);
  int64_t PagesInUse(MDB_txn* txn) const;
  void RefreshPagesInUse();  // after a commit made without a WriteBatch (open, image install)
  bool HasRoomForPages(int64_t pages_bound) const;
  absl::StatusOr<std::string> ReadMetaRecord(const char* key, const char* what) const;

  MDB_env* env_ = nullptr;
  internal::Tables tables_;
  StoreOptions options_;
  uint64_t quota_pages_ = 0;
  uint64_t headroom_pages_ = 0;
  size_t page_size_ = 4096;
  std::string converted_from_;
  void* map_base_ = nullptr;  // LMDB's map of the data file, for ReleaseMappedPages
  size_t map_length_ = 0;
  bool batch_open_ = false;  // writer-thread only

  std::atomic<int64_t> current_revision_{1};
  std::atomic<int64_t> compact_revision_{-1};
  std::atomic<uint64_t> applied_index_{0};
  std::atomic<uint64_t> applied_term_{0};
  std::atomic<bool> compaction_pending_{false};
  std::atomic<int64_t> pages_in_use_{0};  // as of the last commit
  // Written by the writer thread (puts, deletes, txns) and by readers (ranges: own cache line).
  std::atomic<uint64_t> puts_{0}, deletes_{0}, txns_{0};
  alignas(64) mutable std::atomic<uint64_t> ranges_{0};

  mutable absl::Mutex readers_mu_;
  mutable std::vector<MDB_txn*> idle_readers_ ABSL_GUARDED_BY(readers_mu_);
};

}  // namespace cairn::mvcc
