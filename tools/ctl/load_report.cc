#include "tools/ctl/load_report.h"

#include <algorithm>
#include <cmath>

namespace cairn::ctl {

void LoadReport::Begin() {
  std::lock_guard<std::mutex> l(mu_);
  begin_ = Clock::now();
}

void LoadReport::Record(const std::string& error, Clock::time_point start, Clock::time_point end) {
  std::lock_guard<std::mutex> l(mu_);
  if (!error.empty()) {
    ++errors_[error];
    return;
  }
  latencies_.push_back(std::chrono::duration<double>(end - start).count());
}

LoadStats LoadReport::End() {
  std::lock_guard<std::mutex> l(mu_);
  LoadStats s = Compute(latencies_, std::chrono::duration<double>(Clock::now() - begin_).count());
  s.errors = errors_;
  return s;
}

LoadStats LoadReport::Compute(const std::vector<double>& latencies, double wall_seconds) {
  LoadStats s;
  const double n = static_cast<double>(latencies.size());
  s.rps = n / wall_seconds;
  double sum = 0;
  for (double v : latencies) sum += v;
  const double mean = sum / n;  // NaN for no requests, which etcd's report keeps too
  double squares = 0;
  for (double v : latencies) squares += (v - mean) * (v - mean);
  s.stddev = std::sqrt(squares / n);
  if (!latencies.empty()) s.slowest = *std::max_element(latencies.begin(), latencies.end());
  return s;
}

}  // namespace cairn::ctl
