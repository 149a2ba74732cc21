// A lease kept alive by a thread of its own: the owner of a lock or of an election candidacy
// (clientv3's concurrency session, for `lock` and `elect`). The session is lost when a renewal
// finds the lease gone, or when no renewal has succeeded for a whole TTL (the server has then
// expired it); the keys it owns are gone with it.
// Thread model: Start/WaitLost/Revoke from the command's thread; Stop from any thread (the one
// waiting for signals). The keep-alive thread is joined by Stop() or the destructor.
#ifndef CAIRN_TOOLS_CTL_SESSION_H_
#define CAIRN_TOOLS_CTL_SESSION_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tools/ctl/client.h"

namespace cairn::ctl {

class Session {
 public:
  // Grants a lease of `ttl_seconds` and starts renewing it every third of its TTL.
  static absl::StatusOr<std::unique_ptr<Session>> Start(Client* client, int64_t ttl_seconds);
  ~Session();  // Stop()s; the lease is left to expire unless Revoke() ran

  int64_t lease() const { return lease_; }
  // Blocks until the lease is lost (true) or Stop() was called (false).
  bool WaitLost();
  void Stop();
  // Ends the lease now, deleting the keys attached to it. Call after Stop().
  absl::Status Revoke();

 private:
  Session(Client* client, int64_t lease, int64_t ttl);
  void KeepAlive();

  Client* const client_;
  const int64_t lease_;
  const std::chrono::seconds ttl_;
  std::mutex mu_;
  std::condition_variable changed_;
  bool stopping_ = false;
  bool lost_ = false;
  KeepAliveStream* stream_ = nullptr;  // the open stream, cancelled by Stop()
  std::thread thread_;
};

}  // namespace cairn::ctl

#endif  // CAIRN_TOOLS_CTL_SESSION_H_
