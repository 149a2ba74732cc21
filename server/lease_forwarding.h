// How a follower's lease calls reach the leader: keep-alives and TimeToLive go over the peer
// transport to whichever member leads now. During an election (no leader yet, or a new leader
// whose lessor is not primary yet) a call is retried every `retry_interval` for up to `patience`,
// so a client's keep-alive stream rides through a leader change instead of failing; after that it
// fails with the last error (etcd's "etcdserver: no leader" when nobody leads).
//
// Thread safety: all methods are thread-safe. Callbacks run once, on a transport thread or this
// object's retry thread. Stop() (or the destructor) answers waiting retries with "server stopped"
// and must run before the transport is destroyed.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "server/lease/lease_service.h"
#include "server/peer/peer_transport.h"

namespace cairn::server {

class PeerLeaseForwarder final : public lease::LeaderForwarder {
 public:
  struct Options {
    uint64_t self_id = 0;
    std::function<uint64_t()> leader;  // the current leader's ID, 0 if none
    // When the leader turns out to be this member (a call forwarded just before it took over),
    // the call is answered here once its lessor is primary.
    std::function<bool()> local_primary;
    std::function<void(const etcdserverpb::LeaseKeepAliveRequest&,
                       std::function<void(absl::StatusOr<etcdserverpb::LeaseKeepAliveResponse>)>)>
        local_renew;
    std::function<void(const etcdserverpb::LeaseTimeToLiveRequest&,
                       std::function<void(absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse>)>)>
        local_time_to_live;
    std::chrono::milliseconds patience{3000};
    std::chrono::milliseconds retry_interval{100};
  };
  PeerLeaseForwarder(peer::PeerTransport* transport, Options options);
  ~PeerLeaseForwarder() override;

  void Renew(int64_t id, std::function<void(absl::StatusOr<int64_t>)> done) override;
  void TimeToLive(const etcdserverpb::LeaseTimeToLiveRequest& request,
                  std::function<void(absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse>)> done) override;
  void Stop();

 private:
  using Clock = std::chrono::steady_clock;
  // One forwarded call and its retries; Attempt(0) ends it with "no leader".
  struct Call {
    virtual ~Call() = default;
    virtual void Attempt(uint64_t leader) = 0;
    Clock::time_point give_up;
  };
  template <typename Request, typename Response>
  struct ForwardedCall;
  // Attempts `call` with the current leader, or later if there is none yet.
  void Try(std::shared_ptr<Call> call);
  void Later(std::function<void()> fn);
  void RunRetries();

  peer::PeerTransport* const transport_;
  const Options options_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::multimap<Clock::time_point, std::function<void()>> retries_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace cairn::server
