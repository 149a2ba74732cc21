// What a run measured, and how it is shown: a text summary with a latency histogram, a JSON
// object for scripts, and a progress bar on a terminal.
//
// Thread safety: Result is a plain value. ProgressBar draws from its own thread and reads
// the LoadControl counters only.
#ifndef CAIRN_TOOLS_BENCH_REPORT_H_
#define CAIRN_TOOLS_BENCH_REPORT_H_

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>

#include "tools/bench/histogram.h"
#include "tools/bench/load_control.h"
#include "tools/bench/options.h"

namespace cairn::bench {

struct Result {
  int64_t requests = 0;  // completed successfully (watch: events delivered)
  int64_t errors = 0;
  std::string first_error;
  double seconds = 0;    // measured interval
  Histogram latency;     // nanoseconds
  double client_cpu_seconds = 0;  // user + system CPU of this process over the interval
  // Watch workloads only.
  int64_t puts = 0;
  int64_t events_expected = 0;
  double put_seconds = 0;
  // Ready workload only: CLOCK_MONOTONIC nanoseconds of the first successful Range.
  int64_t ready_monotonic_ns = 0;
  int64_t attempts = 0;
};

// User + system CPU seconds used by this process so far.
double ProcessCpuSeconds();

void PrintText(const Options& options, const Result& result, std::FILE* out);
void PrintJson(const Options& options, const Result& result, std::FILE* out);

class ProgressBar {
 public:
  // Draws on stderr only if `enabled` and stderr is a terminal.
  ProgressBar(const LoadControl& control, int64_t goal, bool enabled);
  ~ProgressBar();  // erases the bar

 private:
  void Loop();
  const LoadControl& control_;
  const int64_t goal_;
  std::atomic<bool> quit_{false};
  std::thread thread_;
};

}  // namespace cairn::bench

#endif  // CAIRN_TOOLS_BENCH_REPORT_H_
