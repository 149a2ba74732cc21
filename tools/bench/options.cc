#include "tools/bench/options.h"

#include <cstdlib>
#include <functional>
#include <map>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace cairn::bench {
namespace {

struct WorkloadName {
  const char* name;
  Workload workload;
};
constexpr WorkloadName kWorkloads[] = {
    {"put", Workload::kPut},
    {"range", Workload::kRange},
    {"txn-put", Workload::kTxnPut},
    {"watch", Workload::kWatch},
    {"watch-latency", Workload::kWatchLatency},
    {"lease-keepalive", Workload::kLeaseKeepAlive},
    {"ready", Workload::kReady},
};

absl::Status Bad(absl::string_view flag, absl::string_view value, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, "=", value, ": ", why));
}

template <typename Int>
std::function<absl::Status(absl::string_view)> IntFlag(const char* name, Int* out, Int min) {
  return [=](absl::string_view v) {
    int64_t parsed;
    if (!absl::SimpleAtoi(v, &parsed)) return Bad(name, v, "not an integer");
    if (parsed < static_cast<int64_t>(min)) return Bad(name, v, absl::StrCat("must be >= ", min));
    *out = static_cast<Int>(parsed);
    return absl::OkStatus();
  };
}

std::function<absl::Status(absl::string_view)> DoubleFlag(const char* name, double* out) {
  return [=](absl::string_view v) {
    if (!absl::SimpleAtod(v, out) || *out < 0) return Bad(name, v, "not a non-negative number");
    return absl::OkStatus();
  };
}

std::function<absl::Status(absl::string_view)> BoolFlag(const char* name, bool* out) {
  return [=](absl::string_view v) {
    if (v.empty() || v == "true" || v == "1") {
      *out = true;
    } else if (v == "false" || v == "0") {
      *out = false;
    } else {
      return Bad(name, v, "expected true or false");
    }
    return absl::OkStatus();
  };
}

}  // namespace

std::string UsageText() {
  return R"(usage: cairn-bench <workload> [flags]

Load generator for any etcd v3 gRPC endpoint (cairnd, etcd, cairn-nullserver).

workloads:
  put               Put requests
  range             single-key Range requests (--consistency l|s)
  txn-put           Txn requests of --txn-ops Puts each
  watch             fan-out: --watchers watchers over --watch-streams streams on --prefix;
                    --clients putters write --total events; reports events delivered/s
  watch-latency     like watch, but puts are paced (--rate, default 100/s); the histogram
                    is the delay from sending a Put to each watcher receiving its event
  lease-keepalive   --clients streams, each keeping its own lease alive as fast as
                    responses come back; --total keep-alives in all
  ready             repeat a Range until one succeeds (or --timeout); prints the
                    CLOCK_MONOTONIC time it succeeded, for measuring start-up time

flags:
  --endpoints=h:p[,h:p]   servers (http:// prefix accepted)        [127.0.0.1:2379]
  --conns=N               gRPC connections                          [1]
  --clients=N             concurrent request loops                  [1]
  --total=N               requests to send (watch: puts)            [10000]
  --key-size=N            key length in bytes (after --prefix)      [8]
  --val-size=N            value length in bytes                     [8]
  --key-space-size=N      keys are drawn from N distinct keys       [1]
  --sequential-keys       keys in order 0,1,2.. instead of random
  --rate=R                requests/s over all clients, 0 = no limit [0]
  --consistency=l|s       range: linearizable or serializable       [l]
  --txn-ops=N             txn-put: puts per transaction             [1]
  --prefix=P              prefix of every key (watch: watched)      [""; watch: "watch/"]
  --watchers=N            watch: watchers in all                    [100]
  --watch-streams=N       watch: streams carrying the watchers      [10]
  --lease-ttl=S           lease-keepalive: TTL of the leases        [60]
  --timeout=S             per-request deadline; watch: wait for the last events;
                          ready: give up after this long            [60]
  --json                  print the summary as one JSON object on stdout
  --no-progress           no progress bar (it is only drawn when stderr is a terminal)
)";
}

absl::StatusOr<Options> ParseOptions(int argc, char** argv) {
  Options o;
  bool prefix_given = false;
  bool rate_given = false;
  std::string consistency = "l";
  std::string endpoints;
  std::map<std::string, std::function<absl::Status(absl::string_view)>> flags = {
      {"endpoints", [&](absl::string_view v) { endpoints = std::string(v); return absl::OkStatus(); }},
      {"conns", IntFlag("conns", &o.conns, 1)},
      {"clients", IntFlag("clients", &o.clients, 1)},
      {"total", IntFlag<int64_t>("total", &o.total, 1)},
      {"key-size", IntFlag("key-size", &o.key_size, 1)},
      {"val-size", IntFlag("val-size", &o.val_size, 0)},
      {"key-space-size", IntFlag<int64_t>("key-space-size", &o.key_space_size, 1)},
      {"sequential-keys", BoolFlag("sequential-keys", &o.sequential_keys)},
      {"rate", [&](absl::string_view v) { rate_given = true; return DoubleFlag("rate", &o.rate)(v); }},
      {"consistency", [&](absl::string_view v) { consistency = std::string(v); return absl::OkStatus(); }},
      {"txn-ops", IntFlag("txn-ops", &o.txn_ops, 1)},
      {"prefix", [&](absl::string_view v) { prefix_given = true; o.prefix = std::string(v); return absl::OkStatus(); }},
      {"watchers", IntFlag("watchers", &o.watchers, 1)},
      {"watch-streams", IntFlag("watch-streams", &o.watch_streams, 1)},
      {"lease-ttl", IntFlag<int64_t>("lease-ttl", &o.lease_ttl, 1)},
      {"timeout", DoubleFlag("timeout", &o.timeout_s)},
      {"json", BoolFlag("json", &o.json)},
      {"progress", BoolFlag("progress", &o.progress)},
      {"no-progress", [&](absl::string_view) { o.progress = false; return absl::OkStatus(); }},
  };
  const std::map<std::string, bool> takes_no_value = {
      {"sequential-keys", true}, {"json", true}, {"no-progress", true}, {"progress", true}};

  bool have_workload = false;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") return absl::NotFoundError("help");
    if (!absl::ConsumePrefix(&arg, "--")) {
      if (have_workload) return absl::InvalidArgumentError(absl::StrCat("unexpected argument: ", arg));
      bool known = false;
      for (const auto& w : kWorkloads) {
        if (arg == w.name) {
          o.workload = w.workload;
          o.workload_name = w.name;
          known = true;
        }
      }
      if (!known) return absl::InvalidArgumentError(absl::StrCat("unknown workload: ", arg));
      have_workload = true;
      continue;
    }
    std::string name;
    std::string value;
    bool has_value = false;
    if (auto eq = arg.find('='); eq != absl::string_view::npos) {
      name = std::string(arg.substr(0, eq));
      value = std::string(arg.substr(eq + 1));
      has_value = true;
    } else {
      name = std::string(arg);
    }
    auto flag = flags.find(name);
    if (flag == flags.end()) return absl::InvalidArgumentError(absl::StrCat("unknown flag: --", name));
    if (!has_value && !takes_no_value.count(name)) {
      if (i + 1 >= argc) return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      value = argv[++i];
    }
    if (absl::Status s = flag->second(value); !s.ok()) return s;
  }
  if (!have_workload) return absl::InvalidArgumentError("no workload given");

  if (!endpoints.empty()) {
    o.endpoints.clear();
    for (absl::string_view e : absl::StrSplit(endpoints, ',', absl::SkipEmpty())) {
      absl::ConsumePrefix(&e, "http://");
      absl::ConsumePrefix(&e, "https://");
      absl::ConsumeSuffix(&e, "/");
      o.endpoints.emplace_back(e);
    }
    if (o.endpoints.empty()) return Bad("endpoints", endpoints, "no endpoint");
  }
  if (consistency == "l" || consistency == "linearizable") {
    o.serializable = false;
  } else if (consistency == "s" || consistency == "serializable") {
    o.serializable = true;
  } else {
    return Bad("consistency", consistency, "expected l or s");
  }
  const bool watch = o.workload == Workload::kWatch || o.workload == Workload::kWatchLatency;
  if (watch && !prefix_given) o.prefix = "watch/";
  if (watch && o.prefix.empty()) return Bad("prefix", "", "a watch workload needs a prefix");
  if (o.workload == Workload::kWatchLatency && !rate_given) o.rate = 100;
  if (watch && o.watch_streams > o.watchers) o.watch_streams = o.watchers;
  if (o.txn_ops > 128) return Bad("txn-ops", std::to_string(o.txn_ops), "servers allow at most 128");
  return o;
}

}  // namespace cairn::bench
