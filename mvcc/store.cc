#include "mvcc/store.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstdio>

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "mvcc/chain.h"
#include "mvcc/kv_view.h"
#include "mvcc/upgrade.h"

namespace cairn::mvcc {

using internal::Cursor;
using internal::KvView;
using internal::MdbStatus;
using internal::StoreState;
using internal::Val;
using internal::View;

namespace {

constexpr MDB_dbi kFreeDbi = 0;  // LMDB's free-page list
constexpr MDB_dbi kMainDbi = 1;  // LMDB's table of named sub-databases

// A pooled read transaction for the duration of a scope.
class ReadTxn {
 public:
  ReadTxn(const Store* store, MDB_txn* txn, void (Store::*release)(MDB_txn*) const)
      : store_(store), txn_(txn), release_(release) {}
  ~ReadTxn() { (store_->*release_)(txn_); }
  MDB_txn* get() const { return txn_; }

 private:
  const Store* store_;
  MDB_txn* txn_;
  void (Store::*release_)(MDB_txn*) const;
};

}  // namespace

absl::Status ValidatePut(const etcdserverpb::PutRequest& request) {
  if (request.key().empty()) return ErrEmptyKey();
  if (request.ignore_value() && !request.value().empty()) return ErrValueProvided();
  if (request.ignore_lease() && request.lease() != 0) return ErrLeaseProvided();
  return absl::OkStatus();
}

bool TxnHasPuts(const etcdserverpb::TxnRequest& request) {
  for (const auto* ops : {&request.success(), &request.failure()}) {
    for (const auto& op : *ops) {
      if (op.has_request_put()) return true;
      if (op.has_request_txn() && TxnHasPuts(op.request_txn())) return true;
    }
  }
  return false;
}

namespace {

// LMDB does not expose where it mapped the data file; /proc/self/maps does. The mapping is the one
// of the file open on `fd` (same device and inode). False when it cannot be found.
bool FindFileMapping(int fd, void** base, size_t* length) {
  struct stat st;
  if (fstat(fd, &st) != 0) return false;
  std::FILE* maps = std::fopen("/proc/self/maps", "r");
  if (maps == nullptr) return false;
  char line[4096];
  bool found = false;
  while (!found && std::fgets(line, sizeof line, maps) != nullptr) {
    unsigned long start, end, offset, inode;
    unsigned dev_major, dev_minor;
    char perms[8];
    if (std::sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &start, &end, perms, &offset, &dev_major, &dev_minor,
                    &inode) != 7) {
      continue;
    }
    if (inode == st.st_ino && makedev(dev_major, dev_minor) == st.st_dev && offset == 0) {
      *base = reinterpret_cast<void*>(start);
      *length = end - start;
      found = true;
    }
  }
  std::fclose(maps);
  return found;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("mvcc: create ", options.dir, ": ", ec.message()));

  std::unique_ptr<Store> store(new Store());
  store->options_ = options;
  if (int rc = mdb_env_create(&store->env_); rc != 0) return MdbStatus(rc, "create env");
  MDB_env* env = store->env_;
  // Below about 1 MiB, a batch's own freed-but-not-yet-reusable pages can fill the map and make
  // the commit itself fail.
  const uint64_t headroom =
      std::max<uint64_t>(options.headroom_bytes != 0 ? options.headroom_bytes
                                                     : std::max<uint64_t>(options.quota_bytes / 4, 8ull << 20),
                         1ull << 20);
  if (int rc = mdb_env_set_maxdbs(env, 16); rc != 0) return MdbStatus(rc, "set maxdbs");
  if (int rc = mdb_env_set_maxreaders(env, options.max_readers); rc != 0) return MdbStatus(rc, "set maxreaders");
  if (int rc = mdb_env_set_mapsize(env, options.quota_bytes + headroom); rc != 0) return MdbStatus(rc, "set mapsize");
  // MDB_WRITEMAP: a commit writes its pages in place through the map instead of copying each dirty
  // page into a malloc'd buffer and pwrite()ing it (about 3 us less CPU per put at 64 clients). The
  // pages it dirties stay mapped, as read pages do; ReleaseMappedPages lets go of both. The costs,
  // accepted: the file is extended (sparsely) to the map size, a stray write through a pointer into
  // store memory would corrupt the file instead of faulting (nothing outside LMDB writes there: every
  // view the store hands out is const), and a full file system shows as SIGBUS on a page fault instead
  // of a failed write (either way the server stops and the log keeps every acknowledged write).
  unsigned flags = MDB_NOTLS | MDB_NORDAHEAD | MDB_WRITEMAP;
  if (options.no_sync) {
    flags |= MDB_NOSYNC;
  } else if (!options.sync_commits) {
    flags |= MDB_NOMETASYNC;
  }
  if (int rc = mdb_env_open(env, options.dir.c_str(), flags, 0644); rc != 0) {
    return MdbStatus(rc, absl::StrCat("open ", options.dir));
  }
  MDB_stat env_stat;
  mdb_env_stat(env, &env_stat);
  store->page_size_ = env_stat.ms_psize;
  if (mdb_filehandle_t fd; mdb_env_get_fd(env, &fd) == 0) {
    FindFileMapping(fd, &store->map_base_, &store->map_length_);
  }
  store->quota_pages_ = options.quota_bytes / env_stat.ms_psize;
  store->headroom_pages_ = headroom / env_stat.ms_psize;

  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(env, nullptr, 0, &txn); rc != 0) return MdbStatus(rc, "begin open");
  auto fail = [&](absl::Status s) {
    mdb_txn_abort(txn);
    return s;
  };
  MDB_dbi meta;
  int rc = mdb_dbi_open(txn, "meta", 0, &meta);
  if (rc == MDB_NOTFOUND) {
    MDB_stat main_stat;
    mdb_stat(txn, kMainDbi, &main_stat);
    if (main_stat.ms_entries != 0) {
      return fail(absl::FailedPreconditionError(
          absl::StrCat("mvcc: ", options.dir, " holds an LMDB database that is not a Cairn store")));
    }
    if (auto s = internal::OpenTables(txn, true, &store->tables_); !s.ok()) return fail(s);
    MDB_val k = Val(internal::kFormatKey), v = Val(internal::kFormatVersion);
    if (auto s = MdbStatus(mdb_put(txn, store->tables_.meta, &k, &v, 0), "write format"); !s.ok()) return fail(s);
    if (auto s = internal::WriteState(txn, store->tables_, StoreState()); !s.ok()) return fail(s);
  } else if (rc != 0) {
    return fail(MdbStatus(rc, "open meta"));
  } else {
    MDB_val k = Val(internal::kFormatKey), v;
    rc = mdb_get(txn, meta, &k, &v);
    std::string format = rc == 0 ? std::string(View(v)) : std::string("(none)");
    if (format == internal::kFormat2Version) {
      // Converted in this same transaction: a crash before the commit leaves format 2 behind.
      if (auto s = internal::UpgradeFromFormat2(txn); !s.ok()) return fail(s);
      store->converted_from_ = format;
      format = internal::kFormatVersion;
    }
    if (format != internal::kFormatVersion) {
      return fail(absl::FailedPreconditionError(absl::StrCat("mvcc: ", options.dir, " has store format ", format,
                                                             ", this build reads ", internal::kFormatVersion)));
    }
    if (auto s = internal::OpenTables(txn, false, &store->tables_); !s.ok()) {
      return fail(absl::FailedPreconditionError(absl::StrCat("mvcc: incomplete store: ", s.message())));
    }
  }
  StoreState state;
  if (auto s = internal::ReadState(txn, store->tables_, &state); !s.ok()) return fail(s);
  if (auto s = MdbStatus(mdb_txn_commit(txn), "commit open"); !s.ok()) return s;
  store->Publish(state);
  store->RefreshPagesInUse();
  return store;
}

Store::~Store() {
  {
    absl::MutexLock lock(&readers_mu_);
    for (MDB_txn* txn : idle_readers_) mdb_txn_abort(txn);
    idle_readers_.clear();
  }
  if (env_ != nullptr) mdb_env_close(env_);
}

absl::Status Store::Sync() {
  // Forced: with MDB_NOSYNC a plain sync would be skipped, and this is the one place that must reach disk.
  return MdbStatus(mdb_env_sync(env_, 1), "sync");
}

void Store::ReleaseMappedPages() const {
  if (map_base_ == nullptr) return;
  MDB_envinfo info;
  if (mdb_env_info(env_, &info) != 0) return;
  const size_t used = std::min(static_cast<size_t>(info.me_last_pgno + 1) * page_size_, map_length_);
  // MADV_DONTNEED on a shared file mapping only unmaps: the data is in the page cache and the file.
  madvise(map_base_, used, MADV_DONTNEED);
}

void Store::Publish(const StoreState& state) {
  current_revision_.store(state.current_revision, std::memory_order_release);
  compact_revision_.store(state.compact_revision, std::memory_order_release);
  applied_index_.store(state.applied_index, std::memory_order_release);
  applied_term_.store(state.applied_term, std::memory_order_release);
  compaction_pending_.store(state.compact_revision > state.compact_done, std::memory_order_release);
}

absl::StatusOr<MDB_txn*> Store::AcquireReader() const {
  MDB_txn* txn = nullptr;
  {
    absl::MutexLock lock(&readers_mu_);
    if (!idle_readers_.empty()) {
      txn = idle_readers_.back();
      idle_readers_.pop_back();
    }
  }
  if (txn != nullptr) {
    if (int rc = mdb_txn_renew(txn); rc != 0) {
      mdb_txn_abort(txn);
      return MdbStatus(rc, "renew read txn");
    }
    return txn;
  }
  if (int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn); rc != 0) return MdbStatus(rc, "begin read txn");
  return txn;
}

void Store::ReleaseReader(MDB_txn* txn) const {
  // Reset releases the snapshot at once, so a parked reader never pins old pages.
  mdb_txn_reset(txn);
  absl::MutexLock lock(&readers_mu_);
  idle_readers_.push_back(txn);
}

int64_t Store::PagesInUse(MDB_txn* txn) const {
  int64_t pages = 2;  // LMDB's two meta pages
  const MDB_dbi dbis[] = {kFreeDbi,        kMainDbi,         tables_.meta,   tables_.latest,
                          tables_.deleted, tables_.versions, tables_.leases, tables_.lease_keys};
  for (MDB_dbi dbi : dbis) {
    MDB_stat st;
    if (mdb_stat(txn, dbi, &st) == 0) pages += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
  }
  return pages;
}

absl::Status Store::Range(const etcdserverpb::RangeRequest& request, etcdserverpb::RangeResponse* response) const {
  ranges_.fetch_add(1, std::memory_order_relaxed);
  auto txn = AcquireReader();
  if (!txn.ok()) return txn.status();
  ReadTxn reader(this, *txn, &Store::ReleaseReader);
  StoreState state;
  if (auto s = internal::ReadState(reader.get(), tables_, &state); !s.ok()) return s;
  return KvView(reader.get(), &tables_, state.current_revision, state.compact_revision).Range(request, response);
}

absl::StatusOr<std::string> Store::ReadMetaRecord(const char* key_name, const char* what) const {
  auto txn = AcquireReader();
  if (!txn.ok()) return txn.status();
  ReadTxn reader(this, *txn, &Store::ReleaseReader);
  MDB_val key = internal::Val(key_name), data;
  int rc = mdb_get(reader.get(), tables_.meta, &key, &data);
  if (rc == MDB_NOTFOUND) return std::string();
  if (rc != 0) return internal::MdbStatus(rc, what);
  return std::string(static_cast<const char*>(data.mv_data), data.mv_size);
}

absl::StatusOr<std::string> Store::Membership() const {
  return ReadMetaRecord(internal::kMembershipKey, "read membership");
}

absl::StatusOr<std::string> Store::AuthState() const { return ReadMetaRecord(internal::kAuthKey, "read auth state"); }

absl::StatusOr<std::string> Store::Alarms() const { return ReadMetaRecord(internal::kAlarmsKey, "read alarms"); }

std::unique_ptr<WriteBatch> Store::BeginWrite() {
  if (batch_open_) return nullptr;
  MDB_txn* txn = nullptr;
  if (mdb_txn_begin(env_, nullptr, 0, &txn) != 0) return nullptr;
  StoreState state;
  if (!internal::ReadState(txn, tables_, &state).ok()) {
    mdb_txn_abort(txn);
    return nullptr;
  }
  batch_open_ = true;
  return std::unique_ptr<WriteBatch>(new WriteBatch(this, txn, state));
}

absl::StatusOr<bool> Store::CompactStep(size_t max_revisions) {
  if (batch_open_) return absl::FailedPreconditionError("mvcc: CompactStep while a write batch is open");
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(env_, nullptr, 0, &txn); rc != 0) return MdbStatus(rc, "begin compaction");
  auto fail = [&](absl::Status s) {
    mdb_txn_abort(txn);
    return s;
  };
  StoreState state;
  if (auto s = internal::ReadState(txn, tables_, &state); !s.ok()) return fail(s);
  if (state.compact_revision <= state.compact_done) {
    mdb_txn_abort(txn);
    compaction_pending_.store(false, std::memory_order_release);
    return true;
  }
  const int64_t target = state.compact_revision;

  // The slice: up to max_revisions entries of `versions` from the cursor, all at or below target.
  struct Change {
    Revision rev;
    bool has_prev = false;
    Revision prev;
    bool tombstone = false;
    std::string stored;  // deletion markers only
  };
  std::vector<Change> slice;
  bool more = false;
  {
    Cursor cursor;
    if (auto s = cursor.Open(txn, tables_.versions); !s.ok()) return fail(s);
    std::string seek;
    AppendRevision(state.compact_cursor, &seek);
    MDB_val k = Val(seek), v;
    for (bool ok = cursor.Get(&k, &v, MDB_SET_RANGE); ok; ok = cursor.Get(&k, &v, MDB_NEXT)) {
      const Revision rev = DecodeRevision(static_cast<const char*>(k.mv_data));
      if (rev.main > target) break;
      if (slice.size() == std::max<size_t>(max_revisions, 1)) {
        more = true;
        break;
      }
      absl::string_view stored, raw;
      Record record;
      if (!DecodeVersionEntry(View(v), &stored, &raw) || !DecodeRecord(raw, &record)) {
        return fail(absl::DataLossError("mvcc: malformed entry in versions"));
      }
      Change& change = slice.emplace_back();
      change.rev = rev;
      change.has_prev = record.has_prev;
      change.prev = record.prev;
      change.tombstone = record.tombstone;
      if (record.tombstone) change.stored.assign(stored.data(), stored.size());
    }
    if (!cursor.error().ok()) return fail(cursor.error());
  }

  // A change at or below the target supersedes the version it links to. A deletion marker below
  // the target goes too, with the key's `deleted` head if that is still this marker; one exactly at
  // the target stays until the next compaction, so the target revision still reads, and replays
  // from it, as it was. Nothing else needs visiting: older links were removed by older changes.
  std::string version_key;
  auto remove_version = [&](Revision rev) -> absl::Status {
    version_key.clear();
    AppendRevision(rev, &version_key);
    MDB_val k = Val(version_key);
    const int rc = mdb_del(txn, tables_.versions, &k, nullptr);
    return rc == MDB_NOTFOUND ? absl::OkStatus() : MdbStatus(rc, "compact versions");
  };
  for (const Change& change : slice) {
    if (change.has_prev) {
      if (auto s = remove_version(change.prev); !s.ok()) return fail(s);
    }
    if (!change.tombstone || change.rev.main >= target) continue;
    if (auto s = remove_version(change.rev); !s.ok()) return fail(s);
    MDB_val k = Val(change.stored), v;
    int rc = mdb_get(txn, tables_.deleted, &k, &v);
    if (rc == MDB_NOTFOUND) continue;
    if (rc != 0) return fail(MdbStatus(rc, "compact: get deleted"));
    Record head;
    if (!DecodeRecord(View(v), &head)) return fail(absl::DataLossError("mvcc: malformed record in deleted"));
    if (head.mod_revision != change.rev.main || head.mod_sub != change.rev.sub) continue;
    k = Val(change.stored);
    if (rc = mdb_del(txn, tables_.deleted, &k, nullptr); rc != 0) return fail(MdbStatus(rc, "compact deleted"));
  }

  if (more) {
    state.compact_cursor = slice.back().rev;
    ++state.compact_cursor.sub;
  } else {
    state.compact_done = target;
    state.compact_cursor = Revision{target, 0};
  }
  if (auto s = internal::WriteState(txn, tables_, state); !s.ok()) return fail(s);
  const int64_t pages_in_use = PagesInUse(txn);
  if (auto s = MdbStatus(mdb_txn_commit(txn), "commit compaction"); !s.ok()) return s;
  pages_in_use_.store(pages_in_use, std::memory_order_release);
  compaction_pending_.store(more, std::memory_order_release);
  return !more;
}

int64_t Store::DbSize() const {
  MDB_envinfo info;
  mdb_env_info(env_, &info);
  return static_cast<int64_t>((info.me_last_pgno + 1) * page_size_);
}

absl::Status Store::ListLeases(std::vector<LeaseRecord>* leases) const {
  auto txn = AcquireReader();
  if (!txn.ok()) return txn.status();
  ReadTxn reader(this, *txn, &Store::ReleaseReader);
  Cursor cursor;
  if (auto s = cursor.Open(reader.get(), tables_.leases); !s.ok()) return s;
  MDB_val k, v;
  for (bool ok = cursor.Get(&k, &v, MDB_FIRST); ok; ok = cursor.Get(&k, &v, MDB_NEXT)) {
    // The value is the TTL, followed by the checkpointed remaining TTL when there is one.
    if (k.mv_size != 8 || (v.mv_size != 8 && v.mv_size != 16)) return absl::DataLossError("mvcc: malformed lease record");
    const char* value = static_cast<const char*>(v.mv_data);
    leases->push_back(LeaseRecord{static_cast<int64_t>(GetBigEndian64(static_cast<const char*>(k.mv_data))),
                                  static_cast<int64_t>(GetBigEndian64(value)),
                                  v.mv_size == 16 ? static_cast<int64_t>(GetBigEndian64(value + 8)) : 0});
  }
  return cursor.error();
}

absl::Status Store::LeaseKeys(int64_t id, std::vector<std::string>* keys) const {
  auto txn = AcquireReader();
  if (!txn.ok()) return txn.status();
  ReadTxn reader(this, *txn, &Store::ReleaseReader);
  Cursor cursor;
  if (auto s = cursor.Open(reader.get(), tables_.lease_keys); !s.ok()) return s;
  char prefix[8];
  PutBigEndian64(static_cast<uint64_t>(id), prefix);
  const absl::string_view lease(prefix, 8);
  MDB_val k = Val(lease), v;
  for (bool ok = cursor.Get(&k, &v, MDB_SET_RANGE); ok; ok = cursor.Get(&k, &v, MDB_NEXT)) {
    const absl::string_view entry = View(k);
    if (entry.size() < 8 || entry.substr(0, 8) != lease) break;
    const absl::string_view stored = entry.substr(8);
    if (!IsHashedStoredKey(stored)) {
      keys->emplace_back(stored);
      continue;
    }
    MDB_val sk = Val(stored), sv;  // the full key of a long one lives in its record
    Record record;
    if (mdb_get(reader.get(), tables_.latest, &sk, &sv) == 0 && DecodeRecord(View(sv), &record)) {
      keys->emplace_back(record.full_key);
    }
  }
  return cursor.error();
}

int64_t Store::StoredVersions() const {
  auto txn = AcquireReader();
  if (!txn.ok()) return -1;
  ReadTxn reader(this, *txn, &Store::ReleaseReader);
  MDB_stat versions;
  if (mdb_stat(reader.get(), tables_.versions, &versions) != 0) return -1;
  return static_cast<int64_t>(versions.ms_entries);
}

int64_t Store::DbSizeInUse() const {
  auto txn = AcquireReader();
  if (!txn.ok()) return 0;
  ReadTxn reader(this, *txn, &Store::ReleaseReader);
  return PagesInUse(reader.get()) * static_cast<int64_t>(page_size_);
}

void Store::RefreshPagesInUse() {
  pages_in_use_.store(DbSizeInUse() / static_cast<int64_t>(page_size_), std::memory_order_release);
}

namespace {

// The most pages a put of `key` and `value` can add: its record in `latest` (or `deleted`), its
// entry in `versions` (the record behind a revision and the stored key), and a page split in each of
// those and in `lease_keys`, plus two branch pages.
int64_t PutPagesBound(size_t page_size, absl::string_view key, size_t value_size) {
  const size_t bytes = 2 * (key.size() + value_size + 64) + kRevisionBytes + key.size() + 32;
  return static_cast<int64_t>((bytes + page_size - 1) / page_size) + 3 + 2;
}

// Only one branch of a txn runs: the larger one bounds it.
int64_t TxnPagesBound(size_t page_size, const etcdserverpb::TxnRequest& request) {
  int64_t branches[2] = {0, 0};
  int i = 0;
  for (const auto* ops : {&request.success(), &request.failure()}) {
    for (const auto& op : *ops) {
      if (op.has_request_put()) {
        branches[i] += PutPagesBound(page_size, op.request_put().key(), op.request_put().value().size());
      } else if (op.has_request_txn()) {
        branches[i] += TxnPagesBound(page_size, op.request_txn());
      }
    }
    ++i;
  }
  return std::max(branches[0], branches[1]);
}

}  // namespace

bool Store::HasRoomForPages(int64_t pages_bound) const {
  return pages_bound == 0 ||
         pages_in_use_.load(std::memory_order_acquire) + pages_bound <= static_cast<int64_t>(quota_pages_);
}

bool Store::HasRoomFor(const etcdserverpb::PutRequest& request) const {
  return HasRoomForPages(PutPagesBound(page_size_, request.key(), request.value().size()));
}

bool Store::HasRoomFor(const etcdserverpb::TxnRequest& request) const {
  return HasRoomForPages(TxnPagesBound(page_size_, request));
}

bool Store::HasRoomForLease() const { return HasRoomForPages(1); }

bool Store::NearMapLimit() const {
  return pages_in_use_.load(std::memory_order_acquire) > static_cast<int64_t>(quota_pages_ + headroom_pages_ / 2);
}

absl::StatusOr<uint32_t> Store::HashKV(int64_t rev, int64_t* hash_revision, int64_t* compact_revision) const {
  auto txn = AcquireReader();
  if (!txn.ok()) return txn.status();
  ReadTxn reader(this, *txn, &Store::ReleaseReader);
  StoreState state;
  if (auto s = internal::ReadState(reader.get(), tables_, &state); !s.ok()) return s;
  if (rev > state.current_revision) return ErrFutureRev();
  if (rev <= 0) rev = state.current_revision;
  if (rev < state.compact_revision) return ErrCompacted();
  const int64_t compacted = state.compact_revision;

  // Hash the logical history at `rev`: every version above the compacted revision, plus each key's
  // newest version at or below it when live. Whatever physical compaction has or has not removed
  // yet is therefore invisible to the hash. Keys come in stored-key order (`latest` and `deleted`
  // merged), each key's versions oldest first, each hashed as (S ‖ revision, record in format 1's
  // encoding): the bytes formats 1 and 2 hashed, so members of any format agree.
  uint32_t crc = 0;
  internal::HeadCursor heads;
  if (auto s = heads.Open(reader.get(), tables_); !s.ok()) return s;
  struct Link {
    Revision rev;
    absl::string_view raw;  // read-only txn: mapped pages stay put until it ends
    bool tombstone;
  };
  std::vector<Link> chain;
  std::string version_key, scratch;
  for (heads.SeekFirst(); heads.Valid(); heads.Next()) {
    const absl::string_view stored = heads.stored();
    // Newest first, down to the first version at or below the compacted revision (or the chain's end).
    chain.clear();
    absl::string_view raw = heads.record();
    while (true) {
      Record record;
      if (!DecodeRecord(raw, &record)) return absl::DataLossError("mvcc: malformed record");
      chain.push_back(Link{Revision{record.mod_revision, record.mod_sub}, raw, record.tombstone});
      if (record.mod_revision <= compacted || !record.has_prev) break;
      absl::string_view link_stored;
      bool present;
      if (auto s = internal::GetVersion(reader.get(), tables_, record.prev, &link_stored, &raw, &present); !s.ok()) {
        return s;
      }
      if (!present) break;
    }
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      if (it->rev.main > rev) break;
      if (it->rev.main <= compacted && it->tombstone) continue;
      version_key.assign(stored.data(), stored.size());
      AppendRevision(it->rev, &version_key);
      crc = Crc32c(crc, version_key);
      crc = Crc32c(crc, RecordForHash(it->raw, &scratch));
    }
  }
  if (auto s = heads.error(); !s.ok()) return s;
  *hash_revision = rev;
  *compact_revision = compacted;
  return crc;
}

absl::StatusOr<uint32_t> Store::Hash() const {
  auto txn = AcquireReader();
  if (!txn.ok()) return txn.status();
  ReadTxn reader(this, *txn, &Store::ReleaseReader);
  uint32_t crc = 0;
  // Each piece is preceded by its length, so that moving bytes between a key and its value changes the hash.
  auto add = [&crc](absl::string_view piece) {
    char size[8];
    PutBigEndian64(piece.size(), size);
    crc = Crc32c(Crc32c(crc, absl::string_view(size, sizeof size)), piece);
  };
  absl::Status status;
  internal::ForEachTable(tables_, [&](absl::string_view name, MDB_dbi dbi) {
    if (!status.ok()) return;
    add(name);
    Cursor cursor;
    if (status = cursor.Open(reader.get(), dbi); !status.ok()) return;
    MDB_val k, v;
    for (bool ok = cursor.Get(&k, &v, MDB_FIRST); ok; ok = cursor.Get(&k, &v, MDB_NEXT)) {
      add(View(k));
      add(View(v));
    }
    status = cursor.error();
  });
  if (!status.ok()) return status;
  return crc;
}

absl::Status Store::ReadEvents(absl::string_view key, absl::string_view range_end, int64_t from_rev,
                               size_t max_events, std::vector<mvccpb::Event>* events, int64_t* next_rev) const {
  auto txn = AcquireReader();
  if (!txn.ok()) return txn.status();
  ReadTxn reader(this, *txn, &Store::ReleaseReader);
  StoreState state;
  if (auto s = internal::ReadState(reader.get(), tables_, &state); !s.ok()) return s;
  if (from_rev < state.compact_revision) return ErrCompacted();
  if (from_rev < 1) from_rev = 1;
  const internal::KeyRange range = internal::KeyRange::From(key, range_end);

  // Each `versions` entry is a whole event; only prev_kv needs a lookup, through the record's link.
  Cursor versions;
  if (auto s = versions.Open(reader.get(), tables_.versions); !s.ok()) return s;
  std::string seek;
  AppendRevision(Revision{from_rev, 0}, &seek);
  MDB_val k = Val(seek), v;
  int64_t last_main = -1;
  *next_rev = std::max(from_rev, state.current_revision + 1);
  for (bool ok = versions.Get(&k, &v, MDB_SET_RANGE); ok; ok = versions.Get(&k, &v, MDB_NEXT)) {
    const Revision rev = DecodeRevision(static_cast<const char*>(k.mv_data));
    if (events->size() >= max_events && rev.main != last_main && last_main != -1) {
      *next_rev = rev.main;
      break;
    }
    last_main = rev.main;
    absl::string_view stored, raw;
    Record record;
    if (!DecodeVersionEntry(View(v), &stored, &raw) || !DecodeRecord(raw, &record)) {
      return absl::DataLossError("mvcc: malformed entry in versions");
    }
    const absl::string_view user_key = internal::UserKey(stored, record);
    if (!range.Contains(user_key)) continue;
    mvccpb::Event& event = events->emplace_back();
    if (record.tombstone) {
      event.set_type(mvccpb::Event::DELETE);
      event.mutable_kv()->set_key(user_key.data(), user_key.size());
      event.mutable_kv()->set_mod_revision(rev.main);
    } else {
      event.set_type(mvccpb::Event::PUT);
      internal::FillKeyValue(user_key, record, event.mutable_kv());
    }
    // prev_kv is the key as it was before this revision (etcd reads it at revision - 1): a version
    // written earlier in the same revision (a txn's put, then its from-key delete) is passed over.
    Revision link = record.prev;
    bool has_link = record.has_prev;
    while (has_link) {
      absl::string_view prev_stored, prev_raw;
      bool present;
      if (auto s = internal::GetVersion(reader.get(), tables_, link, &prev_stored, &prev_raw, &present); !s.ok()) {
        return s;
      }
      Record prev;
      if (!present || !DecodeRecord(prev_raw, &prev)) break;
      if (link.main == rev.main) {
        link = prev.prev;
        has_link = prev.has_prev;
        continue;
      }
      if (!prev.tombstone) internal::FillKeyValue(user_key, prev, event.mutable_prev_kv());
      break;
    }
  }
  if (!versions.error().ok()) return versions.error();
  return absl::OkStatus();
}

}  // namespace cairn::mvcc
