// Command-line options of cairn-bench.
//
// Contract: ParseOptions() is pure (no I/O, no globals); it returns InvalidArgument with a
// message naming the offending flag, or NotFound("help") when --help was asked for.
#ifndef CAIRN_TOOLS_BENCH_OPTIONS_H_
#define CAIRN_TOOLS_BENCH_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cairn::bench {

enum class Workload {
  kPut,             // one Put per request
  kRange,           // one single-key Range per request (linearizable or serializable)
  kTxnPut,          // one Txn with --txn-ops Puts and no compares per request
  kWatch,           // watch fan-out: events delivered per second to many watchers
  kWatchLatency,    // paced puts, delay from Put to each watcher's event
  kLeaseKeepAlive,  // keep-alive round trips on one stream per client
  kReady,           // poll with Range until the server answers; prints when it did
};

struct Options {
  Workload workload = Workload::kPut;
  std::string workload_name = "put";
  std::vector<std::string> endpoints = {"127.0.0.1:2379"};  // host:port, scheme stripped
  int conns = 1;    // gRPC connections (channels that never share a TCP connection)
  int clients = 1;  // concurrent request loops (streams for lease-keepalive), spread over conns
  int64_t total = 10000;  // requests (watch workloads: puts)
  int key_size = 8;
  int val_size = 8;
  int64_t key_space_size = 1;
  bool sequential_keys = false;
  double rate = 0;  // requests per second over all clients; 0 = as fast as possible
  bool serializable = false;  // --consistency=s
  int txn_ops = 1;
  std::string prefix;         // prepended to every key (watch workloads default to "watch/")
  int watchers = 100;         // watch workloads: watchers in all
  int watch_streams = 10;     // watch workloads: streams the watchers are spread over
  int64_t lease_ttl = 60;     // lease-keepalive: TTL of the granted leases, seconds
  double timeout_s = 60;      // per request deadline; watch: wait for stragglers; ready: give up
  bool json = false;
  bool progress = true;       // only shown when stderr is a terminal
};

absl::StatusOr<Options> ParseOptions(int argc, char** argv);
std::string UsageText();

}  // namespace cairn::bench

#endif  // CAIRN_TOOLS_BENCH_OPTIONS_H_
