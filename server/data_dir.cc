#include "server/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "raft/wal/segment.h"

namespace cairn::server {
namespace {

namespace fs = std::filesystem;

absl::Status Errno(const std::string& what, const std::string& path) {
  return absl::FailedPreconditionError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

// A write probe: a read-only mount or a directory owned by someone else fails here, with the
// reason, rather than deep inside LMDB or the log.
absl::Status CheckWritable(const std::string& dir, const std::string& what = "data dir") {
  std::string probe = dir + "/.cairn-write-probe";
  int fd = ::open(probe.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
  if (fd < 0) return Errno(what + " is not writable:", dir);
  ::close(fd);
  ::unlink(probe.c_str());
  return absl::OkStatus();
}

absl::Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open directory", dir);
  const bool ok = ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  errno = err;
  if (!ok) return Errno("cannot fsync directory", dir);
  return absl::OkStatus();
}

// mkdir -p that syncs the parent of every directory it creates, so a data or log directory made
// on a new disk is still there, with what is written into it, after a power loss.
absl::Status MakeDirsDurably(const fs::path& dir) {
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return absl::OkStatus();
  if (fs::exists(dir, ec)) {
    return absl::FailedPreconditionError(absl::StrCat(dir.string(), " exists and is not a directory"));
  }
  const fs::path parent = dir.parent_path();
  if (!parent.empty() && parent != dir) {
    if (auto s = MakeDirsDurably(parent); !s.ok()) return s;
  }
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return Errno("cannot create", dir.string());
  return SyncDir(parent.empty() ? "." : parent.string());
}

absl::Status MakeDirs(const std::string& path) {
  if (auto s = MakeDirsDurably(path); !s.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("cannot create data dir ", path, ": ", s.message()));
  }
  return absl::OkStatus();
}

// The rename is made durable too (the directory is synced), so a crash cannot leave the old
// content, or none, after the caller went on as if the file were there.
absl::Status WriteFileDurably(const std::string& path, const std::string& contents) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
  if (fd < 0) return Errno("cannot create", tmp);
  bool ok = ::write(fd, contents.data(), contents.size()) == static_cast<ssize_t>(contents.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) return Errno("cannot write", path);
  return SyncDir(fs::path(path).parent_path().string());
}

// "member_id <hex>\ncluster_id <hex>\n", the form of both the identity and the log owner files.
std::string IdsText(uint64_t member_id, uint64_t cluster_id) {
  return absl::StrCat("member_id ", absl::Hex(member_id), "\ncluster_id ", absl::Hex(cluster_id), "\n");
}

bool ParseIds(const std::string& text, uint64_t* member_id, uint64_t* cluster_id) {
  *member_id = *cluster_id = 0;
  std::istringstream in(text);
  std::string key, value;
  while (in >> key >> value) {
    uint64_t v = 0;
    if (!absl::SimpleHexAtoi(value, &v)) continue;
    if (key == "member_id") *member_id = v;
    if (key == "cluster_id") *cluster_id = v;
  }
  return *member_id != 0 && *cluster_id != 0;
}

bool HoldsLogSegments(const std::string& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (wal::ParseSegmentFileName(entry.path().filename().string()).has_value()) return true;
  }
  return false;
}

// Absolute, symlinks resolved where the path exists, no trailing separator: two names of one
// directory compare equal.
fs::path Normalized(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::absolute(path, ec), ec);
  if (ec) p = fs::path(path).lexically_normal();
  while (!p.has_filename() && p.has_relative_path()) p = p.parent_path();
  return p;
}

// True when `inner` is `outer` or lies below it (both normalized).
bool IsWithin(const fs::path& inner, const fs::path& outer) {
  auto i = inner.begin();
  for (auto o = outer.begin(); o != outer.end(); ++o, ++i) {
    if (i == inner.end() || *i != *o) return false;
  }
  return true;
}

constexpr char kLogOwnerFile[] = "cairn-wal-owner";

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<DataDir>> DataDir::Open(
    const std::string& path, const std::string& wal_dir,
    const std::function<absl::StatusOr<Identity>()>& new_identity) {
  if (auto s = MakeDirs(path); !s.ok()) return s;
  if (auto s = CheckWritable(path); !s.ok()) return s;
  if (fs::exists(path + "/member/snap/db")) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data dir ", path, " holds an etcd data directory (member/snap/db); Cairn keeps its own "
        "format. Point --data-dir at an empty directory and load the data with a client."));
  }

  auto dir = std::unique_ptr<DataDir>(new DataDir());
  dir->member_ = path + "/member";
  if (auto s = MakeDirs(dir->member_); !s.ok()) return s;

  std::string lock_path = dir->member_ + "/LOCK";
  dir->lock_fd_ = ::open(lock_path.c_str(), O_CREAT | O_RDWR, 0600);
  if (dir->lock_fd_ < 0) return Errno("cannot open", lock_path);
  if (::flock(dir->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("data dir ", path, " is in use by another cairnd (", lock_path, " is locked)"));
  }

  const std::string format_path = dir->member_ + "/cairn-format";
  const std::string want_format = absl::StrCat("cairn-data-format ", kDataFormatVersion, "\n");
  std::string format;
  if (ReadFile(format_path, &format)) {
    if (format != want_format) {
      std::string found = format.substr(0, format.find('\n'));
      return absl::FailedPreconditionError(absl::StrCat(
          "data dir ", path, " was written by an incompatible Cairn version (found \"", found,
          "\", this cairnd reads \"cairn-data-format ", kDataFormatVersion, "\")"));
    }
  } else {
    if (fs::exists(dir->member_ + "/wal") || fs::exists(dir->member_ + "/db")) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data dir ", path, " has data but no cairn-format file; refusing to guess its version"));
    }
    if (auto s = WriteFileDurably(format_path, want_format); !s.ok()) return s;
    dir->created_ = true;
  }

  const std::string identity_path = dir->member_ + "/identity";
  std::string identity;
  if (ReadFile(identity_path, &identity)) {
    if (!ParseIds(identity, &dir->member_id_, &dir->cluster_id_)) {
      return absl::DataLossError(absl::StrCat("cannot read member identity from ", identity_path));
    }
  } else {
    auto identity = new_identity();
    if (!identity.ok()) return identity.status();
    dir->member_id_ = identity->member_id;
    dir->cluster_id_ = identity->cluster_id;
    if (auto s = WriteFileDurably(identity_path, IdsText(dir->member_id_, dir->cluster_id_)); !s.ok()) return s;
  }
  if (auto s = dir->OpenLogDir(path, wal_dir); !s.ok()) return s;
  return dir;
}

absl::Status DataDir::OpenLogDir(const std::string& data_dir, const std::string& wal_flag) {
  const std::string default_dir = member_ + "/wal";
  // --wal-dir naming the default place is the default.
  const bool elsewhere = !wal_flag.empty() && Normalized(wal_flag) != Normalized(default_dir);
  wal_dir_ = elsewhere ? wal_flag : default_dir;
  const std::string where = elsewhere ? absl::StrCat("--wal-dir ", wal_dir_) : absl::StrCat("log dir ", wal_dir_);

  if (elsewhere) {
    // Its LOCK would be the data dir's, and its files would mix with the store's.
    const fs::path wal = Normalized(wal_dir_);
    if (wal == Normalized(data_dir) || IsWithin(wal, Normalized(member_))) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--wal-dir ", wal_dir_, " is the data dir or inside ", member_,
          "; give a directory of its own (or leave --wal-dir empty for ", default_dir, ")"));
    }
    std::string owner;
    if (ReadFile(default_dir + "/" + kLogOwnerFile, &owner) || HoldsLogSegments(default_dir)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data dir ", data_dir, " holds its log in ", default_dir, " but --wal-dir is ", wal_dir_,
          ": start without --wal-dir, or stop, move ", default_dir, " to ", wal_dir_,
          " and start again (a copy left behind is refused too: only one log can be current)"));
    }
  }

  std::error_code ec;
  const bool dir_exists = fs::is_directory(wal_dir_, ec);
  if (dir_exists) {
    // The Wal takes this lock for good once the store is open; asking now gives the clear message
    // before anything is touched.
    const std::string lock_path = wal_dir_ + "/LOCK";
    int fd = ::open(lock_path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (fd < 0) return Errno("cannot open", lock_path);
    const bool locked = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
    ::close(fd);
    if (locked) {
      return absl::FailedPreconditionError(
          absl::StrCat(where, " is in use by another cairnd (", lock_path, " is locked)"));
    }
  }

  const std::string owner_path = wal_dir_ + "/" + kLogOwnerFile;
  const std::string ours = IdsText(member_id_, cluster_id_);
  std::string owner;
  if (dir_exists && ReadFile(owner_path, &owner)) {
    uint64_t member_id = 0, cluster_id = 0;
    if (!ParseIds(owner, &member_id, &cluster_id)) {
      return absl::DataLossError(absl::StrCat("cannot read the log's owner from ", owner_path));
    }
    if (member_id != member_id_ || cluster_id != cluster_id_) {
      return absl::FailedPreconditionError(absl::StrCat(
          where, " holds the log of member ", absl::Hex(member_id), " of cluster ", absl::Hex(cluster_id),
          ", not of this data dir's member ", absl::Hex(member_id_), " of cluster ", absl::Hex(cluster_id_),
          " (data dir ", data_dir, ")"));
    }
    if (created_) {
      return absl::FailedPreconditionError(absl::StrCat(
          where, " already holds a log but data dir ", data_dir,
          " is new; give a new member an empty log directory"));
    }
    return absl::OkStatus();
  }

  const bool has_log = dir_exists && HoldsLogSegments(wal_dir_);
  if (has_log) {
    if (elsewhere || created_) {
      return absl::FailedPreconditionError(absl::StrCat(
          where, " holds a log without a ", kLogOwnerFile, " file, so nothing says it is data dir ", data_dir,
          "'s; give an empty directory"));
    }
    // Written before owner files existed, in this data dir's own place: it is this member's.
    return WriteFileDurably(owner_path, ours);
  }
  if (fs::exists(DbDir(), ec)) {
    if (elsewhere) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data dir ", data_dir, " holds a store but --wal-dir ", wal_dir_,
          " holds no log of it: start with the --wal-dir its log is in (or none, if it is in ", default_dir,
          "), or move the log to ", wal_dir_, " first"));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "data dir ", data_dir, " holds a store but its log is not in ", default_dir,
        " (was it started with --wal-dir?): start with the --wal-dir it was started with, or move the log back to ",
        default_dir, " first"));
  }
  // A new log: the directory and its owner file reach the disk before any record does.
  if (auto s = MakeDirsDurably(wal_dir_); !s.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(where, ": ", s.message()));
  }
  if (auto s = CheckWritable(wal_dir_, elsewhere ? "--wal-dir" : "log dir"); !s.ok()) return s;
  return WriteFileDurably(owner_path, ours);
}

DataDir::~DataDir() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

}  // namespace cairn::server
