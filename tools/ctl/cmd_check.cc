// etcdctl's `check perf` and `check datascale`: a write load against the cluster with etcdctl's
// workload models, then its verdict lines. Puts go out asynchronously over a few connections with
// at most the model's client count in flight, so the paced rate (perf) or the raw write speed
// (datascale) is what the cluster can take, not what one thread can send.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/str_format.h"
#include "tools/ctl/commands.h"
#include "tools/ctl/go_format.h"
#include "tools/ctl/load_report.h"
#include "tools/ctl/metrics_fetch.h"
#include "tools/ctl/progress_bar.h"

namespace cairn::ctl {
namespace {

using etcdserverpb::PutRequest;
using Clock = std::chrono::steady_clock;

struct PerfModel {
  int rate;     // writes per second
  int clients;  // requests in flight at most
  int seconds;
};

struct DatascaleModel {
  int64_t keys;
  int kv_size;
  int clients;
};

// etcdctl's model names and their aliases.
std::string ModelName(const std::string& load) {
  static const std::map<std::string, std::string> kAlias = {
      {"s", "s"}, {"small", "s"}, {"m", "m"}, {"medium", "m"}, {"l", "l"}, {"large", "l"}, {"xl", "xl"}, {"xLarge", "xl"}};
  auto it = kAlias.find(load);
  if (it == kAlias.end()) Fail(kExitBadFeature, "unknown load option " + load);
  return it->second;
}

// Connections the load is spread over. etcdctl opens one per client; a few sockets carry the
// same number of concurrent requests just as well without hundreds of connections.
constexpr int kMaxConnections = 16;
constexpr int64_t kCleanupTimeoutNs = int64_t{30} * 1'000'000'000;

std::vector<std::unique_ptr<Client>> Connections(const ClientConfig& base, int clients) {
  ClientConfig cfg = base;
  cfg.command_timeout_ns = kNoDeadlineNs;
  std::vector<std::unique_ptr<Client>> out;
  const auto began = Clock::now();
  out.push_back(ConnectOrFail(cfg));
  // When the cluster did not answer within the dial timeout, the others would only wait as long
  // again each: the check's first request reports the unreachable cluster, as etcdctl's does.
  if (Clock::now() - began >= std::chrono::nanoseconds(cfg.dial_timeout_ns)) cfg.dial_timeout_ns = 1'000'000;
  for (int i = 1; i < std::min(clients, kMaxConnections); ++i) out.push_back(ConnectOrFail(cfg));
  return out;
}

// A key like etcdctl's: the prefix, then a fixed-size buffer starting with the varint
// (zig-zag) of a random non-negative int64 and padded with zero bytes.
class KeyMaker {
 public:
  KeyMaker(std::string prefix, size_t size) : prefix_(std::move(prefix)), buf_(size, '\0') {}
  std::string Next() {
    uint64_t ux = static_cast<uint64_t>(dist_(rng_)) << 1;
    size_t i = 0;
    while (ux >= 0x80 && i < buf_.size()) {
      buf_[i++] = static_cast<char>(ux | 0x80);
      ux >>= 7;
    }
    if (i < buf_.size()) buf_[i] = static_cast<char>(ux);
    return prefix_ + buf_;
  }

 private:
  std::string prefix_;
  std::string buf_;  // reused, as etcdctl reuses its key buffer
  std::mt19937_64 rng_{std::random_device{}()};
  std::uniform_int_distribution<int64_t> dist_{0, std::numeric_limits<int64_t>::max() - 1};
};

// Sends the puts `next` produces (it returns false when the load is over, and may wait to
// pace it) round-robin over `conns`, with at most `max_in_flight` outstanding; returns when all
// have been answered. `on_answer` runs after each answer, on a gRPC thread.
void DriveLoad(const std::vector<std::unique_ptr<Client>>& conns, int max_in_flight,
               const std::function<bool(PutRequest*)>& next, LoadReport& report,
               const std::function<void()>& on_answer) {
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;
  size_t turn = 0;
  PutRequest req;
  while (next(&req)) {
    {
      std::unique_lock<std::mutex> l(mu);
      cv.wait(l, [&] { return in_flight < max_in_flight; });
      ++in_flight;
    }
    const Clock::time_point start = Clock::now();
    conns[turn++ % conns.size()]->PutAsync(req, [&, start](absl::Status s) {
      report.Record(s.ok() ? "" : std::string(s.message()), start, Clock::now());
      if (on_answer) on_answer();
      std::lock_guard<std::mutex> l(mu);
      --in_flight;
      cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> l(mu);
  cv.wait(l, [&] { return in_flight == 0; });
}

// Refuses to run over keys that are already there, as etcdctl does.
void RequireEmptyPrefix(Client& c, const std::string& prefix) {
  etcdserverpb::RangeRequest probe;
  probe.set_key(prefix);
  probe.set_range_end(PrefixRangeEnd(prefix));
  probe.set_limit(1);
  auto r = c.Range(probe);
  if (!r.ok()) Fail(kExitError, std::string(r.status().message()));
  if (r->kvs_size() > 0) {
    Fail(kExitInvalidInput,
         "prefix " + GoQuote(prefix) + " has keys. Delete with etcdctl del --prefix " + prefix + " first");
  }
}

// Deletes the check's keys, then compacts and defragments when asked (etcdctl's messages).
void CleanUp(Client& c, const std::string& prefix, const FlagSet& f) {
  etcdserverpb::DeleteRangeRequest del;
  del.set_key(prefix);
  del.set_range_end(PrefixRangeEnd(prefix));
  auto d = c.DeleteRange(del);
  if (!d.ok()) Fail(kExitError, std::string(d.status().message()));
  if (f.GetBool("auto-compact")) {
    const int64_t rev = d->header().revision();
    std::printf("Compacting with revision %lld\n", static_cast<long long>(rev));
    etcdserverpb::CompactionRequest compact;
    compact.set_revision(rev);
    compact.set_physical(true);
    auto r = c.Compact(compact);
    if (!r.ok()) Fail(kExitError, std::string(r.status().message()));
    std::printf("Compacted with revision %lld\n", static_cast<long long>(rev));
  }
  if (f.GetBool("auto-defrag")) {
    for (const auto& ep : c.Endpoints()) {
      std::printf("Defragmenting %s\n", GoQuote(ep).c_str());
      std::fflush(stdout);
      auto one = c.ForEndpoint(ep);
      if (!one.ok()) Fail(kExitError, std::string(one.status().message()));
      auto r = (*one)->Defragment(etcdserverpb::DefragmentRequest());
      if (!r.ok()) Fail(kExitError, std::string(r.status().message()));
      std::printf("Defragmented %s\n", GoQuote(ep).c_str());
    }
  }
  std::fflush(stdout);
}

// Go's %f: NaN and infinities spelled its way.
std::string GoFloat(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return absl::StrFormat("%f", v);
}

// Go's int(float64) on amd64 for the throughput figure (NaN and overflow give MinInt64).
int64_t GoInt(double v) {
  if (std::isnan(v) || v >= 9.2233720368547758e18 || v < -9.2233720368547758e18) {
    return std::numeric_limits<int64_t>::min();
  }
  return static_cast<int64_t>(v);
}

void PrintErrors(const LoadStats& s) {
  std::printf("FAIL: too many errors\n");
  for (const auto& [text, count] : s.errors) {
    std::printf("FAIL: ERROR(%s) -> %lld\n", text.c_str(), static_cast<long long>(count));
  }
}

// The load's length: etcdctl's 60 s, or CAIRNCTL_CHECK_PERF_SECONDS (test-only).
int PerfSeconds(int model_seconds) {
  const char* v = std::getenv("CAIRNCTL_CHECK_PERF_SECONDS");
  if (v != nullptr && std::atoi(v) > 0) return std::atoi(v);
  return model_seconds;
}

int RunCheckPerf(Invocation& inv) {
  static const std::map<std::string, PerfModel> kModels = {
      {"s", {150, 50, 60}}, {"m", {1000, 200, 60}}, {"l", {8000, 500, 60}}, {"xl", {15000, 1000, 60}}};
  const FlagSet& f = *inv.flags;
  const PerfModel model = kModels.at(ModelName(f.GetString("load")));
  const int seconds = PerfSeconds(model.seconds);
  const std::string prefix = f.GetString("prefix");

  auto conns = Connections(inv.client_config, model.clients);
  {
    ClientConfig probe_cfg = inv.client_config;
    probe_cfg.command_timeout_ns = int64_t{seconds} * 1'000'000'000;
    RequireEmptyPrefix(*ConnectOrFail(probe_cfg), prefix);
  }

  ProgressBar bar(seconds);
  bar.Start();
  std::thread ticker([&bar, seconds] {
    for (int i = 0; i < seconds; ++i) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      bar.Add(1);
    }
    bar.Finish();
  });

  LoadReport report;
  report.Begin();
  const std::string value(1024, '\0');
  KeyMaker keys(prefix, 256);
  // A token bucket of one token refilled at the model's rate (etcdctl's rate limiter), for
  // `seconds` from now: a grant that would come after the end ends the load instead.
  const auto interval = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / model.rate));
  const Clock::time_point end = Clock::now() + std::chrono::seconds(seconds);
  Clock::time_point last_grant = Clock::now() - interval;
  DriveLoad(
      conns, model.clients,
      [&](PutRequest* req) {
        Clock::time_point grant = std::max(last_grant + interval, Clock::now());
        if (grant > end) return false;
        std::this_thread::sleep_until(grant);
        last_grant = grant;
        req->set_key(keys.Next());
        req->set_value(value);
        return true;
      },
      report, nullptr);
  const LoadStats s = report.End();
  // The bar's last line comes before the verdict so the output reads in order.
  ticker.join();

  ClientConfig cleanup_cfg = inv.client_config;
  cleanup_cfg.command_timeout_ns = kCleanupTimeoutNs;
  CleanUp(*ConnectOrFail(cleanup_cfg), prefix, f);

  bool ok = true;
  if (!s.errors.empty()) {
    PrintErrors(s);
    ok = false;
  }
  const long long writes = static_cast<long long>(GoInt(s.rps) + 1);
  if (s.rps / model.rate <= 0.9) {
    std::printf("FAIL: Throughput too low: %lld writes/s\n", writes);
    ok = false;
  } else {
    std::printf("PASS: Throughput is %lld writes/s\n", writes);
  }
  if (s.slowest > 0.5) {
    std::printf("Slowest request took too long: %ss\n", GoFloat(s.slowest).c_str());
    ok = false;
  } else {
    std::printf("PASS: Slowest request took %ss\n", GoFloat(s.slowest).c_str());
  }
  if (s.stddev > 0.1) {
    std::printf("Stddev too high: %ss\n", GoFloat(s.stddev).c_str());
    ok = false;
  } else {
    std::printf("PASS: Stddev is %ss\n", GoFloat(s.stddev).c_str());
  }
  std::printf(ok ? "PASS\n" : "FAIL\n");
  std::fflush(stdout);
  return ok ? kExitSuccess : kExitError;
}

// The member's resident memory from its /metrics, or etcdctl's message and 0.
double ResidentMemory(const std::string& endpoint) {
  auto v = FetchMetric(endpoint, "process_resident_memory_bytes");
  if (!v.ok()) {
    std::printf("%s\n", std::string(v.status().message()).c_str());
    return 0;
  }
  return *v;
}

int RunCheckDatascale(Invocation& inv) {
  static const std::map<std::string, DatascaleModel> kModels = {
      {"s", {10000, 1024, 50}}, {"m", {100000, 1024, 200}}, {"l", {1000000, 1024, 500}}, {"xl", {3000000, 1024, 1000}}};
  const FlagSet& f = *inv.flags;
  const DatascaleModel model = kModels.at(ModelName(f.GetString("load")));
  const std::string prefix = f.GetString("prefix");

  auto conns = Connections(inv.client_config, model.clients);
  RequireEmptyPrefix(*conns[0], prefix);

  // The first endpoint given is the member measured, as etcdctl measures it.
  const std::string measured = inv.client_config.endpoints.at(0);
  const double before = ResidentMemory(measured);
  if (before == 0) {
    std::printf("FAIL: Could not read process_resident_memory_bytes before the put operations.\n");
    std::fflush(stdout);
    return kExitError;
  }
  std::printf("Start data scale check for work load [%lld key-value pairs, %d bytes per key-value, %d concurrent clients].\n",
              static_cast<long long>(model.keys), model.kv_size, model.clients);
  std::fflush(stdout);

  ProgressBar bar(model.keys);
  bar.Start();
  LoadReport report;
  report.Begin();
  const std::string value(512, '\0');
  KeyMaker keys(prefix, 512);
  int64_t sent = 0;
  DriveLoad(
      conns, model.clients,
      [&](PutRequest* req) {
        if (sent == model.keys) return false;
        ++sent;
        req->set_key(keys.Next());
        req->set_value(value);
        return true;
      },
      report, [&bar] { bar.Add(1); });
  const LoadStats s = report.End();
  bar.Finish();

  const double after = ResidentMemory(measured);
  if (after == 0) {
    std::printf("FAIL: Could not read process_resident_memory_bytes after the put operations.\n");
    std::fflush(stdout);
    return kExitError;
  }
  CleanUp(*conns[0], prefix, f);

  if (!s.errors.empty()) {
    PrintErrors(s);
    std::fflush(stdout);
    return kExitError;
  }
  std::printf("PASS: Approximate system memory used : %.2f MB.\n", (after - before) / (1024.0 * 1024.0));
  std::fflush(stdout);
  return kExitSuccess;
}

std::vector<FlagSpec> CheckFlags(const std::string& default_prefix) {
  return {
      {"load", "", FlagKind::kString, "s"},
      {"prefix", "", FlagKind::kString, default_prefix},
      {"auto-compact", "", FlagKind::kBool, "false"},
      {"auto-defrag", "", FlagKind::kBool, "false"},
  };
}

}  // namespace

void AddCheckCommands(std::vector<CommandDef>* out) {
  out->push_back({"check perf", "check perf [--load s|m|l|xl] [--prefix P] [--auto-compact] [--auto-defrag]",
                  CheckFlags("/etcdctl-check-perf/"), RunCheckPerf});
  out->push_back({"check datascale",
                  "check datascale [--load s|m|l|xl] [--prefix P] [--auto-compact] [--auto-defrag]",
                  CheckFlags("/etcdctl-check-datascale/"), RunCheckDatascale});
}

}  // namespace cairn::ctl
