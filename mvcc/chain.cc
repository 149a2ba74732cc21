#include "mvcc/chain.h"

namespace cairn::mvcc::internal {

absl::Status GetVersion(MDB_txn* txn, const Tables& tables, Revision rev, absl::string_view* stored,
                        absl::string_view* raw, bool* found) {
  char key_bytes[kRevisionBytes];
  EncodeRevision(rev, key_bytes);
  MDB_val k = Val(absl::string_view(key_bytes, kRevisionBytes)), v;
  const int rc = mdb_get(txn, tables.versions, &k, &v);
  *found = false;
  if (rc == MDB_NOTFOUND) return absl::OkStatus();
  if (rc != 0) return MdbStatus(rc, "get version");
  if (!DecodeVersionEntry(View(v), stored, raw)) return absl::DataLossError("mvcc: malformed entry in versions");
  *found = true;
  return absl::OkStatus();
}

absl::Status GetHead(MDB_txn* txn, const Tables& tables, absl::string_view stored, Record* head, bool* found) {
  *found = false;
  for (MDB_dbi dbi : {tables.latest, tables.deleted}) {
    MDB_val k = Val(stored), v;
    const int rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND) continue;
    if (rc != 0) return MdbStatus(rc, "get head");
    if (!DecodeRecord(View(v), head)) return absl::DataLossError("mvcc: malformed head record");
    *found = true;
    return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::Status VersionAt(MDB_txn* txn, const Tables& tables, const Record& head, int64_t rev, Record* out,
                       bool* found) {
  *out = head;
  while (out->mod_revision > rev) {
    if (!out->has_prev) {
      *found = false;
      return absl::OkStatus();
    }
    absl::string_view stored, raw;
    bool present;
    if (auto s = GetVersion(txn, tables, out->prev, &stored, &raw, &present); !s.ok()) return s;
    if (!present) {
      *found = false;
      return absl::OkStatus();
    }
    if (!DecodeRecord(raw, out)) return absl::DataLossError("mvcc: malformed record in versions");
  }
  *found = true;
  return absl::OkStatus();
}

absl::Status HeadCursor::Open(MDB_txn* txn, const Tables& tables) {
  if (auto s = latest_.Open(txn, tables.latest); !s.ok()) return s;
  return deleted_.Open(txn, tables.deleted);
}

void HeadCursor::SeekFirst() {
  have_latest_ = latest_.Get(&latest_key_, &latest_value_, MDB_FIRST);
  have_deleted_ = deleted_.Get(&deleted_key_, &deleted_value_, MDB_FIRST);
  Pick();
}

void HeadCursor::Seek(absl::string_view stored) {
  latest_key_ = Val(stored);
  deleted_key_ = Val(stored);
  have_latest_ = latest_.Get(&latest_key_, &latest_value_, MDB_SET_RANGE);
  have_deleted_ = deleted_.Get(&deleted_key_, &deleted_value_, MDB_SET_RANGE);
  Pick();
}

void HeadCursor::Next() {
  if (from_latest_) {
    have_latest_ = latest_.Get(&latest_key_, &latest_value_, MDB_NEXT);
  } else {
    have_deleted_ = deleted_.Get(&deleted_key_, &deleted_value_, MDB_NEXT);
  }
  Pick();
}

}  // namespace cairn::mvcc::internal
