// Internal: reads of the key space through one LMDB transaction (read-only for Store::Range, the
// batch's write txn for reads inside a WriteBatch, which therefore see the batch's earlier writes).
// Implements etcd's range rules (revision checks, limit/count, filters, sorting) and txn compares.
// Not thread-safe; lives no longer than its transaction.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "etcdserverpb/rpc.pb.h"
#include "mvcc/codec.h"
#include "mvcc/tables.h"
#include "mvccpb/kv.pb.h"

namespace cairn::mvcc::internal {

// A key interval as etcd interprets (key, range_end): empty range_end = the single key, "\0" = every
// key >= key, otherwise [key, range_end).
struct KeyRange {
  enum class Kind { kSingle, kBounded, kFromKey };
  absl::string_view key;
  absl::string_view end;
  Kind kind = Kind::kSingle;

  static KeyRange From(absl::string_view key, absl::string_view range_end);
  bool Contains(absl::string_view user_key) const;
};

using KvList = google::protobuf::RepeatedPtrField<mvccpb::KeyValue>;

class KvView {
 public:
  KvView(MDB_txn* txn, const Tables* tables, int64_t current_revision, int64_t compact_revision)
      : txn_(txn), tables_(tables), current_(current_revision), compacted_(compact_revision) {}

  int64_t current_revision() const { return current_; }

  // etcd's mvcc-level range: live keys of `range` at `rev` (<= 0: current) in key order. Appends up to
  // `limit` (<= 0: all) of them to *out unless count_only, and sets *count to how many keys matched.
  absl::Status RangeKeys(const KeyRange& range, int64_t rev, int64_t limit, bool count_only, KvList* out,
                         int64_t* count) const;
  // The revision checks RangeKeys performs, alone.
  absl::Status CheckRevision(int64_t rev) const;

  // etcd's full Range request: filters, sort, limit/more, keys_only, count_only, header.revision.
  absl::Status Range(const etcdserverpb::RangeRequest& request, etcdserverpb::RangeResponse* response) const;

  // The live version of `key`, or nullptr-like false when absent. *record's views (and *raw, the
  // encoded record, when given) point into LMDB memory valid until the next write in this txn.
  // With `cursor` (on `latest`, in this view's txn) the lookup goes through it and leaves it on the
  // key when found.
  absl::Status GetLatest(absl::string_view stored_key, absl::string_view user_key, Record* record, bool* found,
                         absl::string_view* raw = nullptr, MDB_cursor* cursor = nullptr) const;

  // etcd's txn compare: every key in the compare's range must satisfy it; a missing key compares as
  // an all-zero KeyValue, except that a VALUE compare on a missing key is false.
  bool Compare(const etcdserverpb::Compare& compare) const;

 private:
  template <typename Visit>
  absl::Status ScanLatest(const KeyRange& range, Visit&& visit) const;
  template <typename Visit>
  absl::Status ScanPast(const KeyRange& range, int64_t rev, Visit&& visit) const;

  MDB_txn* txn_;
  const Tables* tables_;
  int64_t current_;
  int64_t compacted_;
};

// Copies a decoded record into a KeyValue.
void FillKeyValue(absl::string_view user_key, const Record& record, mvccpb::KeyValue* kv);
// The same without the key and the value: revisions, version and lease only.
void FillVersionInfo(const Record& record, mvccpb::KeyValue* kv);
// The user key a stored key / record pair stands for.
inline absl::string_view UserKey(absl::string_view stored, const Record& record) {
  return IsHashedStoredKey(stored) ? record.full_key : stored;
}

}  // namespace cairn::mvcc::internal
