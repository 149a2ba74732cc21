// cairnd: parses etcd-style flags, starts a member and runs until SIGINT or SIGTERM.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "server/config.h"
#include "server/member.h"
#include "server/tls/cipher_suites.h"

namespace {

constexpr char kVersion[] = "cairnd 0.1.0 (etcd API 3.5)";

}  // namespace

// jemalloc's settings, read when cairnd is linked with it (server/CMakeLists.txt); glibc ignores
// this. Freed pages go back to the kernel after 1 s of disuse instead of 10 s, which brings cairnd's
// private memory after a burst of writes nearer to glibc's (after loading 200 k keys here: about
// 21 MiB, against 33 with jemalloc's default and 15 with glibc) for no CPU cost measurable at 64
// clients. MALLOC_CONF in the environment still overrides it.
extern "C" const char* malloc_conf;
const char* malloc_conf = "dirty_decay_ms:1000";

int main(int argc, char** argv) {
  // Debian's abseil checks every Mutex acquisition for lock-order cycles (gRPC's locks included);
  // that debugging aid costs several percent of CPU on every request.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::vector<std::string> args(argv + 1, argv + argc);
  auto config = cairn::server::ParseFlagsWithEnv(args, [](const char* name) { return std::getenv(name); });
  if (!config.ok()) {
    std::fprintf(stderr, "cairnd: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  if (config->show_help) {
    std::fputs(cairn::server::UsageText().c_str(), stdout);
    return 0;
  }
  if (config->show_version) {
    std::printf("%s\n", kVersion);
    return 0;
  }
  for (const std::string& notice : config->notices) std::fprintf(stderr, "cairnd: %s\n", notice.c_str());
  // Before gRPC builds any TLS credentials: it reads the list once, process-wide.
  if (!config->cipher_list.empty()) cairn::tls::UseCipherSuites(config->cipher_list);

  // Block the stop signals in every thread (gRPC's included) and take them synchronously here.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto member = cairn::server::Member::Start(*config);
  if (!member.ok()) {
    std::fprintf(stderr, "cairnd: cannot start: %s\n", std::string(member.status().message()).c_str());
    return 1;
  }
  std::string listening;
  for (size_t i = 0; i < config->listen_client_urls.size(); ++i) {
    if (i) listening += ", ";
    listening += config->listen_client_urls[i].host + ":" + std::to_string((*member)->client_ports()[i]);
  }
  const std::string log_dir = config->wal_dir.empty() ? "" : ", log in " + config->wal_dir;
  std::fprintf(stderr, "cairnd: member %s (%016llx) serving clients on %s, data dir %s%s\n",
               config->name.c_str(), static_cast<unsigned long long>((*member)->member_id()),
               listening.c_str(), config->EffectiveDataDir().c_str(), log_dir.c_str());

  int received = 0;
  sigwait(&stop_signals, &received);
  std::fprintf(stderr, "cairnd: %s received, shutting down\n", received == SIGTERM ? "SIGTERM" : "SIGINT");
  (*member)->Shutdown();
  std::fprintf(stderr, "cairnd: stopped\n");
  return 0;
}
