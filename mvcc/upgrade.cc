#include "mvcc/upgrade.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "mvcc/codec.h"
#include "mvcc/tables.h"

namespace cairn::mvcc::internal {
namespace {

// Format 2's order of `history` keys (S ‖ main ‖ sub): S bytewise, shorter first on a tie, then the
// 16-byte revision. Needed to seek in that table.
int HistoryCompare(const MDB_val* a, const MDB_val* b) {
  const size_t la = a->mv_size >= kRevisionBytes ? a->mv_size - kRevisionBytes : 0;
  const size_t lb = b->mv_size >= kRevisionBytes ? b->mv_size - kRevisionBytes : 0;
  const char* pa = static_cast<const char*>(a->mv_data);
  const char* pb = static_cast<const char*>(b->mv_data);
  int c = std::memcmp(pa, pb, std::min(la, lb));
  if (c != 0) return c;
  if (la != lb) return la < lb ? -1 : 1;
  const size_t ra = a->mv_size - la, rb = b->mv_size - lb;
  c = std::memcmp(pa + la, pb + lb, std::min(ra, rb));
  if (c != 0) return c;
  return ra == rb ? 0 : (ra < rb ? -1 : 1);
}

bool InGroup(const MDB_val& history_key, absl::string_view stored) {
  return history_key.mv_size == stored.size() + kRevisionBytes && View(history_key).substr(0, stored.size()) == stored;
}

}  // namespace

absl::Status OpenFormat2Tables(MDB_txn* txn, bool create, MDB_dbi* history, MDB_dbi* revisions) {
  const unsigned flags = create ? MDB_CREATE : 0;
  if (int rc = mdb_dbi_open(txn, "history", flags, history); rc != 0) return MdbStatus(rc, "open table history");
  if (int rc = mdb_set_compare(txn, *history, &HistoryCompare); rc != 0) return MdbStatus(rc, "history comparator");
  return MdbStatus(mdb_dbi_open(txn, "revisions", flags, revisions), "open table revisions");
}

absl::Status UpgradeFromFormat2(MDB_txn* txn) {
  Tables tables;
  if (auto s = OpenTables(txn, /*create=*/true, &tables); !s.ok()) return s;
  MDB_dbi history, revisions;
  if (auto s = OpenFormat2Tables(txn, /*create=*/false, &history, &revisions); !s.ok()) return s;
  for (MDB_dbi dbi : {tables.deleted, tables.versions}) {
    if (int rc = mdb_drop(txn, dbi, 0); rc != 0) return MdbStatus(rc, "upgrade: empty new table");
  }

  // `revisions` lists every stored version and deletion marker in revision order: each becomes a
  // `versions` entry (appended in that order), linked to the key's previous `history` entry. Format
  // 2's compaction removes all of a key's versions older than a change at once, so the previous
  // entry left is the true predecessor, or there is none.
  Cursor changes, past;
  if (auto s = changes.Open(txn, revisions); !s.ok()) return s;
  if (auto s = past.Open(txn, history); !s.ok()) return s;
  std::string stored, history_key, record_bytes, entry;
  MDB_val ck, cv;
  for (bool ok = changes.Get(&ck, &cv, MDB_FIRST); ok; ok = changes.Get(&ck, &cv, MDB_NEXT)) {
    if (ck.mv_size != kRevisionBytes) return absl::DataLossError("mvcc: upgrade: malformed revisions key");
    const Revision rev = DecodeRevision(static_cast<const char*>(ck.mv_data));
    stored.assign(static_cast<const char*>(cv.mv_data), cv.mv_size);

    Record record;
    MDB_val lk = Val(stored), lv;
    const int latest_rc = mdb_get(txn, tables.latest, &lk, &lv);
    if (latest_rc != 0 && latest_rc != MDB_NOTFOUND) return MdbStatus(latest_rc, "upgrade: get latest");
    bool from_latest = false;
    if (latest_rc == 0) {
      if (!DecodeRecord(View(lv), &record)) return absl::DataLossError("mvcc: upgrade: malformed record in latest");
      from_latest = record.mod_revision == rev.main && record.mod_sub == rev.sub;
    }
    history_key.assign(stored);
    AppendRevision(rev, &history_key);
    MDB_val hk = Val(history_key), hv;
    if (!from_latest) {
      if (!past.Get(&hk, &hv, MDB_SET_KEY)) {
        if (!past.error().ok()) return past.error();
        continue;  // listed but not stored: nothing to carry over
      }
      if (!DecodeRecord(View(hv), &record)) return absl::DataLossError("mvcc: upgrade: malformed record in history");
    }
    // The history entry just before S ‖ rev, if it is the same key's.
    hk = Val(history_key);
    bool positioned = from_latest ? (past.Get(&hk, &hv, MDB_SET_RANGE) ? past.Get(&hk, &hv, MDB_PREV)
                                                                      : past.Get(&hk, &hv, MDB_LAST))
                                  : past.Get(&hk, &hv, MDB_PREV);
    if (!past.error().ok()) return past.error();
    record.has_prev = positioned && InGroup(hk, stored);
    if (record.has_prev) record.prev = DecodeRevision(static_cast<const char*>(hk.mv_data) + stored.size());
    record.mod_sub = rev.sub;  // format 2's deletion markers kept it only in their history key
    record_bytes.clear();
    EncodeRecord(record, &record_bytes);  // our copy: the puts below may move the pages `record` views

    EncodeVersionEntry(stored, record_bytes, &entry);
    MDB_val vk = Val(absl::string_view(static_cast<const char*>(ck.mv_data), kRevisionBytes)), vv = Val(entry);
    if (int rc = mdb_put(txn, tables.versions, &vk, &vv, MDB_APPEND); rc != 0) return MdbStatus(rc, "upgrade: append");
    MDB_val sk = Val(stored), sv = Val(record_bytes);
    if (from_latest) {
      if (int rc = mdb_put(txn, tables.latest, &sk, &sv, 0); rc != 0) return MdbStatus(rc, "upgrade: rewrite latest");
    } else if (record.tombstone && latest_rc == MDB_NOTFOUND) {
      // Revision order: the key's newest deletion marker is written last and stays its head.
      if (int rc = mdb_put(txn, tables.deleted, &sk, &sv, 0); rc != 0) return MdbStatus(rc, "upgrade: put deleted");
    }
  }
  if (!changes.error().ok()) return changes.error();

  if (int rc = mdb_drop(txn, history, 1); rc != 0) return MdbStatus(rc, "upgrade: drop history");
  if (int rc = mdb_drop(txn, revisions, 1); rc != 0) return MdbStatus(rc, "upgrade: drop revisions");
  MDB_val k = Val(kFormatKey), v = Val(kFormatVersion);
  return MdbStatus(mdb_put(txn, tables.meta, &k, &v, 0), "upgrade: write format");
}

}  // namespace cairn::mvcc::internal
