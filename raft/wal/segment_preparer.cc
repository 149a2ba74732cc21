#include "raft/wal/segment_preparer.h"

#include <unistd.h>

#include <utility>

#include "absl/status/statusor.h"
#include "raft/wal/file_util.h"

namespace cairn::wal {

SegmentPreparer::SegmentPreparer(std::string path, uint64_t bytes, bool durable)
    : path_(std::move(path)), bytes_(bytes), durable_(durable), thread_([this] { Run(); }) {}

SegmentPreparer::~SegmentPreparer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cancel_.store(true, std::memory_order_relaxed);
  cv_.notify_all();
  thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  if (ready_fd_ >= 0) {
    ::close(ready_fd_);
    ::unlink(path_.c_str());  // best effort: the next Open removes it anyway
    ready_fd_ = -1;
  }
}

void SegmentPreparer::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || (wanted_ && !paused_ && !path_busy_); });
    if (stop_) return;
    wanted_ = false;
    path_busy_ = true;
    lock.unlock();
    absl::StatusOr<int> fd = file::CreateZeroFilledFile(path_, bytes_, durable_, &cancel_);
    lock.lock();
    if (fd.ok()) {
      ready_fd_ = *fd;
      prepared_.fetch_add(1, std::memory_order_relaxed);
    } else {
      path_busy_ = false;
      if (!stop_) errors_.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

int SegmentPreparer::Take() {
  std::lock_guard<std::mutex> lock(mu_);
  if (ready_fd_ >= 0) {
    return std::exchange(ready_fd_, -1);  // path_busy_ stays set until Release()
  }
  wanted_ = true;
  cv_.notify_all();
  return -1;
}

void SegmentPreparer::Release() {
  std::lock_guard<std::mutex> lock(mu_);
  path_busy_ = false;
  wanted_ = true;
  cv_.notify_all();
}

bool SegmentPreparer::ready() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ready_fd_ >= 0;
}

void SegmentPreparer::SetPausedForTesting(bool paused) {
  std::lock_guard<std::mutex> lock(mu_);
  paused_ = paused;
  cv_.notify_all();
}

}  // namespace cairn::wal
