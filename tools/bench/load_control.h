// Shared bookkeeping of one benchmark run: hands out request slots until --total is used
// up, paces them when --rate is set, counts completions and errors.
//
// Thread safety: every method may be called from any thread (gRPC callback threads
// included). Claim() never blocks; a paced request is handed to a Pacer instead.
#ifndef CAIRN_TOOLS_BENCH_LOAD_CONTROL_H_
#define CAIRN_TOOLS_BENCH_LOAD_CONTROL_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <queue>
#include <string>
#include <thread>
#include <vector>

namespace cairn::bench {

using Clock = std::chrono::steady_clock;

inline int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

class LoadControl {
 public:
  LoadControl(int64_t total, double rate);

  // Marks the start of the measured interval; pacing slots count from here.
  void Start();
  // Claims the next request. False once `total` requests were claimed or Stop() was called.
  // On success *sequence is 0,1,2.. in claim order and *not_before is when to send it.
  bool Claim(int64_t* sequence, Clock::time_point* not_before);
  void Stop() { stopped_.store(true, std::memory_order_relaxed); }

  void Completed() { completed_.fetch_add(1, std::memory_order_relaxed); }
  void Failed(const std::string& message);

  int64_t total() const { return total_; }
  int64_t completed() const { return completed_.load(std::memory_order_relaxed); }
  int64_t errors() const { return errors_.load(std::memory_order_relaxed); }
  std::string first_error() const;
  Clock::time_point start_time() const { return start_; }

 private:
  const int64_t total_;
  const double rate_;
  Clock::time_point start_;
  std::atomic<int64_t> next_{0};
  std::atomic<bool> stopped_{false};
  std::atomic<int64_t> completed_{0};
  std::atomic<int64_t> errors_{0};
  mutable std::mutex error_mu_;
  std::string first_error_;
};

// Runs closures at given times on one thread of its own, so that paced requests are issued
// without blocking gRPC's callback threads.
class Pacer {
 public:
  Pacer();
  ~Pacer();  // runs nothing that is still queued
  Pacer(const Pacer&) = delete;
  Pacer& operator=(const Pacer&) = delete;

  void At(Clock::time_point when, std::function<void()> fn);

 private:
  struct Item {
    Clock::time_point when;
    int64_t order;
    std::function<void()> fn;
    bool operator>(const Item& o) const { return when != o.when ? when > o.when : order > o.order; }
  };
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::priority_queue<Item, std::vector<Item>, std::greater<Item>> queue_;
  int64_t order_ = 0;
  bool quit_ = false;
  std::thread thread_;
};

// Issues `fn` now, or through `pacer` at `not_before` if that is still ahead.
void SendAt(Pacer& pacer, Clock::time_point not_before, std::function<void()> fn);

}  // namespace cairn::bench

#endif  // CAIRN_TOOLS_BENCH_LOAD_CONTROL_H_
