// Thin POSIX helpers for the WAL: every failure comes back as an absl::Status naming the
// operation and the path. Internal to raft/wal (not part of the Wal contract).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cairn::wal::file {

// Status for a failed system call; `errno_value` is the errno it set.
absl::Status ErrnoStatus(absl::string_view op, absl::string_view path, int errno_value);

// mkdir -p; fsyncs each parent whose entry it created so the directory survives a crash.
absl::Status CreateDirs(const std::string& path);
absl::Status ListDir(const std::string& dir, std::vector<std::string>* names);
// A whole file mapped read-only (private), for scanning it without copying it: a zero-filled 16 MiB
// segment read into a string cost start-up ~14 ms, mostly page faults on the fresh buffer.
class MappedFile {
 public:
  MappedFile() = default;
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  // Unmaps what was mapped before, then maps `path` (an empty file maps to an empty view).
  absl::Status Map(const std::string& path);
  absl::string_view contents() const { return absl::string_view(static_cast<const char*>(data_), size_); }

 private:
  void Unmap();
  void* data_ = nullptr;
  size_t size_ = 0;
};
absl::Status SyncDir(const std::string& dir);
absl::Status RemoveFile(const std::string& path);
// Writes all of [data, data+n) at `offset`, retrying short writes and EINTR.
absl::Status PwriteAll(int fd, const char* data, size_t n, uint64_t offset, const std::string& path);
absl::Status DataSync(int fd, const std::string& path);

// Writes `n` zero bytes at `offset` (overwriting whatever is there).
absl::Status WriteZeros(int fd, uint64_t offset, uint64_t n, const std::string& path);

// Creates (or truncates) `path` and writes `bytes` zeros into it, so that later overwrites land on
// allocated, written blocks. Writes in small chunks; when `durable`, waits for each chunk to reach
// the disk before writing the next (so a background caller never queues megabytes of writeback in
// front of someone else's fdatasync) and fdatasyncs the file at the end. Checks `*cancel` (may be
// null) between chunks and gives up with CancelledError when it is set. On success returns the open
// read-write descriptor (the caller owns it); on any failure the file is removed.
absl::StatusOr<int> CreateZeroFilledFile(const std::string& path, uint64_t bytes, bool durable,
                                         const std::atomic<bool>* cancel);

}  // namespace cairn::wal::file
