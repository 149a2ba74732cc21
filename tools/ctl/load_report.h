// Latency bookkeeping for the `check` commands, with the figures etcd's pkg/report computes:
// throughput (successful requests over the wall time from Begin() to End()), the slowest
// request, the population standard deviation of latencies, and how often each error occurred.
// Thread-safe: Record() may be called from any thread between Begin() and End().
#ifndef CAIRN_TOOLS_CTL_LOAD_REPORT_H_
#define CAIRN_TOOLS_CTL_LOAD_REPORT_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace cairn::ctl {

struct LoadStats {
  double rps = 0;      // successful requests per second
  double slowest = 0;  // seconds; 0 when nothing succeeded
  double stddev = 0;   // seconds; NaN when nothing succeeded (as etcd's report)
  std::map<std::string, int64_t> errors;  // error text -> count
};

class LoadReport {
 public:
  using Clock = std::chrono::steady_clock;

  void Begin();
  // `error` empty for success; its latency is end - start.
  void Record(const std::string& error, Clock::time_point start, Clock::time_point end);
  LoadStats End();

  // The figures for these latencies (seconds) over `wall_seconds`; exposed for tests.
  static LoadStats Compute(const std::vector<double>& latencies, double wall_seconds);

 private:
  std::mutex mu_;
  Clock::time_point begin_;
  std::vector<double> latencies_;
  std::map<std::string, int64_t> errors_;
};

}  // namespace cairn::ctl

#endif  // CAIRN_TOOLS_CTL_LOAD_REPORT_H_
