#include "mvcc/write_batch.h"

#include <cstring>

#include "absl/strings/match.h"

#include "mvcc/errors.h"
#include "mvcc/kv_view.h"
#include "mvcc/store.h"

namespace cairn::mvcc {

using internal::KvList;
using internal::KvView;
using internal::MdbStatus;
using internal::Val;

struct WriteBatch::Request {
  MDB_txn* txn;       // the batch's transaction (requests write to it directly)
  int64_t begin_rev;  // store revision before the request
  int64_t changes = 0;  // sub revisions used so far
  int64_t rev() const { return begin_rev + 1; }
  // etcd: reads inside a request that already changed something see the new revision.
  int64_t read_rev() const { return changes > 0 ? begin_rev + 1 : begin_rev; }
};

namespace {

// A request's failure that leaves nothing behind: every etcd error the store gives ("etcdserver:
// ...") is found by reading before the request writes anything. Anything else (an LMDB failure)
// may have struck halfway through a request.
bool FailedBeforeWriting(const absl::Status& status, const int64_t changes) {
  return changes == 0 && absl::StartsWith(status.message(), "etcdserver: ");
}

}  // namespace

WriteBatch::WriteBatch(Store* store, MDB_txn* txn, const internal::StoreState& state)
    : store_(store), txn_(txn), state_(state), start_revision_(state.current_revision) {}

WriteBatch::~WriteBatch() {
  if (txn_ == nullptr) return;  // committed: the store already took the batch back
  mdb_txn_abort(txn_);  // frees latest_cursor_ too
  store_->batch_open_ = false;
}

KvView WriteBatch::View(const Request& r) const {
  return KvView(r.txn, &store_->tables_, r.read_rev(), state_.compact_revision);
}

template <typename Body>
absl::Status WriteBatch::RunRequest(Body&& body) {
  if (txn_ == nullptr) return absl::FailedPreconditionError("mvcc: write batch already committed");
  if (!poisoned_.ok()) return poisoned_;
  // No refusal by size here: whether a request applies must depend only on the log, and the pages
  // in use do not (free-list size, reader timing and compaction progress differ between members).
  // The quota is checked before proposing (HasRoomFor); the map headroom absorbs what was accepted.
  Request r{txn_, state_.current_revision};
  const size_t events_before = events_.size();
  absl::Status s = body(r);
  if (!s.ok()) {
    events_.resize(events_before);
    // MDB_MAP_FULL (reported as ErrNoSpace) leaves LMDB's transaction unusable, whatever was written.
    if (!FailedBeforeWriting(s, r.changes) || IsError(s, ErrNoSpace())) {
      // Part of the request may be in the transaction: nothing of this batch can be committed.
      poisoned_ = s;
    }
    return s;
  }
  if (r.changes > 0) state_.current_revision = r.rev();
  return absl::OkStatus();
}

absl::Status WriteBatch::SetLeaseKey(MDB_txn* txn, int64_t lease, absl::string_view stored, bool attach) {
  buf2_.resize(8);
  PutBigEndian64(static_cast<uint64_t>(lease), buf2_.data());
  buf2_.append(stored.data(), stored.size());
  MDB_val k = Val(buf2_), v = Val("");
  if (attach) return MdbStatus(mdb_put(txn, store_->tables_.lease_keys, &k, &v, 0), "attach lease");
  int rc = mdb_del(txn, store_->tables_.lease_keys, &k, nullptr);
  return rc == MDB_NOTFOUND ? absl::OkStatus() : MdbStatus(rc, "detach lease");
}

absl::Status WriteBatch::AppendVersion(Request& r, Revision rev, absl::string_view stored, absl::string_view record) {
  char key_bytes[kRevisionBytes];
  EncodeRevision(rev, key_bytes);
  EncodeVersionEntry(stored, record, &buf2_);
  MDB_val k = Val(absl::string_view(key_bytes, kRevisionBytes)), v = Val(buf2_);
  // Revisions only grow: the entry goes on the tail page, the only `versions` page a batch dirties.
  return MdbStatus(mdb_put(r.txn, store_->tables_.versions, &k, &v, MDB_APPEND), "append version");
}

absl::Status WriteBatch::PutKey(Request& r, absl::string_view key, absl::string_view value, int64_t lease,
                                mvccpb::KeyValue* prev, const Revision* chain_prev, MDB_cursor* at_key) {
  // stored_ holds the stored form of `key`; `prev` is its live version or nullptr; `chain_prev` the
  // revision of its newest version or deletion marker, if any is left.
  const Revision rev{r.rev(), r.changes};
  Record record;
  record.create_revision = prev != nullptr ? prev->create_revision() : rev.main;
  record.mod_revision = rev.main;
  record.mod_sub = rev.sub;
  record.version = prev != nullptr ? prev->version() + 1 : 1;
  record.lease = lease;
  if (chain_prev != nullptr) {
    record.has_prev = true;
    record.prev = *chain_prev;
  }
  if (IsHashedStoredKey(stored_)) record.full_key = key;
  record.value = value;
  buf_.clear();
  EncodeRecord(record, &buf_);

  const internal::Tables& t = store_->tables_;
  MDB_val k = Val(stored_), v = Val(buf_);
  // A new key past the last one (sequential loads) is appended: LMDB then leaves full pages behind
  // instead of splitting them in half. It refuses (MDB_KEYEXIST, nothing written) any other key.
  // A key found through a cursor is replaced where the cursor stands, without a second descent.
  int rc = at_key != nullptr  ? mdb_cursor_put(at_key, &k, &v, MDB_CURRENT)
           : prev == nullptr ? mdb_put(r.txn, t.latest, &k, &v, MDB_APPEND)
                             : MDB_KEYEXIST;
  if (rc == MDB_KEYEXIST) rc = mdb_put(r.txn, t.latest, &k, &v, 0);
  if (rc != 0) return MdbStatus(rc, "put latest");
  if (auto s = AppendVersion(r, rev, stored_, buf_); !s.ok()) return s;

  const int64_t prev_lease = prev != nullptr ? prev->lease() : 0;
  if (prev_lease != lease) {
    if (prev_lease != 0) {
      if (auto s = SetLeaseKey(r.txn, prev_lease, stored_, false); !s.ok()) return s;
    }
    if (lease != 0) {
      if (auto s = SetLeaseKey(r.txn, lease, stored_, true); !s.ok()) return s;
    }
  }

  if (record_events_) {
    mvccpb::Event& event = events_.emplace_back();
    event.set_type(mvccpb::Event::PUT);
    internal::FillKeyValue(key, record, event.mutable_kv());
    // The event takes `prev` itself (no copy); `value` may point into it, so this comes last.
    if (prev != nullptr) event.mutable_prev_kv()->Swap(prev);
  }
  ++r.changes;
  return absl::OkStatus();
}

absl::Status WriteBatch::DeleteStoredKey(Request& r, absl::string_view stored, const mvccpb::KeyValue& prev) {
  const internal::Tables& t = store_->tables_;
  const Revision rev{r.rev(), r.changes};
  // The live record's revision, for the deletion marker's link (its sub revision is not in `prev`).
  MDB_val k = Val(stored), v;
  if (int rc = mdb_get(r.txn, t.latest, &k, &v); rc != 0) return MdbStatus(rc, "read latest");
  Record live;
  if (!DecodeRecord(internal::View(v), &live)) return absl::DataLossError("mvcc: malformed record in latest");
  Record tombstone;
  tombstone.tombstone = true;
  tombstone.mod_revision = rev.main;
  tombstone.mod_sub = rev.sub;
  tombstone.has_prev = true;
  tombstone.prev = Revision{live.mod_revision, live.mod_sub};
  if (IsHashedStoredKey(stored)) tombstone.full_key = prev.key();
  buf_.clear();
  EncodeRecord(tombstone, &buf_);
  k = Val(stored);
  if (int rc = mdb_del(r.txn, t.latest, &k, nullptr); rc != 0) return MdbStatus(rc, "delete latest");
  k = Val(stored);
  v = Val(buf_);
  if (int rc = mdb_put(r.txn, t.deleted, &k, &v, 0); rc != 0) return MdbStatus(rc, "put deleted");
  if (auto s = AppendVersion(r, rev, stored, buf_); !s.ok()) return s;
  if (prev.lease() != 0) {
    if (auto s = SetLeaseKey(r.txn, prev.lease(), stored, false); !s.ok()) return s;
  }
  ++r.changes;
  if (!record_events_) return absl::OkStatus();
  mvccpb::Event event;
  event.set_type(mvccpb::Event::DELETE);
  event.mutable_kv()->set_key(prev.key());
  event.mutable_kv()->set_mod_revision(rev.main);
  if (prev.mod_revision() != rev.main) {
    *event.mutable_prev_kv() = prev;
  } else {
    // Put earlier in this same revision (a txn's put, then its from-key delete): a watcher's
    // prev_kv is the key as it was before the revision, as etcd reads it at revision - 1.
    for (auto it = events_.rbegin(); it != events_.rend() && it->kv().mod_revision() == rev.main; ++it) {
      if (it->kv().key() == prev.key()) {
        if (it->has_prev_kv()) *event.mutable_prev_kv() = it->prev_kv();
        break;
      }
    }
  }
  events_.push_back(std::move(event));
  return absl::OkStatus();
}

absl::Status WriteBatch::DeleteKeys(Request& r, absl::string_view key, absl::string_view range_end, int64_t* deleted,
                                    KvList* prev_out) {
  KvList victims;
  int64_t count = 0;
  if (auto s = View(r).RangeKeys(internal::KeyRange::From(key, range_end), 0, 0, false, &victims, &count); !s.ok()) {
    return s;
  }
  std::string stored;
  for (const mvccpb::KeyValue& kv : victims) {
    EncodeStoredKey(kv.key(), &stored);
    if (auto s = DeleteStoredKey(r, stored, kv); !s.ok()) return s;
  }
  *deleted = victims.size();
  if (prev_out != nullptr) prev_out->Swap(&victims);
  return absl::OkStatus();
}

absl::StatusOr<MDB_cursor*> WriteBatch::LatestCursor() {
  if (latest_cursor_ == nullptr) {
    if (auto s = MdbStatus(mdb_cursor_open(txn_, store_->tables_.latest, &latest_cursor_), "cursor"); !s.ok()) {
      latest_cursor_ = nullptr;
      return s;
    }
  }
  return latest_cursor_;
}

absl::Status WriteBatch::ApplyPut(Request& r, const etcdserverpb::PutRequest& req, etcdserverpb::PutResponse* resp) {
  EncodeStoredKey(req.key(), &stored_);
  absl::StatusOr<MDB_cursor*> cursor = LatestCursor();
  if (!cursor.ok()) return cursor.status();
  Record current;
  bool found = false;
  if (auto s = View(r).GetLatest(stored_, req.key(), &current, &found, nullptr, *cursor); !s.ok()) return s;
  if ((req.ignore_value() || req.ignore_lease()) && !found) return ErrKeyNotFound();
  mvccpb::KeyValue prev;
  Revision chain_prev;
  bool has_chain_prev = false;
  if (found) {
    if (record_events_ || req.prev_kv() || req.ignore_value()) {
      internal::FillKeyValue(req.key(), current, &prev);  // a copy: the writes below may move pages
    } else {
      internal::FillVersionInfo(current, &prev);  // all PutKey reads of it
    }
    chain_prev = Revision{current.mod_revision, current.mod_sub};
    has_chain_prev = true;
  } else {
    // A re-creation links to the key's deletion marker, which stops being the key's head.
    MDB_val k = Val(stored_), v;
    const int rc = mdb_get(r.txn, store_->tables_.deleted, &k, &v);
    if (rc != 0 && rc != MDB_NOTFOUND) return MdbStatus(rc, "get deleted");
    if (rc == 0) {
      Record marker;
      if (!DecodeRecord(internal::View(v), &marker)) return absl::DataLossError("mvcc: malformed record in deleted");
      chain_prev = Revision{marker.mod_revision, marker.mod_sub};
      has_chain_prev = true;
      k = Val(stored_);
      if (int del = mdb_del(r.txn, store_->tables_.deleted, &k, nullptr); del != 0) {
        return MdbStatus(del, "delete deleted");
      }
    }
  }
  absl::string_view value = req.ignore_value() ? absl::string_view(prev.value()) : absl::string_view(req.value());
  const int64_t lease = req.ignore_lease() ? prev.lease() : req.lease();
  // Found: the cursor still stands on the key (nothing in `latest` was written since).
  if (auto s = PutKey(r, req.key(), value, lease, found ? &prev : nullptr, has_chain_prev ? &chain_prev : nullptr,
                      found ? *cursor : nullptr);
      !s.ok()) {
    return s;
  }
  if (req.prev_kv() && found) {
    if (record_events_) {
      *resp->mutable_prev_kv() = events_.back().prev_kv();  // PutKey moved it there
    } else {
      resp->mutable_prev_kv()->Swap(&prev);
    }
  }
  resp->mutable_header()->set_revision(r.rev());
  return absl::OkStatus();
}

absl::Status WriteBatch::ApplyDelete(Request& r, const etcdserverpb::DeleteRangeRequest& req,
                                     etcdserverpb::DeleteRangeResponse* resp) {
  int64_t deleted = 0;
  if (auto s = DeleteKeys(r, req.key(), req.range_end(), &deleted, req.prev_kv() ? resp->mutable_prev_kvs() : nullptr);
      !s.ok()) {
    return s;
  }
  resp->set_deleted(deleted);
  resp->mutable_header()->set_revision(r.read_rev());
  return absl::OkStatus();
}

absl::Status WriteBatch::Put(const etcdserverpb::PutRequest& request, etcdserverpb::PutResponse* response) {
  if (auto s = ValidatePut(request); !s.ok()) return s;
  if (request.lease() != 0 && !LeaseExists(request.lease())) return ErrLeaseNotFound();
  store_->puts_.fetch_add(1, std::memory_order_relaxed);
  return RunRequest([&](Request& r) { return ApplyPut(r, request, response); });
}

absl::Status WriteBatch::DeleteRange(const etcdserverpb::DeleteRangeRequest& request,
                                     etcdserverpb::DeleteRangeResponse* response) {
  store_->deletes_.fetch_add(1, std::memory_order_relaxed);
  return RunRequest([&](Request& r) { return ApplyDelete(r, request, response); });
}

namespace {

// etcd evaluates every compare on the chosen path up front, against the state before the txn, and
// records the outcomes in pre-order (a txn's own result, then its nested txns').
void ComputePath(const KvView& view, const etcdserverpb::TxnRequest& req, std::vector<bool>* path) {
  bool succeeded = true;
  for (const auto& compare : req.compare()) {
    if (!view.Compare(compare)) {
      succeeded = false;
      break;
    }
  }
  path->push_back(succeeded);
  for (const auto& op : succeeded ? req.success() : req.failure()) {
    if (op.has_request_txn()) ComputePath(view, op.request_txn(), path);
  }
}

}  // namespace

absl::Status WriteBatch::CheckTxnOps(MDB_txn* txn, const KvView& before, const etcdserverpb::TxnRequest& req,
                                     const std::vector<bool>& path, size_t* pos, TxnCheckPass pass,
                                     std::vector<const etcdserverpb::RequestOp*>* earlier_writes) {
  const bool succeeded = path[(*pos)++];
  for (const auto& op : succeeded ? req.success() : req.failure()) {
    if (op.has_request_txn()) {
      if (auto s = CheckTxnOps(txn, before, op.request_txn(), path, pos, pass, earlier_writes); !s.ok()) return s;
    } else if (pass == TxnCheckPass::kRanges) {
      if (op.has_request_range() && op.request_range().revision() != 0) {
        if (auto s = before.CheckRevision(op.request_range().revision()); !s.ok()) return s;
      }
    } else if (op.has_request_put()) {
      const auto& put = op.request_put();
      if (auto s = ValidatePut(put); !s.ok()) return s;
      // etcd's order inside a txn: the key's existence first, then the lease (a plain put checks
      // the lease first).
      if (put.ignore_value() || put.ignore_lease()) {
        // etcd's rule: the key must exist before the txn. It must also still exist when this put
        // runs, after the txn's earlier writes (a delete of it earlier in the same txn made etcd
        // 3.4 panic); both are known now, before anything is written.
        std::string stored;
        EncodeStoredKey(put.key(), &stored);
        Record record;
        bool found = false;
        if (auto s = before.GetLatest(stored, put.key(), &record, &found); !s.ok()) return s;
        bool exists_then = found;
        for (const etcdserverpb::RequestOp* w : *earlier_writes) {
          if (w->has_request_put() && w->request_put().key() == put.key()) exists_then = true;
          if (w->has_request_delete_range() &&
              internal::KeyRange::From(w->request_delete_range().key(), w->request_delete_range().range_end())
                  .Contains(put.key())) {
            exists_then = false;
          }
        }
        if (!found || !exists_then) return ErrKeyNotFound();
      }
      if (put.lease() != 0 && !LeaseExistsIn(txn, put.lease())) return ErrLeaseNotFound();
      earlier_writes->push_back(&op);
    } else if (op.has_request_delete_range()) {
      earlier_writes->push_back(&op);
    }
  }
  return absl::OkStatus();
}

absl::Status WriteBatch::ApplyTxnOps(Request& r, const etcdserverpb::TxnRequest& req, const std::vector<bool>& path,
                                     size_t* pos, etcdserverpb::TxnResponse* resp) {
  const bool succeeded = path[(*pos)++];
  resp->set_succeeded(succeeded);
  const auto& ops = succeeded ? req.success() : req.failure();
  resp->mutable_responses()->Reserve(ops.size());
  for (const auto& op : ops) {
    etcdserverpb::ResponseOp* out = resp->add_responses();
    absl::Status s;
    switch (op.request_case()) {
      case etcdserverpb::RequestOp::kRequestRange:
        ++txn_ops_;
        store_->ranges_.fetch_add(1, std::memory_order_relaxed);
        s = View(r).Range(op.request_range(), out->mutable_response_range());
        break;
      case etcdserverpb::RequestOp::kRequestPut:
        ++txn_ops_;
        store_->puts_.fetch_add(1, std::memory_order_relaxed);
        s = ApplyPut(r, op.request_put(), out->mutable_response_put());
        break;
      case etcdserverpb::RequestOp::kRequestDeleteRange:
        ++txn_ops_;
        store_->deletes_.fetch_add(1, std::memory_order_relaxed);
        s = ApplyDelete(r, op.request_delete_range(), out->mutable_response_delete_range());
        break;
      case etcdserverpb::RequestOp::kRequestTxn: {
        etcdserverpb::TxnResponse* nested = out->mutable_response_txn();
        nested->mutable_header();  // etcd leaves nested headers empty
        s = ApplyTxnOps(r, op.request_txn(), path, pos, nested);
        break;
      }
      default:
        break;
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status WriteBatch::Txn(const etcdserverpb::TxnRequest& request, etcdserverpb::TxnResponse* response) {
  return RunRequest([&](Request& r) {
    const KvView before = View(r);
    std::vector<bool> path;
    ComputePath(before, request, &path);
    size_t pos = 0;
    std::vector<const etcdserverpb::RequestOp*> earlier_writes;
    for (TxnCheckPass pass : {TxnCheckPass::kPuts, TxnCheckPass::kRanges}) {
      pos = 0;
      if (auto s = CheckTxnOps(r.txn, before, request, path, &pos, pass, &earlier_writes); !s.ok()) return s;
    }
    pos = 0;
    txn_ops_ = 0;
    absl::Status applied = ApplyTxnOps(r, request, path, &pos, response);
    if (txn_ops_ > 1) store_->txns_.fetch_add(1, std::memory_order_relaxed);
    if (!applied.ok()) return applied;
    response->mutable_header()->set_revision(r.read_rev());
    return absl::OkStatus();
  });
}

absl::Status WriteBatch::Compact(const etcdserverpb::CompactionRequest& request,
                                 etcdserverpb::CompactionResponse* response) {
  if (txn_ == nullptr) return absl::FailedPreconditionError("mvcc: write batch already committed");
  const int64_t rev = request.revision();
  if (rev <= state_.compact_revision) return ErrCompacted();
  if (rev > state_.current_revision) return ErrFutureRev();
  state_.compact_revision = rev;
  response->mutable_header()->set_revision(state_.current_revision);
  return absl::OkStatus();
}

absl::Status WriteBatch::Range(const etcdserverpb::RangeRequest& request, etcdserverpb::RangeResponse* response) {
  if (txn_ == nullptr) return absl::FailedPreconditionError("mvcc: write batch already committed");
  store_->ranges_.fetch_add(1, std::memory_order_relaxed);
  return KvView(txn_, &store_->tables_, state_.current_revision, state_.compact_revision).Range(request, response);
}

bool WriteBatch::LeaseExists(int64_t id) { return txn_ != nullptr && LeaseExistsIn(txn_, id); }

bool WriteBatch::LeaseExistsIn(MDB_txn* txn, int64_t id) const {
  char k[8];
  PutBigEndian64(static_cast<uint64_t>(id), k);
  MDB_val key = Val(absl::string_view(k, 8)), data;
  return mdb_get(txn, store_->tables_.leases, &key, &data) == 0;
}

absl::Status WriteBatch::LeaseGrant(int64_t id, int64_t ttl) {
  return RunRequest([&](Request& r) {
    char k[8], v[8];
    PutBigEndian64(static_cast<uint64_t>(id), k);
    PutBigEndian64(static_cast<uint64_t>(ttl), v);
    MDB_val key = Val(absl::string_view(k, 8)), data = Val(absl::string_view(v, 8));
    int rc = mdb_put(r.txn, store_->tables_.leases, &key, &data, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST) return ErrLeaseExists();
    return MdbStatus(rc, "grant lease");
  });
}

absl::Status WriteBatch::LeaseCheckpoint(int64_t id, int64_t remaining_ttl) {
  return RunRequest([&](Request& r) -> absl::Status {
    char k[8], v[16];
    PutBigEndian64(static_cast<uint64_t>(id), k);
    MDB_val key = Val(absl::string_view(k, 8)), data;
    int rc = mdb_get(r.txn, store_->tables_.leases, &key, &data);
    if (rc == MDB_NOTFOUND) return ErrLeaseNotFound();
    if (rc != 0) return MdbStatus(rc, "read lease");
    if (data.mv_size < 8) return absl::DataLossError("mvcc: malformed lease record");
    std::memcpy(v, data.mv_data, 8);  // the granted TTL stays
    size_t size = 8;
    if (remaining_ttl > 0) {
      PutBigEndian64(static_cast<uint64_t>(remaining_ttl), v + 8);
      size = 16;
    }
    MDB_val value = Val(absl::string_view(v, size));
    return MdbStatus(mdb_put(r.txn, store_->tables_.leases, &key, &value, 0), "checkpoint lease");
  });
}

absl::Status WriteBatch::LeaseRevoke(int64_t id, etcdserverpb::LeaseRevokeResponse* response) {
  return RunRequest([&](Request& r) -> absl::Status {
    const internal::Tables& t = store_->tables_;
    char k[8];
    PutBigEndian64(static_cast<uint64_t>(id), k);
    MDB_val key = Val(absl::string_view(k, 8)), data;
    int rc = mdb_del(r.txn, t.leases, &key, nullptr);
    if (rc == MDB_NOTFOUND) return ErrLeaseNotFound();
    if (rc != 0) return MdbStatus(rc, "revoke lease");

    // Collect the attached keys first: deleting them edits lease_keys under the cursor.
    std::vector<std::string> attached;
    {
      internal::Cursor cursor;
      if (auto s = cursor.Open(r.txn, t.lease_keys); !s.ok()) return s;
      key = Val(absl::string_view(k, 8));
      for (bool ok = cursor.Get(&key, &data, MDB_SET_RANGE); ok; ok = cursor.Get(&key, &data, MDB_NEXT)) {
        absl::string_view entry = internal::View(key);
        if (entry.size() < 8 || entry.substr(0, 8) != absl::string_view(k, 8)) break;
        attached.emplace_back(entry.substr(8));
      }
      if (!cursor.error().ok()) return cursor.error();
    }
    for (const std::string& stored : attached) {
      MDB_val sk = Val(stored), sv;
      rc = mdb_get(r.txn, t.latest, &sk, &sv);
      if (rc == MDB_NOTFOUND) continue;
      if (rc != 0) return MdbStatus(rc, "revoke: read key");
      Record record;
      if (!DecodeRecord(internal::View(sv), &record)) return absl::DataLossError("mvcc: malformed record in latest");
      mvccpb::KeyValue prev;
      internal::FillKeyValue(internal::UserKey(stored, record), record, &prev);
      if (auto s = DeleteStoredKey(r, stored, prev); !s.ok()) return s;
    }
    response->mutable_header()->set_revision(r.read_rev());
    return absl::OkStatus();
  });
}

void WriteBatch::SetApplied(uint64_t index, uint64_t term) {
  state_.applied_index = index;
  state_.applied_term = term;
}

absl::Status WriteBatch::SetMembership(absl::string_view blob) {
  if (txn_ == nullptr) return absl::FailedPreconditionError("mvcc: write batch already committed");
  MDB_val key = internal::Val(internal::kMembershipKey), data = internal::Val(blob);
  return internal::MdbStatus(mdb_put(txn_, store_->tables_.meta, &key, &data, 0), "write membership");
}

absl::Status WriteBatch::SetAuthState(absl::string_view blob) {
  if (txn_ == nullptr) return absl::FailedPreconditionError("mvcc: write batch already committed");
  MDB_val key = internal::Val(internal::kAuthKey), data = internal::Val(blob);
  return internal::MdbStatus(mdb_put(txn_, store_->tables_.meta, &key, &data, 0), "write auth state");
}

absl::StatusOr<std::string> WriteBatch::AuthState() const {
  if (txn_ == nullptr) return absl::FailedPreconditionError("mvcc: write batch already committed");
  MDB_val key = internal::Val(internal::kAuthKey), data;
  int rc = mdb_get(txn_, store_->tables_.meta, &key, &data);
  if (rc == MDB_NOTFOUND) return std::string();
  if (rc != 0) return internal::MdbStatus(rc, "read auth state");
  return std::string(static_cast<const char*>(data.mv_data), data.mv_size);
}

absl::Status WriteBatch::SetAlarms(absl::string_view blob) {
  if (txn_ == nullptr) return absl::FailedPreconditionError("mvcc: write batch already committed");
  MDB_val key = internal::Val(internal::kAlarmsKey), data = internal::Val(blob);
  return internal::MdbStatus(mdb_put(txn_, store_->tables_.meta, &key, &data, 0), "write alarms");
}

absl::Status WriteBatch::Commit() {
  if (txn_ == nullptr) return absl::FailedPreconditionError("mvcc: write batch already committed");
  absl::Status s = poisoned_.ok() ? internal::WriteState(txn_, store_->tables_, state_) : poisoned_;
  int64_t pages_in_use = -1;
  if (!s.ok()) {
    mdb_txn_abort(txn_);
  } else {
    pages_in_use = store_->PagesInUse(txn_);  // for HasRoomFor, without a read txn per request
    s = MdbStatus(mdb_txn_commit(txn_), "commit");  // frees the txn either way
  }
  txn_ = nullptr;
  latest_cursor_ = nullptr;  // freed with the transaction
  store_->batch_open_ = false;
  if (s.ok()) {
    store_->pages_in_use_.store(pages_in_use, std::memory_order_release);
    store_->Publish(state_);
  }
  return s;
}

}  // namespace cairn::mvcc
