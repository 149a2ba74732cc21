// cairn-bench: a load generator for etcd v3 gRPC endpoints. See UsageText() and
// benchmarks/README.md.
#include <cstdio>

#include "absl/synchronization/mutex.h"
#include "tools/bench/options.h"
#include "tools/bench/report.h"
#include "tools/bench/workloads.h"

int main(int argc, char** argv) {
  // Debian's abseil checks every Mutex acquisition for lock-order cycles (gRPC's locks included);
  // that debugging aid costs several percent of CPU on every request.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::StatusOr<cairn::bench::Options> options = cairn::bench::ParseOptions(argc, argv);
  if (!options.ok()) {
    const bool help = absl::IsNotFound(options.status());
    if (!help) std::fprintf(stderr, "cairn-bench: %s\n\n", std::string(options.status().message()).c_str());
    std::fputs(cairn::bench::UsageText().c_str(), help ? stdout : stderr);
    return help ? 0 : 2;
  }
  absl::StatusOr<cairn::bench::Result> result = cairn::bench::RunWorkload(*options);
  if (!result.ok()) {
    std::fprintf(stderr, "cairn-bench: %s\n", std::string(result.status().message()).c_str());
    return 1;
  }
  if (options->json) {
    cairn::bench::PrintJson(*options, *result, stdout);
  } else {
    cairn::bench::PrintText(*options, *result, stdout);
  }
  // Requests that failed make the run's figures suspect: say so in the exit code.
  return result->errors > 0 ? 3 : 0;
}
