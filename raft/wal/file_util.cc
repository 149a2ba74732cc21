#include "raft/wal/file_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace cairn::wal::file {
namespace {

// Small enough that one chunk's writeback delays a concurrent commit fdatasync by about a
// millisecond on a slow disk; large enough that a 16 MiB segment takes only 64 round trips.
constexpr size_t kZeroChunkBytes = size_t{256} << 10;

const char* ZeroChunk() {
  static const std::string* const zeros = new std::string(kZeroChunkBytes, '\0');
  return zeros->data();
}

std::string ParentOf(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

absl::Status ErrnoStatus(absl::string_view op, absl::string_view path, int errno_value) {
  std::string message = absl::StrCat("wal: ", op, " ", path, ": ", std::strerror(errno_value));
  switch (errno_value) {
    case ENOENT: return absl::NotFoundError(message);
    case EEXIST: return absl::AlreadyExistsError(message);
    case EACCES:
    case EPERM: return absl::PermissionDeniedError(message);
    case ENOSPC:
    case EDQUOT: return absl::ResourceExhaustedError(message);
    default: return absl::InternalError(message);
  }
}

absl::Status CreateDirs(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat("wal: ", path, " exists and is not a directory"));
  }
  const std::string parent = ParentOf(path);
  if (parent != path) {
    if (absl::Status s = CreateDirs(parent); !s.ok()) return s;
  }
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoStatus("mkdir", path, errno);
  return SyncDir(parent);
}

absl::Status ListDir(const std::string& dir, std::vector<std::string>* names) {
  names->clear();
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ErrnoStatus("opendir", dir, errno);
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names->emplace_back(e->d_name);
  }
  ::closedir(d);
  return absl::OkStatus();
}

MappedFile::~MappedFile() { Unmap(); }

void MappedFile::Unmap() {
  if (data_ != nullptr) ::munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

absl::Status MappedFile::Map(const std::string& path) {
  Unmap();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open", path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoStatus("stat", path, err);
  }
  if (st.st_size > 0) {
    void* data = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (data == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      return ErrnoStatus("mmap", path, err);
    }
    data_ = data;
    size_ = static_cast<size_t>(st.st_size);
  }
  ::close(fd);
  return absl::OkStatus();
}

absl::Status SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open directory", dir, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus("fsync directory", dir, err);
  return absl::OkStatus();
}

absl::Status RemoveFile(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return ErrnoStatus("unlink", path, errno);
  return absl::OkStatus();
}

absl::Status PwriteAll(int fd, const char* data, size_t n, uint64_t offset, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, data, n, static_cast<off_t>(offset));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return ErrnoStatus("write", path, errno);
    data += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
  return absl::OkStatus();
}

absl::Status DataSync(int fd, const std::string& path) {
  if (::fdatasync(fd) != 0) return ErrnoStatus("fdatasync", path, errno);
  return absl::OkStatus();
}

absl::Status WriteZeros(int fd, uint64_t offset, uint64_t n, const std::string& path) {
  while (n > 0) {
    const size_t len = static_cast<size_t>(std::min<uint64_t>(n, kZeroChunkBytes));
    if (absl::Status s = PwriteAll(fd, ZeroChunk(), len, offset, path); !s.ok()) return s;
    offset += len;
    n -= len;
  }
  return absl::OkStatus();
}

absl::StatusOr<int> CreateZeroFilledFile(const std::string& path, uint64_t bytes, bool durable,
                                         const std::atomic<bool>* cancel) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("create", path, errno);
  auto fail = [&](absl::Status s) {
    ::close(fd);
    ::unlink(path.c_str());
    return s;
  };
  uint64_t offset = 0;
  while (offset < bytes) {
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) {
      return fail(absl::CancelledError(absl::StrCat("wal: zero-filling ", path, " was cancelled")));
    }
    const size_t len = static_cast<size_t>(std::min<uint64_t>(bytes - offset, kZeroChunkBytes));
    if (absl::Status s = PwriteAll(fd, ZeroChunk(), len, offset, path); !s.ok()) return fail(s);
    if (durable) {
      const unsigned flags = SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
      if (::sync_file_range(fd, static_cast<off64_t>(offset), static_cast<off64_t>(len), flags) != 0) {
        return fail(ErrnoStatus("sync_file_range", path, errno));
      }
    }
    offset += len;
  }
  if (durable) {
    // Commits the allocation and size (metadata) now, so the owner's later fdatasyncs find
    // nothing but data to flush.
    if (absl::Status s = DataSync(fd, path); !s.ok()) return fail(s);
  }
  return fd;
}

}  // namespace cairn::wal::file
