#include "mvcc/tables.h"

#include "absl/strings/str_cat.h"
#include "mvcc/errors.h"

namespace cairn::mvcc::internal {

namespace {

struct TableEntry {
  const char* name;
  MDB_dbi Tables::*dbi;
};

// Every table of the store, in the order Hash() visits them.
constexpr TableEntry kTableEntries[] = {{"meta", &Tables::meta},         {"latest", &Tables::latest},
                                        {"deleted", &Tables::deleted},   {"versions", &Tables::versions},
                                        {"leases", &Tables::leases},     {"lease_keys", &Tables::lease_keys}};

}  // namespace

absl::Status OpenTables(MDB_txn* txn, bool create, Tables* tables) {
  const unsigned flags = create ? MDB_CREATE : 0;
  for (const TableEntry& e : kTableEntries) {
    int rc = mdb_dbi_open(txn, e.name, flags, &(tables->*e.dbi));
    if (rc != 0) return MdbStatus(rc, absl::StrCat("open table ", e.name));
  }
  return absl::OkStatus();
}

void ForEachTable(const Tables& tables, const std::function<void(absl::string_view name, MDB_dbi dbi)>& visit) {
  for (const TableEntry& e : kTableEntries) visit(e.name, tables.*e.dbi);
}

absl::Status ReadState(MDB_txn* txn, const Tables& tables, StoreState* state) {
  MDB_val key = Val(kStateKey), data;
  int rc = mdb_get(txn, tables.meta, &key, &data);
  if (rc == MDB_NOTFOUND) {
    *state = StoreState();
    return absl::OkStatus();
  }
  if (rc != 0) return MdbStatus(rc, "read state");
  if (data.mv_size != 7 * 8) return absl::DataLossError("mvcc: malformed state record");
  const char* p = static_cast<const char*>(data.mv_data);
  state->current_revision = static_cast<int64_t>(GetBigEndian64(p));
  state->compact_revision = static_cast<int64_t>(GetBigEndian64(p + 8));
  state->compact_done = static_cast<int64_t>(GetBigEndian64(p + 16));
  state->compact_cursor = DecodeRevision(p + 24);
  state->applied_index = GetBigEndian64(p + 40);
  state->applied_term = GetBigEndian64(p + 48);
  return absl::OkStatus();
}

absl::Status WriteState(MDB_txn* txn, const Tables& tables, const StoreState& state) {
  char buf[7 * 8];
  PutBigEndian64(static_cast<uint64_t>(state.current_revision), buf);
  PutBigEndian64(static_cast<uint64_t>(state.compact_revision), buf + 8);
  PutBigEndian64(static_cast<uint64_t>(state.compact_done), buf + 16);
  PutBigEndian64(static_cast<uint64_t>(state.compact_cursor.main), buf + 24);
  PutBigEndian64(static_cast<uint64_t>(state.compact_cursor.sub), buf + 32);
  PutBigEndian64(state.applied_index, buf + 40);
  PutBigEndian64(state.applied_term, buf + 48);
  MDB_val key = Val(kStateKey), data = Val(absl::string_view(buf, sizeof buf));
  return MdbStatus(mdb_put(txn, tables.meta, &key, &data, 0), "write state");
}

absl::Status MdbStatus(int rc, absl::string_view what) {
  if (rc == 0) return absl::OkStatus();
  if (rc == MDB_MAP_FULL) return ErrNoSpace();
  if (rc == MDB_READERS_FULL) return absl::UnavailableError(absl::StrCat("mvcc: ", what, ": ", mdb_strerror(rc)));
  return absl::InternalError(absl::StrCat("mvcc: ", what, ": ", mdb_strerror(rc)));
}

}  // namespace cairn::mvcc::internal
