// Thin POSIX helpers for the WAL: every failure comes back as an absl::Status naming the
// operation and the path. Internal to raft/wal (not part of the Wal contract).
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace cairn::wal::file {

// Status for a failed system call; `errno_value` is the errno it set.
absl::Status ErrnoStatus(absl::string_view op, absl::string_view path, int errno_value);

// mkdir -p; fsyncs each parent whose entry it created so the directory survives a crash.
absl::Status CreateDirs(const std::string& path);
absl::Status ListDir(const std::string& dir, std::vector<std::string>* names);
absl::Status ReadWholeFile(const std::string& path, std::string* contents);
absl::Status SyncDir(const std::string& dir);
absl::Status RemoveFile(const std::string& path);
// Writes all of [data, data+n) at `offset`, retrying short writes and EINTR.
absl::Status PwriteAll(int fd, const char* data, size_t n, uint64_t offset, const std::string& path);
absl::Status DataSync(int fd, const std::string& path);

}  // namespace cairn::wal::file
