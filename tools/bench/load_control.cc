#include "tools/bench/load_control.h"

namespace cairn::bench {

LoadControl::LoadControl(int64_t total, double rate) : total_(total), rate_(rate), start_(Clock::now()) {}

void LoadControl::Start() { start_ = Clock::now(); }

bool LoadControl::Claim(int64_t* sequence, Clock::time_point* not_before) {
  if (stopped_.load(std::memory_order_relaxed)) return false;
  const int64_t n = next_.fetch_add(1, std::memory_order_relaxed);
  if (n >= total_) return false;
  *sequence = n;
  if (rate_ > 0) {
    *not_before = start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(n / rate_));
  } else {
    *not_before = Clock::time_point::min();
  }
  return true;
}

void LoadControl::Failed(const std::string& message) {
  if (errors_.fetch_add(1, std::memory_order_relaxed) == 0) {
    std::lock_guard<std::mutex> lock(error_mu_);
    first_error_ = message;
  }
}

std::string LoadControl::first_error() const {
  std::lock_guard<std::mutex> lock(error_mu_);
  return first_error_;
}

Pacer::Pacer() : thread_([this] { Loop(); }) {}

Pacer::~Pacer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Pacer::At(Clock::time_point when, std::function<void()> fn) {
  bool earliest;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push(Item{when, order_++, std::move(fn)});
    earliest = queue_.top().order == order_ - 1;
  }
  if (earliest) cv_.notify_one();
}

void Pacer::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!quit_) {
    if (queue_.empty()) {
      cv_.wait(lock);
      continue;
    }
    const Clock::time_point when = queue_.top().when;
    if (Clock::now() < when) {
      cv_.wait_until(lock, when);
      continue;
    }
    std::function<void()> fn = std::move(const_cast<Item&>(queue_.top()).fn);
    queue_.pop();
    lock.unlock();
    fn();
    lock.lock();
  }
}

void SendAt(Pacer& pacer, Clock::time_point not_before, std::function<void()> fn) {
  if (not_before > Clock::now()) {
    pacer.At(not_before, std::move(fn));
  } else {
    fn();
  }
}

}  // namespace cairn::bench
