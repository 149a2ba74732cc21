// cairn-nullserver: serves the etcd v3 KV/Watch/Lease API doing nothing, as the ceiling for
// cairn-bench figures. Stops on SIGINT or SIGTERM.
//
//   cairn-nullserver --listen-client-urls http://127.0.0.1:PORT   (etcd's flag; port 0 = any)
//                    [--sync-file PATH]   fdatasync one append to PATH per Put/Txn before answering
//
// Prints "listening on 127.0.0.1:PORT" on stdout once it accepts connections.
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "absl/synchronization/mutex.h"
#include "tools/nullserver/null_services.h"

int main(int argc, char** argv) {
  // Debian's abseil checks every Mutex acquisition for lock-order cycles (gRPC's locks included);
  // that debugging aid costs several percent of CPU on every request.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  cairn::nullserver::NullServerOptions options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    }
    if (arg == "--listen-client-urls" || arg == "--listen") {
      if (value.rfind("http://", 0) == 0) value = value.substr(7);
      if (auto comma = value.find(','); comma != std::string::npos) value = value.substr(0, comma);
      options.address = value;
    } else if (arg == "--sync-file") {
      options.sync_file = value;
    } else if (arg == "--help" || arg == "-h") {
      std::printf("usage: cairn-nullserver --listen-client-urls http://127.0.0.1:PORT [--sync-file PATH]\n");
      return 0;
    } else {
      std::fprintf(stderr, "cairn-nullserver: unknown flag %s\n", arg.c_str());
      return 2;
    }
  }
  // Signals are taken by sigwait() below, not by whatever thread gRPC happens to run.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const std::string host = options.address.substr(0, options.address.rfind(':'));
  absl::Status status = cairn::nullserver::RunNullServer(
      options,
      [&](int port) {
        std::printf("listening on %s:%d\n", host.c_str(), port);
        std::fflush(stdout);
      },
      [&] {
        int signal = 0;
        sigwait(&stop_signals, &signal);
      });
  if (!status.ok()) {
    std::fprintf(stderr, "cairn-nullserver: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
