#include "mvcc/kv_view.h"

#include <algorithm>

#include "mvcc/chain.h"
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
  FillVersionInfo(record, kv);
  kv->set_value(record.value.data(), record.value.size());
}

void FillVersionInfo(const Record& record, mvccpb::KeyValue* kv) {
  kv->set_create_revision(record.create_revision);
  kv->set_mod_revision(record.mod_revision);
  kv->set_version(record.version);
  kv->set_lease(record.lease);
}

absl::Status KvView::GetLatest(absl::string_view stored_key, absl::string_view user_key, Record* record, bool* found,
                               absl::string_view* raw, MDB_cursor* cursor) const {
  *found = false;
  MDB_val k = Val(stored_key), v;
  int rc = cursor != nullptr ? mdb_cursor_get(cursor, &k, &v, MDB_SET_KEY) : mdb_get(txn_, tables_->latest, &k, &v);
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

// A past revision: each key's chain starts at its head record, in `latest` (live keys) or `deleted`
// (keys whose newest change is a delete), never both, and leads back through `versions`. A range
// walks the two head tables together in stored-key order, one cursor each.
template <typename Visit>
absl::Status KvView::ScanPast(const KeyRange& range, int64_t rev, Visit&& visit) const {
  Record head, found;
  if (range.kind == KeyRange::Kind::kSingle) {
    std::string stored;
    EncodeStoredKey(range.key, &stored);
    bool exists, live;
    if (auto s = GetHead(txn_, *tables_, stored, &head, &exists); !s.ok() || !exists) return s;
    if (auto s = VersionAt(txn_, *tables_, head, rev, &found, &live); !s.ok()) return s;
    if (live && !found.tombstone && UserKey(stored, found) == range.key) visit(absl::string_view(stored), found);
    return absl::OkStatus();
  }

  HeadCursor heads;
  if (auto s = heads.Open(txn_, *tables_); !s.ok()) return s;
  for (heads.Seek(KeyPrefix(range.key)); heads.Valid(); heads.Next()) {
    const absl::string_view stored = heads.stored();
    if (!DecodeRecord(heads.record(), &head)) return absl::DataLossError("mvcc: malformed head record");
    // The user key, for the range test: every record of the key carries it.
    const Step step = Classify(range, stored, UserKey(stored, head));
    if (step == Step::kStop) break;
    if (step == Step::kTake) {
      bool live;
      if (auto s = VersionAt(txn_, *tables_, head, rev, &found, &live); !s.ok()) return s;
      if (live && !found.tombstone && !visit(stored, found)) break;
    }
  }
  return heads.error();
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
  absl::Status s = rev == current_ ? ScanLatest(range, visit) : ScanPast(range, rev, visit);
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
