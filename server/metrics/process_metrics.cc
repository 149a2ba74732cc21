#include "server/metrics/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace cairn::metrics {
namespace {

// Fields of /proc/self/stat after the command name (which may hold spaces), numbered as in proc(5)
// from field 3 ("state") on.
std::vector<std::string> StatFields() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  std::getline(in, line);
  const size_t close = line.rfind(')');
  std::vector<std::string> fields;
  if (close == std::string::npos) return fields;
  std::istringstream rest(line.substr(close + 1));
  std::string f;
  while (rest >> f) fields.push_back(f);
  return fields;
}

double StatField(int number) {  // proc(5) numbering
  const std::vector<std::string> fields = StatFields();
  const size_t i = static_cast<size_t>(number - 3);
  return i < fields.size() ? std::stod(fields[i]) : 0;
}

double BootTimeSeconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  double value;
  while (in >> key) {
    if (key == "btime" && (in >> value)) return value;
    std::string skip;
    std::getline(in, skip);
  }
  return 0;
}

double OpenFds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  double n = 0;
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(dir);
  return n - 1;  // the directory stream's own descriptor
}

double Limit(int resource) {
  rlimit lim{};
  if (::getrlimit(resource, &lim) != 0) return 0;
  return lim.rlim_cur == RLIM_INFINITY ? 18446744073709551615.0 : static_cast<double>(lim.rlim_cur);
}

}  // namespace

void RegisterProcessMetrics(Registry* registry) {
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  registry->AddFunction("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                        MetricType::kCounter, [ticks] {
                          const std::vector<std::string> f = StatFields();
                          if (f.size() < 13) return 0.0;
                          return (std::stod(f[11]) + std::stod(f[12])) / ticks;  // utime, stime
                        });
  registry->AddFunction("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::kGauge,
                        [page] { return StatField(24) * page; });
  registry->AddFunction("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::kGauge,
                        [] { return StatField(23); });
  registry->AddFunction("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.",
                        MetricType::kGauge, [] { return Limit(RLIMIT_AS); });
  registry->AddFunction("process_open_fds", "Number of open file descriptors.", MetricType::kGauge, OpenFds);
  registry->AddFunction("process_max_fds", "Maximum number of open file descriptors.", MetricType::kGauge,
                        [] { return Limit(RLIMIT_NOFILE); });
  const double start = BootTimeSeconds() + StatField(22) / ticks;  // fixed for the process's life
  registry->AddFunction("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                        MetricType::kGauge, [start] { return start; });
}

}  // namespace cairn::metrics
