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

namespace cairn::server {
namespace {

namespace fs = std::filesystem;

absl::Status Errno(const std::string& what, const std::string& path) {
  return absl::FailedPreconditionError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

absl::Status MakeDirs(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create data dir ", path, ": ", ec.message()));
  }
  if (!fs::is_directory(path)) {
    return absl::FailedPreconditionError(absl::StrCat("data dir ", path, " is not a directory"));
  }
  return absl::OkStatus();
}

// A write probe: a read-only mount or a directory owned by someone else fails here, with the
// reason, rather than deep inside LMDB or the log.
absl::Status CheckWritable(const std::string& dir) {
  std::string probe = dir + "/.cairn-write-probe";
  int fd = ::open(probe.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
  if (fd < 0) return Errno("data dir is not writable:", dir);
  ::close(fd);
  ::unlink(probe.c_str());
  return absl::OkStatus();
}

absl::Status WriteFileDurably(const std::string& path, const std::string& contents) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
  if (fd < 0) return Errno("cannot create", tmp);
  bool ok = ::write(fd, contents.data(), contents.size()) == static_cast<ssize_t>(contents.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) return Errno("cannot write", path);
  return absl::OkStatus();
}

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
    const std::string& path, const std::function<absl::StatusOr<Identity>()>& new_identity) {
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
    std::istringstream in(identity);
    std::string key, value;
    while (in >> key >> value) {
      uint64_t v = 0;
      if (!absl::SimpleHexAtoi(value, &v)) continue;
      if (key == "member_id") dir->member_id_ = v;
      if (key == "cluster_id") dir->cluster_id_ = v;
    }
    if (dir->member_id_ == 0 || dir->cluster_id_ == 0) {
      return absl::DataLossError(absl::StrCat("cannot read member identity from ", identity_path));
    }
  } else {
    auto identity = new_identity();
    if (!identity.ok()) return identity.status();
    dir->member_id_ = identity->member_id;
    dir->cluster_id_ = identity->cluster_id;
    std::string text = absl::StrCat("member_id ", absl::Hex(dir->member_id_), "\ncluster_id ",
                                    absl::Hex(dir->cluster_id_), "\n");
    if (auto s = WriteFileDurably(identity_path, text); !s.ok()) return s;
  }
  return dir;
}

DataDir::~DataDir() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

}  // namespace cairn::server
