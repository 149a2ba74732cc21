// Store images: copying the store into a file (CopyTo) and replacing the store's contents with an
// image (ReplaceContentsFrom), for raft snapshots and restores; an image of format 2 is converted
// as it is installed.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "mvcc/store.h"
#include "mvcc/upgrade.h"

namespace cairn::mvcc {

using internal::MdbStatus;
using internal::StoreState;
using internal::Val;
using internal::View;

namespace {

// An image file opened read-only as its own LMDB environment: this build's format, or format 2
// (an image taken before the upgrade), which ReplaceContentsFrom converts as it installs it.
class ImageEnv {
 public:
  ~ImageEnv() {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
    if (env_ != nullptr) mdb_env_close(env_);
  }
  absl::Status Open(const std::string& path) {
    if (int rc = mdb_env_create(&env_); rc != 0) return MdbStatus(rc, "create image env");
    mdb_env_set_maxdbs(env_, 16);
    if (int rc = mdb_env_open(env_, path.c_str(), MDB_RDONLY | MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOTLS, 0644); rc != 0) {
      return MdbStatus(rc, absl::StrCat("open image ", path));
    }
    if (int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn_); rc != 0) return MdbStatus(rc, "begin image read");
    MDB_val k = Val(internal::kFormatKey), v;
    MDB_dbi meta;
    if (mdb_dbi_open(txn_, "meta", 0, &meta) != 0 || mdb_get(txn_, meta, &k, &v) != 0 ||
        (View(v) != internal::kFormatVersion && View(v) != internal::kFormat2Version)) {
      return absl::FailedPreconditionError(absl::StrCat("mvcc: ", path, " is not a store image of format ",
                                                        internal::kFormatVersion, " or ", internal::kFormat2Version));
    }
    format2_ = View(v) == internal::kFormat2Version;
    if (!format2_) {
      if (auto s = internal::OpenTables(txn_, false, &tables_); !s.ok()) return s;
      return internal::ReadState(txn_, tables_, &state_);
    }
    // Format 2 shares meta, latest and the lease tables with this format; the rest are its own.
    tables_.meta = meta;
    const std::pair<const char*, MDB_dbi*> shared[] = {
        {"latest", &tables_.latest}, {"leases", &tables_.leases}, {"lease_keys", &tables_.lease_keys}};
    for (const auto& [name, dbi] : shared) {
      if (int rc = mdb_dbi_open(txn_, name, 0, dbi); rc != 0) return MdbStatus(rc, absl::StrCat("image table ", name));
    }
    if (auto s = internal::OpenFormat2Tables(txn_, false, &history_, &revisions_); !s.ok()) return s;
    return internal::ReadState(txn_, tables_, &state_);
  }
  MDB_txn* txn() const { return txn_; }
  const internal::Tables& tables() const { return tables_; }  // deleted and versions: format 3 only
  bool format2() const { return format2_; }
  MDB_dbi history() const { return history_; }      // format 2 only
  MDB_dbi revisions() const { return revisions_; }  // format 2 only
  const StoreState& state() const { return state_; }

 private:
  MDB_env* env_ = nullptr;
  MDB_txn* txn_ = nullptr;
  internal::Tables tables_;
  bool format2_ = false;
  MDB_dbi history_ = 0, revisions_ = 0;
  StoreState state_;
};

// Copies every record of one table, in order, into the (emptied) table of the same name.
absl::Status CopyTable(MDB_txn* from, MDB_dbi from_dbi, MDB_txn* to, MDB_dbi to_dbi) {
  if (int rc = mdb_drop(to, to_dbi, 0); rc != 0) return MdbStatus(rc, "empty table");
  MDB_cursor* cursor = nullptr;
  if (int rc = mdb_cursor_open(from, from_dbi, &cursor); rc != 0) return MdbStatus(rc, "image cursor");
  MDB_val k, v;
  int rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST);
  absl::Status s;
  while (rc == 0) {
    if (int put = mdb_put(to, to_dbi, &k, &v, MDB_APPEND); put != 0) {
      s = MdbStatus(put, "copy record");
      break;
    }
    rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
  }
  mdb_cursor_close(cursor);
  if (s.ok() && rc != MDB_NOTFOUND) s = MdbStatus(rc, "read image");
  return s;
}

}  // namespace

absl::Status Store::CopyTo(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat("mvcc: create ", tmp, ": ", std::strerror(errno)));
  int rc = mdb_env_copyfd2(env_, fd, MDB_CP_COMPACT);
  if (rc == 0 && ::fsync(fd) != 0) rc = errno;
  ::close(fd);
  if (rc == 0 && std::rename(tmp.c_str(), path.c_str()) != 0) rc = errno;
  if (rc != 0) {
    ::unlink(tmp.c_str());
    return MdbStatus(rc, absl::StrCat("copy store to ", path));
  }
  return absl::OkStatus();
}

absl::Status Store::ReadImagePoint(const std::string& path, uint64_t* applied_index, uint64_t* applied_term) {
  ImageEnv image;
  if (auto s = image.Open(path); !s.ok()) return s;
  *applied_index = image.state().applied_index;
  *applied_term = image.state().applied_term;
  return absl::OkStatus();
}

absl::Status Store::ReplaceContentsFrom(const std::string& path) {
  if (batch_open_) return absl::FailedPreconditionError("mvcc: a write batch is open");
  ImageEnv image;
  if (auto s = image.Open(path); !s.ok()) return s;
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(env_, nullptr, 0, &txn); rc != 0) return MdbStatus(rc, "begin replace");
  auto fail = [&](absl::Status s) {
    mdb_txn_abort(txn);
    return s;
  };
  const internal::Tables& from = image.tables();
  std::vector<std::pair<MDB_dbi, MDB_dbi>> copies = {{from.meta, tables_.meta},
                                                     {from.latest, tables_.latest},
                                                     {from.leases, tables_.leases},
                                                     {from.lease_keys, tables_.lease_keys}};
  if (image.format2()) {
    MDB_dbi history, revisions;
    if (auto s = internal::OpenFormat2Tables(txn, /*create=*/true, &history, &revisions); !s.ok()) return fail(s);
    copies.emplace_back(image.history(), history);
    copies.emplace_back(image.revisions(), revisions);
  } else {
    copies.emplace_back(from.deleted, tables_.deleted);
    copies.emplace_back(from.versions, tables_.versions);
  }
  for (const auto& [image_table, our_table] : copies) {
    if (auto s = CopyTable(image.txn(), image_table, txn, our_table); !s.ok()) return fail(s);
  }
  // A format-2 image lands in format 2's tables and is converted in this same transaction.
  if (image.format2()) {
    if (auto s = internal::UpgradeFromFormat2(txn); !s.ok()) return fail(s);
  }
  if (auto s = MdbStatus(mdb_txn_commit(txn), "commit replace"); !s.ok()) return s;
  Publish(image.state());
  RefreshPagesInUse();
  return absl::OkStatus();
}

}  // namespace cairn::mvcc
