// The progress line etcdctl's `check` commands draw (gopkg.in/cheggaaa/pb.v1 in its "[=>-]"
// format): "\r" then " <current> / <total> ", a bar when stdout's terminal has a width,
// " <percent>%" and the time left (or, once finished, the time taken), redrawn every 200 ms on
// stdout. Without a terminal there is no bar and no padding, exactly as etcdctl.
// Thread-safe: Add() may be called from any thread; Start() and Finish() once each.
#ifndef CAIRN_TOOLS_CTL_PROGRESS_BAR_H_
#define CAIRN_TOOLS_CTL_PROGRESS_BAR_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace cairn::ctl {

class ProgressBar {
 public:
  explicit ProgressBar(int64_t total) : total_(total) {}
  ~ProgressBar();

  void Start();
  void Add(int64_t n) { current_ += n; }
  // Draws the final line (with the elapsed time) and a newline; stops redrawing.
  void Finish();

  // The line pb would draw (without the leading "\r"); exposed for tests.
  static std::string Render(int64_t total, int64_t current, int width, bool finished,
                            std::chrono::nanoseconds since_start, std::chrono::nanoseconds start_to_change,
                            std::chrono::nanoseconds since_change);

 private:
  using Clock = std::chrono::steady_clock;
  void Update();
  void Draw(bool finished);

  const int64_t total_;
  std::atomic<int64_t> current_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool finished_ = false;
  int64_t previous_ = 0;
  Clock::time_point start_, changed_;
  std::thread refresher_;
};

// pb's own duration form for the time left: "[<d>d][<h>h]<mm>m<ss>s".
std::string PbDuration(std::chrono::nanoseconds d);

}  // namespace cairn::ctl

#endif  // CAIRN_TOOLS_CTL_PROGRESS_BAR_H_
