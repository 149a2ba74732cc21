#include "tools/ctl/session.h"

#include <algorithm>

namespace cairn::ctl {

using Clock = std::chrono::steady_clock;

absl::StatusOr<std::unique_ptr<Session>> Session::Start(Client* client, int64_t ttl_seconds) {
  etcdserverpb::LeaseGrantRequest grant;
  grant.set_ttl(ttl_seconds);
  auto granted = client->LeaseGrant(grant);
  if (!granted.ok()) return granted.status();
  std::unique_ptr<Session> session(new Session(client, granted->id(), std::max<int64_t>(granted->ttl(), 1)));
  session->thread_ = std::thread([s = session.get()] { s->KeepAlive(); });
  return session;
}

Session::Session(Client* client, int64_t lease, int64_t ttl) : client_(client), lease_(lease), ttl_(ttl) {}

Session::~Session() { Stop(); }

void Session::KeepAlive() {
  Clock::time_point last_renewed = Clock::now();
  const auto period = std::max<Clock::duration>(ttl_ / 3, std::chrono::milliseconds(500));
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_ && !lost_) {
    lock.unlock();
    auto stream = client_->KeepAlive();
    lock.lock();
    if (stream.ok()) stream_ = stream->get();
    while (stream.ok() && !stopping_) {
      lock.unlock();
      etcdserverpb::LeaseKeepAliveResponse resp;
      const bool answered = (*stream)->Send(lease_) && (*stream)->Read(&resp);
      lock.lock();
      if (!answered) break;  // reconnect below
      if (resp.ttl() <= 0) {
        lost_ = true;
        break;
      }
      last_renewed = Clock::now();
      changed_.wait_for(lock, period, [this] { return stopping_; });
    }
    stream_ = nullptr;
    if (stream.ok()) {
      lock.unlock();
      (*stream)->Cancel();
      (void)(*stream)->Finish();
      lock.lock();
    }
    // The server forgets a lease not renewed for its TTL: past that, the session is gone.
    if (Clock::now() - last_renewed >= ttl_) lost_ = true;
    if (!stopping_ && !lost_) changed_.wait_for(lock, std::chrono::milliseconds(200), [this] { return stopping_; });
  }
  changed_.notify_all();
}

bool Session::WaitLost() {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [this] { return stopping_ || lost_; });
  return lost_ && !stopping_;
}

void Session::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    if (stream_ != nullptr) stream_->Cancel();
  }
  changed_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

absl::Status Session::Revoke() {
  etcdserverpb::LeaseRevokeRequest revoke;
  revoke.set_id(lease_);
  auto revoked = client_->LeaseRevoke(revoke);
  return revoked.ok() ? absl::OkStatus() : revoked.status();
}

}  // namespace cairn::ctl
