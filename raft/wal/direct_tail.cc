#include "raft/wal/direct_tail.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

#include "absl/strings/str_cat.h"
#include "raft/wal/file_util.h"

namespace cairn::wal {
namespace {

constexpr uint64_t RoundDown(uint64_t n) { return n / DirectTail::kBlockBytes * DirectTail::kBlockBytes; }
constexpr uint64_t RoundUp(uint64_t n) { return RoundDown(n + DirectTail::kBlockBytes - 1); }

// After a flush, a buffer grown past this (a big record, a large group) is given back, so one
// burst does not pin its memory for the life of the segment.
constexpr size_t kKeptCapacity = size_t{1} << 20;

absl::Status Refused(absl::string_view op, const std::string& path) {
  return absl::UnimplementedError(
      absl::StrCat("wal: ", op, " ", path, " with O_DIRECT: ", std::strerror(EINVAL)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<DirectTail>> DirectTail::Open(const std::string& path, int read_fd,
                                                             uint64_t data_end, uint64_t writable_end,
                                                             bool refuse_for_testing) {
  if (refuse_for_testing) return Refused("open", path);
  const int fd = ::open(path.c_str(), O_WRONLY | O_DIRECT | O_DSYNC | O_CLOEXEC);
  if (fd < 0) {
    if (errno == EINVAL) return Refused("open", path);
    return file::ErrnoStatus("open", path, errno);
  }
  std::unique_ptr<DirectTail> tail(new DirectTail(path, fd, RoundDown(data_end), writable_end));
  // The start of the block holding data_end is rewritten by every flush: bring it into the buffer.
  const size_t partial = static_cast<size_t>(data_end - tail->block_offset_);
  tail->Reserve(kBlockBytes);
  size_t got = 0;
  while (got < partial) {
    const ssize_t n = ::pread(read_fd, tail->buffer_ + got, partial - got,
                              static_cast<off_t>(tail->block_offset_ + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return file::ErrnoStatus("read", path, errno);
    if (n == 0) {
      return absl::DataLossError(absl::StrCat("wal: ", path, " ends before offset ", data_end));
    }
    got += static_cast<size_t>(n);
  }
  tail->used_ = partial;
  tail->flushed_ = partial;
  return tail;
}

DirectTail::DirectTail(std::string path, int fd, uint64_t block_offset, uint64_t writable_end)
    : path_(std::move(path)), fd_(fd), writable_end_(writable_end), block_offset_(block_offset) {}

DirectTail::~DirectTail() {
  ::close(fd_);
  std::free(buffer_);
}

void DirectTail::Reserve(size_t bytes) {
  if (bytes <= capacity_) return;
  size_t capacity = capacity_ == 0 ? kBlockBytes : capacity_;
  while (capacity < bytes) capacity *= 2;
  void* grown = std::aligned_alloc(kBlockBytes, capacity);
  if (grown == nullptr) throw std::bad_alloc();  // out of memory: what growing a std::string does too
  std::memcpy(grown, buffer_, used_);
  std::memset(static_cast<char*>(grown) + used_, 0, capacity - used_);
  std::free(buffer_);
  buffer_ = static_cast<char*>(grown);
  capacity_ = capacity;
}

bool DirectTail::Fits(uint64_t bytes) const { return RoundUp(data_end() + bytes) <= writable_end_; }

void DirectTail::Stage(absl::string_view bytes) {
  Reserve(static_cast<size_t>(RoundUp(used_ + bytes.size())));
  std::memcpy(buffer_ + used_, bytes.data(), bytes.size());
  used_ += bytes.size();
}

absl::Status DirectTail::Flush() {
  if (flushed_ == used_) return absl::OkStatus();
  if (refuse_writes_for_testing_) return Refused("write", path_);
  // Whole blocks from the start of the buffer (which begins at the first block not yet complete on
  // disk) to the end of data rounded up; the zeros past the data are what the file holds there.
  const size_t length = static_cast<size_t>(RoundUp(used_));
  size_t done = 0;
  while (done < length) {
    const ssize_t n = ::pwrite(fd_, buffer_ + done, length - done, static_cast<off_t>(block_offset_ + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EINVAL) return Refused("write", path_);
    if (n < 0) return file::ErrnoStatus("write", path_, errno);
    if (n == 0) return file::ErrnoStatus("write", path_, EIO);
    done += static_cast<size_t>(n);
  }
  // Keep only the partially written last block: later data goes behind it, and it is rewritten then.
  const size_t complete = static_cast<size_t>(RoundDown(used_));
  const size_t partial = used_ - complete;
  if (complete > 0) {
    std::memmove(buffer_, buffer_ + complete, partial);
    std::memset(buffer_ + partial, 0, used_ - partial);
    block_offset_ += complete;
    used_ = partial;
  }
  flushed_ = used_;
  if (capacity_ > kKeptCapacity) {
    char* small = static_cast<char*>(std::aligned_alloc(kBlockBytes, kBlockBytes));
    if (small != nullptr) {
      std::memcpy(small, buffer_, used_);
      std::memset(small + used_, 0, kBlockBytes - used_);
      std::free(buffer_);
      buffer_ = small;
      capacity_ = kBlockBytes;
    }
  }
  return absl::OkStatus();
}

}  // namespace cairn::wal
