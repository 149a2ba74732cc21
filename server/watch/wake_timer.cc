#include "server/watch/wake_timer.h"

#include <utility>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace cairn::watch {

WakeTimer::WakeTimer() : thread_([this] { Run(); }) {}

WakeTimer::~WakeTimer() { Shutdown(); }

void WakeTimer::At(Clock::time_point when, std::function<void()> callback) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  const bool earliest = entries_.empty() || when < entries_.top().when;
  entries_.push(Entry{when, next_order_++, std::move(callback)});
  if (earliest) wake_.Signal();
}

void WakeTimer::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    while (!entries_.empty()) entries_.pop();
    wake_.SignalAll();
  }
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void WakeTimer::Run() {
  for (;;) {
    std::function<void()> due;
    {
      absl::MutexLock lock(&mu_);
      for (;;) {
        if (stopping_) return;
        if (entries_.empty()) {
          wake_.Wait(&mu_);
          continue;
        }
        const Clock::time_point when = entries_.top().when;
        const Clock::time_point now = Clock::now();
        if (when <= now) break;
        // A new earlier entry or Shutdown signals; either way the loop looks again from the top.
        wake_.WaitWithTimeout(&mu_, absl::FromChrono(when - now));
      }
      // priority_queue::top() is const; the entry is popped right after, so moving from it is safe.
      due = std::move(const_cast<Entry&>(entries_.top()).callback);
      entries_.pop();
    }
    due();
  }
}

}  // namespace cairn::watch
