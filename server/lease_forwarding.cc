#include "server/lease_forwarding.h"

#include "server/errors.h"

namespace cairn::server {
namespace {

// Worth another try later: nobody leads, the leader is not ready, or it could not be reached.
bool Retriable(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable || s.code() == absl::StatusCode::kDeadlineExceeded;
}

}  // namespace

PeerLeaseForwarder::PeerLeaseForwarder(peer::PeerTransport* transport, Options options)
    : transport_(transport), options_(std::move(options)) {
  thread_ = std::thread([this] { RunRetries(); });
}

PeerLeaseForwarder::~PeerLeaseForwarder() { Stop(); }

void PeerLeaseForwarder::Stop() {
  std::multimap<Clock::time_point, std::function<void()>> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    left.swap(retries_);
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  // A retry run after stopping ends its call at once (no leader to ask any more).
  for (auto& [at, fn] : left) fn();
}

template <typename Request, typename Response>
struct PeerLeaseForwarder::ForwardedCall final : Call, std::enable_shared_from_this<ForwardedCall<Request, Response>> {
  using Forward = void (peer::PeerTransport::*)(uint64_t, const Request&,
                                                std::function<void(absl::StatusOr<Response>)>);
  using Local = std::function<void(const Request&, std::function<void(absl::StatusOr<Response>)>)>;
  PeerLeaseForwarder* owner = nullptr;
  Forward forward = nullptr;
  Local local;
  Request request;
  std::function<void(absl::StatusOr<Response>)> done;

  void Attempt(uint64_t leader) override {
    if (leader == 0) return done(ErrNoLeader());
    auto self = this->shared_from_this();
    auto settle = [self](absl::StatusOr<Response> r) {
      if (r.ok() || !Retriable(r.status()) || Clock::now() >= self->give_up) return self->done(std::move(r));
      self->owner->Later([self] { self->owner->Try(self); });
    };
    if (leader == owner->options_.self_id) {
      if (!local) return done(ErrNoLeader());
      return local(request, std::move(settle));
    }
    (owner->transport_->*forward)(leader, request, std::move(settle));
  }
};

void PeerLeaseForwarder::Renew(int64_t id, std::function<void(absl::StatusOr<int64_t>)> done) {
  auto call = std::make_shared<ForwardedCall<etcdserverpb::LeaseKeepAliveRequest, etcdserverpb::LeaseKeepAliveResponse>>();
  call->owner = this;
  call->forward = &peer::PeerTransport::ForwardLeaseRenew;
  call->local = options_.local_renew;
  call->request.set_id(id);
  call->done = [done](absl::StatusOr<etcdserverpb::LeaseKeepAliveResponse> r) {
    if (!r.ok()) return done(r.status());
    done(r->ttl());
  };
  call->give_up = Clock::now() + options_.patience;
  Try(std::move(call));
}

void PeerLeaseForwarder::TimeToLive(
    const etcdserverpb::LeaseTimeToLiveRequest& request,
    std::function<void(absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse>)> done) {
  auto call = std::make_shared<ForwardedCall<etcdserverpb::LeaseTimeToLiveRequest, etcdserverpb::LeaseTimeToLiveResponse>>();
  call->owner = this;
  call->forward = &peer::PeerTransport::ForwardLeaseTimeToLive;
  call->local = options_.local_time_to_live;
  call->request = request;
  call->done = std::move(done);
  call->give_up = Clock::now() + options_.patience;
  Try(std::move(call));
}

void PeerLeaseForwarder::Try(std::shared_ptr<Call> call) {
  bool stopping;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping = stopping_;
  }
  if (stopping) return call->Attempt(0);
  const uint64_t leader = options_.leader();
  const bool local_ready = leader == options_.self_id && options_.local_primary && options_.local_primary();
  if (leader == 0 || (leader == options_.self_id && !local_ready)) {
    // No leader yet, or this member leads but its lessor is not primary yet: ask again shortly.
    if (Clock::now() >= call->give_up) return call->Attempt(0);
    Later([this, call] { Try(call); });
    return;
  }
  call->Attempt(leader);
}

void PeerLeaseForwarder::Later(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      retries_.emplace(Clock::now() + options_.retry_interval, std::move(fn));
      wake_.notify_one();
      return;
    }
  }
  fn();
}

void PeerLeaseForwarder::RunRetries() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (retries_.empty()) {
      wake_.wait(lock);
      continue;
    }
    auto first = retries_.begin();
    if (first->first > Clock::now()) {
      wake_.wait_until(lock, first->first);
      continue;
    }
    std::function<void()> fn = std::move(first->second);
    retries_.erase(first);
    lock.unlock();
    fn();
    lock.lock();
  }
}

}  // namespace cairn::server
