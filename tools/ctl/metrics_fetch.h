// Reads one figure from a member's Prometheus text on its client URL (GET <endpoint>/metrics),
// as etcdctl's `check datascale` does to measure the member's memory.
// Plain HTTP only: an https:// endpoint fails with a message saying so.
// Errors carry the line etcdctl prints for the same failure ("fetch error: ...",
// "could not find: <name>", "parse error: ..."). Blocking; thread-safe.
#ifndef CAIRN_TOOLS_CTL_METRICS_FETCH_H_
#define CAIRN_TOOLS_CTL_METRICS_FETCH_H_

#include <string>

#include "absl/status/statusor.h"

namespace cairn::ctl {

// `endpoint` is host:port or http://host:port (as given to --endpoints).
absl::StatusOr<double> FetchMetric(const std::string& endpoint, const std::string& metric);

// The value of the first line of `text` that starts with `metric` (exposed for tests).
absl::StatusOr<double> FindMetric(const std::string& text, const std::string& metric);

}  // namespace cairn::ctl

#endif  // CAIRN_TOOLS_CTL_METRICS_FETCH_H_
