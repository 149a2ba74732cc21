// Runs one cairn-bench workload against the endpoints in Options and measures it.
//
// Contract: blocks until the run is over; connection failures before the run starts come
// back as Unavailable, failed requests during the run are counted in Result::errors (the
// run goes on). Everything the run started (streams, leases it granted) is closed or
// revoked before returning.
#ifndef CAIRN_TOOLS_BENCH_WORKLOADS_H_
#define CAIRN_TOOLS_BENCH_WORKLOADS_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/bench/options.h"
#include "tools/bench/report.h"

namespace grpc {
class Channel;
}

namespace cairn::bench {

absl::StatusOr<Result> RunWorkload(const Options& options);

// Implementation seams shared by the translation units that include gRPC's generated code.
using Channels = std::vector<std::shared_ptr<grpc::Channel>>;

// One channel per --conns, round-robin over the endpoints; each gets a channel argument of
// its own so gRPC never lets two of them share a TCP connection. Waits until all are
// connected (Unavailable after --timeout).
absl::StatusOr<Channels> OpenConnections(const Options& options);
// A channel that retries connecting every few milliseconds, for the ready workload.
std::shared_ptr<grpc::Channel> OpenEagerChannel(const std::string& endpoint);

absl::StatusOr<Result> RunUnary(const Options& options, const Channels& channels);
absl::StatusOr<Result> RunWatch(const Options& options, const Channels& channels);
absl::StatusOr<Result> RunLeaseKeepAlive(const Options& options, const Channels& channels);
absl::StatusOr<Result> RunReady(const Options& options);

}  // namespace cairn::bench

#endif  // CAIRN_TOOLS_BENCH_WORKLOADS_H_
