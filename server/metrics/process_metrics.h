// The Prometheus process collector's metrics for this process, read from /proc/self at scrape time:
// process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_virtual_memory_max_bytes, process_open_fds, process_max_fds, process_start_time_seconds.
// Linux only; a value that cannot be read is reported as 0. No go_* metrics: cairnd has no Go runtime.
#pragma once

#include "server/metrics/registry.h"

namespace cairn::metrics {

void RegisterProcessMetrics(Registry* registry);

}  // namespace cairn::metrics
