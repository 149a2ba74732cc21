#include "mvcc/kv_view.h"

#include <algorithm>

#include "mvcc/errors.h"

namespace cairn::mvcc::internal {
namespace {

enum class Step { kSkip, kTake, kStop };

// Decides what a scan in stored-key order does with the key at (stored, user_key). Stored order equals
// user-key order except among hashed keys sharing a prefix, so a hashed key past the end only stops
// the scan once its prefix is past the end's prefix.
Step Classify(const KeyRange& range, absl::string_view stored, absl::string_view user_key) {
  if (user_key < range.key) return Step::kSkip;
  if (range.kind == KeyRange::Kind::kFromKey) return Step::kTake;
  if (user_key < range.end) return Step::kTake;
  if (!IsHashedStoredKey(stored)) return Step::kStop;
  return KeyPrefix(stored) > KeyPrefix(range.end) ? Step::kStop : Step::kSkip;
}

int CompareInt(int64_t a, int64_t b) { return a < b ? -1 : (a > b ? 1 : 0); }

bool CompareKv(const etcdserverpb::Compare& c, const mvccpb::KeyValue& kv) {
  using C = etcdserverpb::Compare;
  int result = 0;
  switch (c.target()) {
    case C::VALUE: {
      absl::string_view want = c.target_union_case() == C::kValue ? absl::string_view(c.value()) : "";
      int r = absl::string_view(kv.value()).compare(want);
      result = r < 0 ? -1 : (r > 0 ? 1 : 0);
      break;
    }
    case C::CREATE:
      result = CompareInt(kv.create_revision(), c.target_union_case() == C::kCreateRevision ? c.create_revision() : 0);
      break;
    case C::MOD:
      result = CompareInt(kv.mod_revision(), c.target_union_case() == C::kModRevision ? c.mod_revision() : 0);
      break;
    case C::VERSION:
      result = CompareInt(kv.version(), c.target_union_case() == C::kVersion ? c.version() : 0);
      break;
    case C::LEASE:
      result = CompareInt(kv.lease(), c.target_union_case() == C::kLease ? c.lease() : 0);
      break;
    default:
      break;
  }
  switch (c.result()) {
    case C::EQUAL:
      return result == 0;
    case C::NOT_EQUAL:
      return result != 0;
    case C::GREATER:
      return result > 0;
    case C::LESS:
      return result < 0;
    default:
      return true;
  }
}

// Removes the elements for which `drop` is true, keeping the order of the rest.
template <typename Drop>
void Prune(KvList* kvs, Drop drop) {
  int kept = 0;
  for (int i = 0; i < kvs->size(); ++i) {
    if (drop(kvs->Get(i))) continue;
    if (kept != i) kvs->SwapElements(kept, i);
    ++kept;
  }
  kvs->DeleteSubrange(kept, kvs->size() - kept);
}

}  // namespace

KeyRange KeyRange::From(absl::string_view key, absl::string_view range_end) {
  KeyRange r;
  r.key = key;
  r.end = range_end;
  if (range_end.empty()) {
    r.kind = Kind::kSingle;
  } else if (range_end.size() == 1 && range_end[0] == '\0') {
    r.kind = Kind::kFromKey;
  } else {
    r.kind = Kind::kBounded;
  }
  return r;
}

bool KeyRange::Contains(absl::string_view user_key) const {
  switch (kind) {
    case Kind::kSingle:
      return user_key == key;
    case Kind::kFromKey:
      return user_key >= key;
    case Kind::kBounded:
      return user_key >= key && user_key < end;
  }
  return false;
}

void FillKeyValue(absl::string_view user_key, const Record& record, mvccpb::KeyValue* kv) {
  kv->set_key(user_key.data(), user_key.size());
  kv->set_create_revision(record.create_revision);
  kv->set_mod_revision(record.mod_revision);
  kv->set_version(record.version);
  kv->set_lease(record.lease);
  kv->set_value(record.value.data(), record.value.size());
}

absl::Status KvView::GetLatest(absl::string_view stored_key, absl::string_view user_key, Record* record, bool* found,
                               absl::string_view* raw) const {
  *found = false;
  MDB_val k = Val(stored_key), v;
  int rc = mdb_get(txn_, tables_->latest, &k, &v);
  if (rc == MDB_NOTFOUND) return absl::OkStatus();
  if (rc != 0) return MdbStatus(rc, "get latest");
  if (!DecodeRecord(View(v), record)) return absl::DataLossError("mvcc: malformed record in latest");
  if (raw != nullptr) *raw = View(v);
  *found = UserKey(stored_key, *record) == user_key;
  return absl::OkStatus();
}

template <typename Visit>
absl::Status KvView::ScanLatest(const KeyRange& range, Visit&& visit) const {
  Record record;
  if (range.kind == KeyRange::Kind::kSingle) {
    std::string stored;
    EncodeStoredKey(range.key, &stored);
    bool found;
    if (auto s = GetLatest(stored, range.key, &record, &found); !s.ok()) return s;
    if (found) visit(absl::string_view(stored), record);
    return absl::OkStatus();
  }
  Cursor cursor;
  if (auto s = cursor.Open(txn_, tables_->latest); !s.ok()) return s;
  MDB_val k = Val(KeyPrefix(range.key)), v;
  for (bool ok = cursor.Get(&k, &v, MDB_SET_RANGE); ok; ok = cursor.Get(&k, &v, MDB_NEXT)) {
    if (!DecodeRecord(View(v), &record)) return absl::DataLossError("mvcc: malformed record in latest");
    const absl::string_view stored = View(k);
    const Step step = Classify(range, stored, UserKey(stored, record));
    if (step == Step::kStop) break;
    if (step == Step::kTake && !visit(stored, record)) break;
  }
  return cursor.error();
}

// A past revision: `latest` holds each key's live version, `history` the superseded versions and
// deletion markers. A key's state at `rev` is its latest record when that is not newer than `rev`,
// else the newest history entry at or before `rev`. Range scans walk both tables in stored-key order
// (a key may be in either or both) with one cursor each.
template <typename Visit>
absl::Status KvView::ScanHistory(const KeyRange& range, int64_t rev, Visit&& visit) const {
  Cursor history;
  if (auto s = history.Open(txn_, tables_->history); !s.ok()) return s;
  std::string seek;
  Record record;
  MDB_val k, v;
  // Sets `record` to the newest history version of `stored` at or before `rev`; true if it exists and is live.
  auto find_version = [&](absl::string_view stored) -> bool {
    seek.assign(stored.data(), stored.size());
    AppendRevision(Revision{rev + 1, 0}, &seek);
    k = Val(seek);
    bool ok = history.Get(&k, &v, MDB_SET_RANGE) ? history.Get(&k, &v, MDB_PREV) : history.Get(&k, &v, MDB_LAST);
    if (!ok || k.mv_size < kRevisionBytes) return false;
    if (View(k).substr(0, k.mv_size - kRevisionBytes) != stored) return false;
    return DecodeRecord(View(v), &record) && !record.tombstone;
  };

  if (range.kind == KeyRange::Kind::kSingle) {
    std::string stored;
    EncodeStoredKey(range.key, &stored);
    MDB_val lk = Val(stored), lv;
    const int rc = mdb_get(txn_, tables_->latest, &lk, &lv);
    if (rc != 0 && rc != MDB_NOTFOUND) return MdbStatus(rc, "get latest");
    bool live = false;
    if (rc == 0) {
      if (!DecodeRecord(View(lv), &record)) return absl::DataLossError("mvcc: malformed record in latest");
      live = record.mod_revision <= rev || find_version(stored);
    } else {
      live = find_version(stored);
    }
    if (live && UserKey(stored, record) == range.key) visit(absl::string_view(stored), record);
    return history.error();
  }

  Cursor latest;
  if (auto s = latest.Open(txn_, tables_->latest); !s.ok()) return s;
  const absl::string_view start = KeyPrefix(range.key);
  MDB_val lk = Val(start), lv;
  bool have_latest = latest.Get(&lk, &lv, MDB_SET_RANGE);
  absl::string_view history_group;  // stored key of the history entry under the cursor
  MDB_val hk, hv;
  auto seek_history = [&](absl::string_view stored, char fill) -> bool {
    seek.assign(stored.data(), stored.size());
    seek.append(kRevisionBytes, fill);
    hk = Val(seek);
    if (!history.Get(&hk, &hv, MDB_SET_RANGE)) return false;
    history_group = View(hk).substr(0, hk.mv_size - kRevisionBytes);
    return true;
  };
  bool have_history = seek_history(start, '\0');
  std::string group;
  Record latest_record;
  while (have_latest || have_history) {
    const absl::string_view latest_key = have_latest ? View(lk) : absl::string_view();
    int order = !have_latest ? 1 : (!have_history ? -1 : CompareStored(latest_key, history_group));
    const bool in_latest = order <= 0, in_history = order >= 0;
    const absl::string_view key = in_latest ? latest_key : history_group;
    group.assign(key.data(), key.size());
    // The user key, for the range test: any record of the key carries it.
    absl::string_view user_key;
    if (in_latest) {
      if (!DecodeRecord(View(lv), &latest_record)) return absl::DataLossError("mvcc: malformed record in latest");
      user_key = UserKey(group, latest_record);
    } else {
      if (!DecodeRecord(View(hv), &record)) return absl::DataLossError("mvcc: malformed record in history");
      user_key = UserKey(group, record);
    }
    const Step step = Classify(range, group, user_key);
    if (step == Step::kStop) break;
    if (step == Step::kTake) {
      bool live;
      const Record* found = &record;
      if (in_latest && latest_record.mod_revision <= rev) {
        live = true;
        found = &latest_record;
      } else {
        live = in_history && find_version(group);
      }
      if (live && !visit(absl::string_view(group), *found)) break;
    }
    if (in_latest) have_latest = latest.Get(&lk, &lv, MDB_NEXT);
    if (in_history) have_history = seek_history(group, '\xff');
  }
  if (!latest.error().ok()) return latest.error();
  return history.error();
}

absl::Status KvView::CheckRevision(int64_t rev) const {
  if (rev > current_) return ErrFutureRev();
  if (rev <= 0) rev = current_;
  if (rev < compacted_) return ErrCompacted();
  return absl::OkStatus();
}

absl::Status KvView::RangeKeys(const KeyRange& range, int64_t rev, int64_t limit, bool count_only, KvList* out,
                               int64_t* count) const {
  if (auto s = CheckRevision(rev); !s.ok()) return s;
  if (rev <= 0) rev = current_;
  int64_t matched = 0;
  auto visit = [&](absl::string_view stored, const Record& record) {
    if (!count_only && (limit <= 0 || matched < limit)) FillKeyValue(UserKey(stored, record), record, out->Add());
    ++matched;
    return true;
  };
  absl::Status s = rev == current_ ? ScanLatest(range, visit) : ScanHistory(range, rev, visit);
  *count = matched;
  return s;
}

absl::Status KvView::Range(const etcdserverpb::RangeRequest& req, etcdserverpb::RangeResponse* resp) const {
  using R = etcdserverpb::RangeRequest;
  const bool filtered = req.min_mod_revision() != 0 || req.max_mod_revision() != 0 ||
                        req.min_create_revision() != 0 || req.max_create_revision() != 0;
  // Like etcd: sorting or filtering needs every match first; otherwise fetch one extra for `more`.
  int64_t limit = req.limit();
  if (req.sort_order() != R::NONE || filtered) limit = 0;
  if (limit > 0) ++limit;

  KvList* kvs = resp->mutable_kvs();
  int64_t count = 0;
  if (auto s = RangeKeys(KeyRange::From(req.key(), req.range_end()), req.revision(), limit, req.count_only(), kvs,
                         &count);
      !s.ok()) {
    return s;
  }
  if (req.max_mod_revision() != 0) Prune(kvs, [&](const auto& kv) { return kv.mod_revision() > req.max_mod_revision(); });
  if (req.min_mod_revision() != 0) Prune(kvs, [&](const auto& kv) { return kv.mod_revision() < req.min_mod_revision(); });
  if (req.max_create_revision() != 0) {
    Prune(kvs, [&](const auto& kv) { return kv.create_revision() > req.max_create_revision(); });
  }
  if (req.min_create_revision() != 0) {
    Prune(kvs, [&](const auto& kv) { return kv.create_revision() < req.min_create_revision(); });
  }

  R::SortOrder order = req.sort_order();
  if (req.sort_target() != R::KEY && order == R::NONE) order = R::ASCEND;
  if (order != R::NONE) {
    auto key_of = [&](const mvccpb::KeyValue* kv) -> int64_t {
      switch (req.sort_target()) {
        case R::VERSION:
          return kv->version();
        case R::CREATE:
          return kv->create_revision();
        case R::MOD:
          return kv->mod_revision();
        default:
          return 0;
      }
    };
    auto less = [&](const mvccpb::KeyValue* a, const mvccpb::KeyValue* b) {
      if (req.sort_target() == R::KEY) return a->key() < b->key();
      if (req.sort_target() == R::VALUE) return a->value() < b->value();
      return key_of(a) < key_of(b);
    };
    if (order == R::DESCEND) {
      std::stable_sort(kvs->pointer_begin(), kvs->pointer_end(),
                       [&](const mvccpb::KeyValue* a, const mvccpb::KeyValue* b) { return less(b, a); });
    } else {
      std::stable_sort(kvs->pointer_begin(), kvs->pointer_end(), less);
    }
  }

  if (req.limit() > 0 && kvs->size() > req.limit()) {
    kvs->DeleteSubrange(static_cast<int>(req.limit()), kvs->size() - static_cast<int>(req.limit()));
    resp->set_more(true);
  }
  if (req.keys_only()) {
    for (auto& kv : *kvs) kv.clear_value();
  }
  resp->set_count(count);
  resp->mutable_header()->set_revision(current_);
  return absl::OkStatus();
}

bool KvView::Compare(const etcdserverpb::Compare& compare) const {
  KvList kvs;
  int64_t count = 0;
  if (!RangeKeys(KeyRange::From(compare.key(), compare.range_end()), 0, 0, false, &kvs, &count).ok()) return false;
  if (kvs.empty()) {
    if (compare.target() == etcdserverpb::Compare::VALUE) return false;
    return CompareKv(compare, mvccpb::KeyValue());
  }
  for (const auto& kv : kvs) {
    if (!CompareKv(compare, kv)) return false;
  }
  return true;
}

}  // namespace cairn::mvcc::internal
