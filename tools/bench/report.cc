#include "tools/bench/report.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

namespace cairn::bench {
namespace {

double Ms(int64_t nanos) { return nanos / 1e6; }

double PerSecond(const Result& r) { return r.seconds > 0 ? r.requests / r.seconds : 0; }

double CpuMicrosPerRequest(const Result& r) {
  return r.requests > 0 ? r.client_cpu_seconds * 1e6 / r.requests : 0;
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

// Plural name of what the workload counts.
const char* UnitName(const Options& o) {
  switch (o.workload) {
    case Workload::kWatch:
    case Workload::kWatchLatency:
      return "events";
    case Workload::kLeaseKeepAlive:
      return "keep-alives";
    default:
      return "requests";
  }
}

std::string Singular(const char* plural) {
  std::string s = plural;
  if (!s.empty() && s.back() == 's') s.pop_back();
  return s;
}

}  // namespace

double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

void PrintText(const Options& o, const Result& r, std::FILE* out) {
  if (o.workload == Workload::kReady) {
    std::fprintf(out, "ready after %lld attempt(s); CLOCK_MONOTONIC %lld ns\n",
                 static_cast<long long>(r.attempts), static_cast<long long>(r.ready_monotonic_ns));
    return;
  }
  const char* unit = UnitName(o);
  std::fprintf(out, "\nSummary (%s, %d client(s) over %d connection(s)):\n", o.workload_name.c_str(),
               o.clients, o.conns);
  std::fprintf(out, "  Total:\t%lld %s, %lld error(s)\n", static_cast<long long>(r.requests), unit,
               static_cast<long long>(r.errors));
  if (r.errors > 0) std::fprintf(out, "  First error:\t%s\n", r.first_error.c_str());
  if (o.workload == Workload::kWatch || o.workload == Workload::kWatchLatency) {
    std::fprintf(out, "  Watchers:\t%d over %d stream(s); %lld puts in %.4f s; %lld of %lld events delivered\n",
                 o.watchers, o.watch_streams, static_cast<long long>(r.puts), r.put_seconds,
                 static_cast<long long>(r.requests), static_cast<long long>(r.events_expected));
  }
  std::fprintf(out, "  Took:\t\t%.4f s\n", r.seconds);
  std::fprintf(out, "  %s/s:\t%.1f\n", unit, PerSecond(r));
  std::fprintf(out, "  Client CPU:\t%.1f us per %s (cairn-bench's own user+system time)\n",
               CpuMicrosPerRequest(r), Singular(unit).c_str());
  const Histogram& h = r.latency;
  if (h.count() == 0) return;
  std::fprintf(out, "\nLatency (ms): min %.4f  mean %.4f  max %.4f\n", Ms(h.min()), Ms(h.mean()), Ms(h.max()));
  const auto bins = h.Coarse(10);
  int64_t most = 1;
  for (const auto& b : bins) most = std::max(most, b.count);
  for (const auto& b : bins) {
    const int width = static_cast<int>(40.0 * b.count / most);
    std::fprintf(out, "  %9.4f .. %9.4f  [%8lld]  %s\n", Ms(b.low), Ms(b.high), static_cast<long long>(b.count),
                 std::string(width, '#').c_str());
  }
  std::fprintf(out, "\nPercentiles (ms): p50 %.4f  p90 %.4f  p99 %.4f  p99.9 %.4f\n", Ms(h.Percentile(0.5)),
               Ms(h.Percentile(0.9)), Ms(h.Percentile(0.99)), Ms(h.Percentile(0.999)));
}

void PrintJson(const Options& o, const Result& r, std::FILE* out) {
  const Histogram& h = r.latency;
  std::fprintf(out, "{\"workload\":\"%s\",\"conns\":%d,\"clients\":%d,\"total\":%lld,", o.workload_name.c_str(),
               o.conns, o.clients, static_cast<long long>(o.total));
  std::fprintf(out, "\"requests\":%lld,\"errors\":%lld,\"first_error\":\"%s\",", static_cast<long long>(r.requests),
               static_cast<long long>(r.errors), JsonEscape(r.first_error).c_str());
  std::fprintf(out, "\"seconds\":%.6f,\"requests_per_s\":%.3f,", r.seconds, PerSecond(r));
  std::fprintf(out, "\"client_cpu_s\":%.6f,\"client_cpu_us_per_request\":%.3f,", r.client_cpu_seconds,
               CpuMicrosPerRequest(r));
  std::fprintf(out, "\"puts\":%lld,\"put_seconds\":%.6f,\"events_expected\":%lld,", static_cast<long long>(r.puts),
               r.put_seconds, static_cast<long long>(r.events_expected));
  std::fprintf(out, "\"ready_monotonic_ns\":%lld,\"attempts\":%lld,", static_cast<long long>(r.ready_monotonic_ns),
               static_cast<long long>(r.attempts));
  std::fprintf(out,
               "\"latency_ms\":{\"count\":%lld,\"min\":%.6f,\"mean\":%.6f,\"max\":%.6f,\"p50\":%.6f,\"p90\":%.6f,"
               "\"p99\":%.6f,\"p99_9\":%.6f},",
               static_cast<long long>(h.count()), Ms(h.min()), Ms(h.mean()), Ms(h.max()), Ms(h.Percentile(0.5)),
               Ms(h.Percentile(0.9)), Ms(h.Percentile(0.99)), Ms(h.Percentile(0.999)));
  std::fprintf(out, "\"histogram_ms\":[");
  bool first = true;
  for (const auto& b : h.Coarse(10)) {
    std::fprintf(out, "%s{\"low\":%.6f,\"high\":%.6f,\"count\":%lld}", first ? "" : ",", Ms(b.low), Ms(b.high),
                 static_cast<long long>(b.count));
    first = false;
  }
  std::fprintf(out, "]}\n");
}

ProgressBar::ProgressBar(const LoadControl& control, int64_t goal, bool enabled) : control_(control), goal_(goal) {
  if (enabled && isatty(STDERR_FILENO)) thread_ = std::thread([this] { Loop(); });
}

ProgressBar::~ProgressBar() {
  if (!thread_.joinable()) return;
  quit_ = true;
  thread_.join();
  std::fprintf(stderr, "\r%80s\r", "");
  std::fflush(stderr);
}

void ProgressBar::Loop() {
  int64_t last = 0;
  auto last_time = Clock::now();
  while (!quit_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const int64_t done = control_.completed();
    const auto now = Clock::now();
    const double rate = (done - last) / std::chrono::duration<double>(now - last_time).count();
    last = done;
    last_time = now;
    const double fraction = goal_ > 0 ? std::min(1.0, static_cast<double>(done) / goal_) : 0;
    const int filled = static_cast<int>(fraction * 40);
    std::fprintf(stderr, "\r[%s%s] %3d%% %lld/%lld  %.0f/s ", std::string(filled, '=').c_str(),
                 std::string(40 - filled, ' ').c_str(), static_cast<int>(fraction * 100),
                 static_cast<long long>(done), static_cast<long long>(goal_), rate);
    std::fflush(stderr);
  }
}

}  // namespace cairn::bench
