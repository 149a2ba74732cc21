// The end of one zero-filled segment, written with O_DIRECT|O_DSYNC instead of write() + fdatasync().
//
// Why: on ext4 (and this machine's virtio disk) rewriting a 4 KiB block that is already allocated and
// written, through a descriptor opened O_DIRECT|O_DSYNC, makes the data durable with one system call
// and less kernel work than a buffered write followed by fdatasync (no page-cache copy, no dirty-page
// writeback pass). It only works block by block, so this class keeps the file's partially written last
// 4 KiB block in an aligned buffer and appends new bytes behind it; Flush() writes the whole block-
// aligned range [start of that block, end of data rounded up to 4 KiB] in one pwrite. Bytes past the
// end of data are written as zeros, which is what the zero-filled file already holds there, so the
// on-disk picture is exactly what a buffered append would leave.
//
// Used by Wal only for a segment that holds written zeros up to `writable_end` (Fits() says whether
// more bytes can still go this way). Internal to raft/wal.
//
// Durability: nothing staged is in the file until Flush() returns OK; after that it is on stable
// storage (O_DSYNC also covers the disk's volatile write cache). Flush() writes only its own range:
// the caller must have made everything before data_end (at Open) durable itself.
//
// Errors: Open() fails with UnimplementedError if the file system refuses O_DIRECT (EINVAL: tmpfs on
// older kernels, some overlay/FUSE file systems). Flush() returns UnimplementedError if the write is
// refused with EINVAL (alignment the device will not take); then nothing staged is lost: Pending()
// still describes the unwritten bytes, for the caller to write another way. Any other failure is an
// I/O error for the caller to treat as fatal (the kernel may have dropped the data).
//
// Thread safety: none; the owner (Wal, under its I/O lock) serializes every call. Owns its descriptor
// and buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cairn::wal {

class DirectTail {
 public:
  // Alignment of every direct write (offset, length, memory). Covers 512-byte and 4 KiB sectors.
  static constexpr size_t kBlockBytes = 4096;

  // Opens `path` a second time with O_DIRECT|O_DSYNC. `data_end`: where the next byte goes;
  // `read_fd`: a descriptor of the same file to read the bytes of the block holding data_end that
  // precede it (they are rewritten by every flush). `writable_end`: the file holds written zeros (or
  // data) up to here; direct writes never go past it. `refuse_for_testing`: behave as if the file
  // system refused O_DIRECT (tests of the caller's fallback).
  static absl::StatusOr<std::unique_ptr<DirectTail>> Open(const std::string& path, int read_fd, uint64_t data_end,
                                                          uint64_t writable_end, bool refuse_for_testing = false);
  ~DirectTail();
  DirectTail(const DirectTail&) = delete;
  DirectTail& operator=(const DirectTail&) = delete;

  // True if `bytes` more can be staged and later flushed without writing past writable_end.
  bool Fits(uint64_t bytes) const;
  // Appends `bytes` after the data (in memory only). Call only if Fits(bytes.size()).
  void Stage(absl::string_view bytes);
  // Where the next staged byte goes in the file.
  uint64_t data_end() const { return block_offset_ + used_; }
  // Staged bytes not yet flushed, and the file offset of the first of them.
  uint64_t pending_offset() const { return block_offset_ + flushed_; }
  absl::string_view pending() const { return absl::string_view(buffer_ + flushed_, used_ - flushed_); }

  // Writes everything staged so that it is durable (one pwrite of whole blocks; a no-op with nothing
  // pending), then keeps only the partially written last block in memory.
  absl::Status Flush();

  // Tests: make every later Flush() fail as if the device refused the alignment (EINVAL).
  void RefuseWritesForTesting() { refuse_writes_for_testing_ = true; }

 private:
  DirectTail(std::string path, int fd, uint64_t block_offset, uint64_t writable_end);
  void Reserve(size_t bytes);

  const std::string path_;
  const int fd_;
  const uint64_t writable_end_;
  uint64_t block_offset_;  // file offset of buffer_[0]; a multiple of kBlockBytes
  char* buffer_ = nullptr;  // kBlockBytes-aligned; bytes in [used_, capacity_) are always zero
  size_t capacity_ = 0;     // a multiple of kBlockBytes
  size_t used_ = 0;         // bytes of data in buffer_ (the file from block_offset_ to data_end())
  size_t flushed_ = 0;      // buffer_[0, flushed_) is already durable in the file
  bool refuse_writes_for_testing_ = false;
};

}  // namespace cairn::wal
