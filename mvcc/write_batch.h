// cairn::mvcc::WriteBatch — one LMDB write transaction applying a run of client requests in order.
//
// Each request method applies one request atomically. A request refused with an etcd error (key or
// lease not found, compacted or future revision) is refused before it writes anything: it
// leaves nothing behind, consumes no revision, and the batch goes on. Requests write straight into
// the batch's LMDB transaction (a nested transaction per request made LMDB allocate 3 MiB of page
// lists each time), so any other failure (an LMDB error) cannot be undone for one request: it
// poisons the batch, every later call returns that error and Commit() keeps nothing. So does
// MDB_MAP_FULL (ErrNoSpace): the store never refuses a request for its size, since that would make
// applying a log depend on each member's page layout; the quota is checked before proposing
// (Store::HasRoomFor) and the map's headroom holds what was accepted. Responses get
// header.revision = the store revision after that request. Nothing is visible to readers until
// Commit(); destroying the batch without Commit() discards it. Writer thread only; not thread-safe.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "etcdserverpb/rpc.pb.h"
#include "mvcc/tables.h"
#include "mvccpb/kv.pb.h"

namespace cairn::mvcc {

class Store;
namespace internal {
class KvView;
}

class WriteBatch {
 public:
  ~WriteBatch();
  WriteBatch(const WriteBatch&) = delete;
  WriteBatch& operator=(const WriteBatch&) = delete;

  // Errors: ErrLeaseNotFound (a lease that was never granted or is revoked), ErrKeyNotFound
  // (ignore_value/ignore_lease on a missing key); ErrNoSpace only when the LMDB map is full (then
  // the batch is poisoned, see above).
  absl::Status Put(const etcdserverpb::PutRequest& request, etcdserverpb::PutResponse* response);
  absl::Status DeleteRange(const etcdserverpb::DeleteRangeRequest& request, etcdserverpb::DeleteRangeResponse* response);
  // Compares are all evaluated (nested ones too) against the state before the txn, like etcd; reads
  // inside see the txn's earlier writes. Errors: ErrKeyNotFound, ErrCompacted/ErrFutureRev from a
  // range op's revision; ErrNoSpace as for Put.
  absl::Status Txn(const etcdserverpb::TxnRequest& request, etcdserverpb::TxnResponse* response);
  // Records the compaction (reads below `revision` fail from now on); CompactStep removes the data.
  // Errors: ErrCompacted (revision <= compacted), ErrFutureRev (revision > current).
  absl::Status Compact(const etcdserverpb::CompactionRequest& request, etcdserverpb::CompactionResponse* response);
  // A range through this batch: sees its uncommitted writes.
  absl::Status Range(const etcdserverpb::RangeRequest& request, etcdserverpb::RangeResponse* response);

  // Lease records: Grant stores (id, ttl) (ErrLeaseExists if present); Revoke deletes every key
  // attached to the lease in ONE revision (none if it has no keys) and the lease
  // (ErrLeaseNotFound if absent). LeaseExists checks the batch's view.
  absl::Status LeaseGrant(int64_t id, int64_t ttl);
  absl::Status LeaseRevoke(int64_t id, etcdserverpb::LeaseRevokeResponse* response);
  bool LeaseExists(int64_t id);
  // Records a lease's remaining TTL (seconds) as of a lease checkpoint, kept with the lease until
  // the next checkpoint or its revoke; 0 clears it. ErrLeaseNotFound if the lease is absent.
  absl::Status LeaseCheckpoint(int64_t id, int64_t remaining_ttl);

  void SetApplied(uint64_t index, uint64_t term);  // written in this same transaction
  // Replaces the opaque membership record (the server's cluster configuration) in this transaction,
  // so the membership a snapshot of the store carries always matches its applied index.
  absl::Status SetMembership(absl::string_view blob);
  // The opaque auth record (the server's users, roles and auth switch), same rules as the
  // membership. AuthState() reads it as this batch sees it ("" if never written).
  absl::Status SetAuthState(absl::string_view blob);
  absl::StatusOr<std::string> AuthState() const;
  // The opaque alarm record (the server's replicated NOSPACE/CORRUPT alarms), same rules.
  absl::Status SetAlarms(absl::string_view blob);

  // DELETE events carry the key and mod_revision = deletion revision; prev_kv is set when a previous
  // version existed. In revision order. Empty while events are not recorded (below).
  const std::vector<mvccpb::Event>& events() const { return events_; }
  std::vector<mvccpb::Event> TakeEvents() { return std::move(events_); }
  // Whether the batch builds its events (on by default). A batch nobody watches skips them: each
  // costs copies of the key and of the new and previous values. Set before the first request.
  void set_record_events(bool record) { record_events_ = record; }
  // Whether any request of the batch changed a key (and so took a revision).
  bool changed_keys() const { return state_.current_revision != start_revision_; }
  int64_t revision() const { return state_.current_revision; }

  // One LMDB commit for the whole batch, then the store publishes the new state. On failure
  // nothing of the batch is kept.
  absl::Status Commit();

 private:
  friend class Store;
  struct Request;  // per-request context (transaction and revision)

  WriteBatch(Store* store, MDB_txn* txn, const internal::StoreState& state);

  // Runs `body` as one request. Undoes the in-memory effects of a failed body; see the class
  // comment for what a failure does to the batch.
  template <typename Body>
  absl::Status RunRequest(Body&& body);

  internal::KvView View(const Request& r) const;
  // `prev`: the key's live version, or null; it is moved into the event (left empty) when events
  // are recorded. Only its create_revision, version and lease are read.
  // `at_key`: a cursor on `latest` already positioned on the key (its live version is replaced in
  // place), or null.
  absl::Status PutKey(Request& r, absl::string_view key, absl::string_view value, int64_t lease,
                      mvccpb::KeyValue* prev, const Revision* chain_prev, MDB_cursor* at_key = nullptr);
  // A cursor on `latest` in this batch's transaction, opened on first use; LMDB frees it with the
  // transaction (a write transaction's cursors must not be closed after it ends).
  absl::StatusOr<MDB_cursor*> LatestCursor();
  absl::Status AppendVersion(Request& r, Revision rev, absl::string_view stored, absl::string_view record);
  absl::Status DeleteKeys(Request& r, absl::string_view key, absl::string_view range_end, int64_t* deleted,
                          google::protobuf::RepeatedPtrField<mvccpb::KeyValue>* prev_out);
  absl::Status DeleteStoredKey(Request& r, absl::string_view stored, const mvccpb::KeyValue& prev);
  absl::Status ApplyPut(Request& r, const etcdserverpb::PutRequest& req, etcdserverpb::PutResponse* resp);
  absl::Status ApplyDelete(Request& r, const etcdserverpb::DeleteRangeRequest& req,
                           etcdserverpb::DeleteRangeResponse* resp);
  bool LeaseExistsIn(MDB_txn* txn, int64_t id) const;
  // The checks a txn's chosen ops need, before any of them writes, in two passes as etcd makes
  // them (so the first failure is etcd's): every put on the path, then (kRanges) every
  // range. The puts pass collects in `earlier_writes` the puts and deletes in the order they will run.
  enum class TxnCheckPass { kPuts, kRanges };
  absl::Status CheckTxnOps(MDB_txn* txn, const internal::KvView& before, const etcdserverpb::TxnRequest& req,
                           const std::vector<bool>& path, size_t* path_pos, TxnCheckPass pass,
                           std::vector<const etcdserverpb::RequestOp*>* earlier_writes);
  absl::Status ApplyTxnOps(Request& r, const etcdserverpb::TxnRequest& req, const std::vector<bool>& path,
                           size_t* path_pos, etcdserverpb::TxnResponse* resp);
  absl::Status SetLeaseKey(MDB_txn* txn, int64_t lease, absl::string_view stored, bool attach);

  Store* store_;
  MDB_txn* txn_;
  internal::StoreState state_;
  absl::Status poisoned_;  // set by a request that failed after it may have written
  const int64_t start_revision_;
  bool record_events_ = true;
  std::vector<mvccpb::Event> events_;
  size_t txn_ops_ = 0;  // operations the txn being applied has run (nested ones too), for the txn counter
  MDB_cursor* latest_cursor_ = nullptr;  // see LatestCursor
  std::string stored_;   // scratch: stored form of the key being written
  std::string buf_;      // scratch: encoded record
  std::string buf2_;     // scratch: `versions` entry, lease_keys key
};

}  // namespace cairn::mvcc
