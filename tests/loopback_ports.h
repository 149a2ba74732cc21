// Free TCP ports on 127.0.0.1 for the servers a C++ test starts: the same rule as
// tests/loopback_ports.py, for the same reason.
//
// A port is picked, checked free, released, and bound by the server a little later. bind(0) hands
// out ports from the ephemeral range, where every outgoing connection also takes its source port,
// so a process dialing out could take the port in between ("Address already in use"). Ports here
// come from below that range, starting at a place set by the process id (tests running at once
// start far apart), and one process never gets the same port twice. Thread-safe.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <mutex>
#include <set>

namespace cairn::testing {

namespace loopback_ports_detail {

inline int BindLoopback(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  socklen_t len = sizeof addr;
  int bound = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    bound = ntohs(addr.sin_port);
  }
  close(fd);
  return bound;
}

inline int EphemeralLow() {
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 0;
  if (range >> low && low > 0) return low;
  return 32768;
}

}  // namespace loopback_ports_detail

// A port on 127.0.0.1 that was free a moment ago; 0 if none could be found.
inline int FreeLoopbackPort() {
  using namespace loopback_ports_detail;
  constexpr int kLow = 10000;
  static std::mutex mu;
  static std::set<int> given;
  static int next = 0;
  std::lock_guard<std::mutex> lock(mu);
  const int span = EphemeralLow() - kLow;
  if (span < 1000) {  // no room below the ephemeral range: let the kernel choose
    const int port = BindLoopback(0);
    return port > 0 ? port : 0;
  }
  if (next == 0) next = kLow + static_cast<int>((static_cast<long>(getpid()) * 7919) % span);
  for (int tried = 0; tried < span; ++tried) {
    const int port = next;
    next = kLow + (next - kLow + 1) % span;
    if (given.count(port) == 0 && BindLoopback(port) == port) {
      given.insert(port);
      return port;
    }
  }
  return 0;
}

}  // namespace cairn::testing
