// Keeps one zero-filled file ready for the Wal's next segment, made on a background thread.
//
// Why: on ext4 an fdatasync after an append that grows the file also has to commit the new size
// (a journal commit), roughly doubling its cost; after an overwrite of blocks that are already
// allocated and written it only flushes data. A segment that starts life as segment_bytes of
// written zeros gives every append the cheap kind. Writing those zeros takes far longer than a
// commit, so it happens here, off the commit path, one segment ahead.
//
// The prepared file lives at a fixed path (the Wal names it `<dir>/prepared-segment.wal.tmp`, a
// name its recovery deletes). Protocol: Take() hands the ready file's descriptor to the caller,
// who then owns the file at path() (normally writes a header, syncs and renames it to a segment
// name) and calls Release() when the path is free again, which starts the next preparation. If
// nothing is ready, Take() returns -1 at once and never waits for zeroing.
//
// A preparation that fails (ENOSPC, EIO, ...) is counted in errors(), its file removed, and not
// retried until the next Take(), so a persistent failure costs one attempt per segment roll, not a
// busy loop.
//
// Thread safety: every method may be called from any thread. The background thread only touches
// path() and this object's own state; it never calls back into its owner. The destructor cancels a
// preparation in progress (checked between 256 KiB chunks), joins the thread and removes a
// prepared file nobody took; call it only after every other call has returned.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"

namespace cairn::wal {

class SegmentPreparer {
 public:
  // Starts the background thread, which begins preparing at once. `durable`: wait for each chunk
  // to reach the disk and fdatasync the finished file (false only for tests without syncs).
  SegmentPreparer(std::string path, uint64_t bytes, bool durable);
  ~SegmentPreparer();
  SegmentPreparer(const SegmentPreparer&) = delete;
  SegmentPreparer& operator=(const SegmentPreparer&) = delete;

  const std::string& path() const { return path_; }

  // The ready file's read-write descriptor (caller owns it and the file at path() until
  // Release()), or -1 if none is ready yet, in which case one is requested.
  int Take();
  // After a successful Take(): the caller is done with path(); prepare the next file.
  void Release();
  // True if Take() would return a descriptor now.
  bool ready() const;

  uint64_t prepared() const { return prepared_.load(std::memory_order_relaxed); }
  uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }

  // Tests: while paused, no new preparation starts (one in progress finishes).
  void SetPausedForTesting(bool paused);

 private:
  void Run();

  const std::string path_;
  const uint64_t bytes_;
  const bool durable_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  bool wanted_ ABSL_GUARDED_BY(mu_) = true;      // start a preparation once the path is free
  bool path_busy_ ABSL_GUARDED_BY(mu_) = false;  // being prepared, ready, or taken and not released
  int ready_fd_ ABSL_GUARDED_BY(mu_) = -1;

  std::atomic<bool> cancel_{false};  // read between chunks without taking mu_
  std::atomic<uint64_t> prepared_{0};
  std::atomic<uint64_t> errors_{0};
  std::thread thread_;  // last: started once everything above is initialised
};

}  // namespace cairn::wal
