// Internal: the LMDB sub-databases of the store, their comparators, the persisted store state and
// small LMDB helpers shared by the reader, the writer and the compactor. Not part of the public API.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "mvcc/codec.h"

namespace cairn::mvcc::internal {

// Handles of the named sub-databases (see mvcc/README.md for what each holds).
struct Tables {
  MDB_dbi meta = 0;
  MDB_dbi latest = 0;
  MDB_dbi deleted = 0;
  MDB_dbi versions = 0;
  MDB_dbi leases = 0;
  MDB_dbi lease_keys = 0;
};

// The store-wide counters, persisted as one record under meta key "state" and rewritten by every commit.
struct StoreState {
  int64_t current_revision = 1;     // an empty store is at revision 1, like etcd
  int64_t compact_revision = -1;    // highest accepted Compact(rev); -1 before the first
  int64_t compact_done = -1;        // highest compaction whose physical removal is complete
  Revision compact_cursor;          // next `versions` entry the physical compaction visits
  uint64_t applied_index = 0;
  uint64_t applied_term = 0;
};

inline constexpr char kFormatKey[] = "format";
inline constexpr char kFormatVersion[] = "cairn-mvcc-3";
inline constexpr char kStateKey[] = "state";
inline constexpr char kMembershipKey[] = "membership";  // opaque to the store (WriteBatch::SetMembership)
inline constexpr char kAuthKey[] = "auth";              // opaque to the store (WriteBatch::SetAuthState)
inline constexpr char kAlarmsKey[] = "alarms";          // opaque to the store (WriteBatch::SetAlarms)

// The order of stored keys in `latest` and `deleted` (LMDB's default: bytewise, shorter first on a
// tie).
inline int CompareStored(absl::string_view a, absl::string_view b) {
  const int c = a.compare(b);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

// Opens (creating when `create`) every table; `txn` must be a write txn when creating.
absl::Status OpenTables(MDB_txn* txn, bool create, Tables* tables);

// Calls `visit` for every table, in a fixed order (the one list of tables: OpenTables uses it too).
void ForEachTable(const Tables& tables, const std::function<void(absl::string_view name, MDB_dbi dbi)>& visit);

absl::Status ReadState(MDB_txn* txn, const Tables& tables, StoreState* state);
absl::Status WriteState(MDB_txn* txn, const Tables& tables, const StoreState& state);

// Maps an LMDB return code to a status; MDB_MAP_FULL becomes ErrNoSpace().
absl::Status MdbStatus(int rc, absl::string_view what);

inline MDB_val Val(absl::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
inline absl::string_view View(const MDB_val& v) {
  return absl::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

// Owns an LMDB cursor for the lifetime of a scope.
class Cursor {
 public:
  Cursor() = default;
  ~Cursor() {
    if (cursor_ != nullptr) mdb_cursor_close(cursor_);
  }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  absl::Status Open(MDB_txn* txn, MDB_dbi dbi) { return MdbStatus(mdb_cursor_open(txn, dbi, &cursor_), "cursor"); }
  // mdb_cursor_get; returns false at MDB_NOTFOUND, and on other errors too (recording them in error()).
  bool Get(MDB_val* key, MDB_val* data, MDB_cursor_op op) {
    int rc = mdb_cursor_get(cursor_, key, data, op);
    if (rc == 0) return true;
    if (rc != MDB_NOTFOUND) error_ = MdbStatus(rc, "cursor get");
    return false;
  }
  const absl::Status& error() const { return error_; }
  MDB_cursor* get() { return cursor_; }

 private:
  MDB_cursor* cursor_ = nullptr;
  absl::Status error_;
};

}  // namespace cairn::mvcc::internal
