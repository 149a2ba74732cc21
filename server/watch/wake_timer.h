// cairn::watch::WakeTimer — runs small callbacks at given times on one thread of its own (the outboxes' paced
// wake-ups).
//
// Thread-safe. Callbacks run on the timer's thread with no timer lock held, in deadline order; they must be
// short and must not call back into the timer. Shutdown() (also run by the destructor) drops the callbacks
// not yet due and joins the thread; At() after it does nothing.
#pragma once

#include <chrono>
#include <functional>
#include <queue>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace cairn::watch {

class WakeTimer {
 public:
  using Clock = std::chrono::steady_clock;

  WakeTimer();
  ~WakeTimer();
  WakeTimer(const WakeTimer&) = delete;
  WakeTimer& operator=(const WakeTimer&) = delete;

  void At(Clock::time_point when, std::function<void()> callback);
  void Shutdown();

 private:
  struct Entry {
    Clock::time_point when;
    uint64_t order;  // keeps equal deadlines in submission order
    std::function<void()> callback;
    bool operator>(const Entry& other) const {
      return when != other.when ? when > other.when : order > other.order;
    }
  };

  void Run();

  absl::Mutex mu_;
  absl::CondVar wake_;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> entries_ ABSL_GUARDED_BY(mu_);
  uint64_t next_order_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace cairn::watch
