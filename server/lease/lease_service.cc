#include "server/lease/lease_service.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <memory>
#include <utility>

#include "server/lease/lease_errors.h"

namespace cairn::lease {
namespace {

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* context, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpc(status));
  return reactor;
}

}  // namespace

// One LeaseKeepAlive call.
//
// Lifetime: reference-counted. gRPC holds one reference until OnDone; every renewal waiting on the
// lessor or the leader holds one until its callback ran. The last reference deletes the reactor, so
// a late callback never touches freed memory; after OnDone such a callback finds the stream finished
// and only drops its answer. The service forgets the reactor at OnDone.
//
// Locking: mu_ guards the stream state; it is never held while calling the lessor, the forwarder or
// gRPC's Start*/Finish.
class LeaseService::KeepAliveReactor final
    : public grpc::ServerBidiReactor<etcdserverpb::LeaseKeepAliveRequest, etcdserverpb::LeaseKeepAliveResponse> {
 public:
  KeepAliveReactor(LeaseService* service, size_t max_queued) : service_(service), max_queued_(max_queued) {}

  void Start() {
    {
      absl::MutexLock lock(&mu_);
      reading_ = true;
    }
    StartRead(&request_);
  }

  // Ends the call with `status`. drain: first write every answer queued or still being worked out
  // (a client half-close); otherwise drop them (errors, cancellation, shutdown).
  void RequestFinish(const grpc::Status& status, bool drain) {
    grpc::Status final_status;
    bool finish_now = false;
    {
      absl::MutexLock lock(&mu_);
      if (finish_called_ || (finish_requested_ && (!drain_ || drain))) return;
      finish_requested_ = true;
      drain_ = drain;
      status_ = status;
      if (!drain) outbox_.clear();
      finish_now = FinishReadyLocked(&final_status);
    }
    if (finish_now) Finish(final_status);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      {
        absl::MutexLock lock(&mu_);
        reading_ = false;
        half_closed_ = true;
      }
      RequestFinish(grpc::Status::OK, /*drain=*/true);
      return;
    }
    // reading_ stays set until this request is answered or parked: no other read may start (from
    // OnWriteDone) and overwrite request_ or overtake this answer.
    Handle(request_.id());
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      {
        absl::MutexLock lock(&mu_);
        write_in_flight_ = false;
      }
      RequestFinish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "lease keep-alive stream write failed"), false);
      return;
    }
    grpc::Status final_status;
    bool start_write = false, start_read = false, finish_now = false;
    {
      absl::MutexLock lock(&mu_);
      write_in_flight_ = false;
      start_write = NextWriteLocked();
      if (!start_write) finish_now = FinishReadyLocked(&final_status);
      start_read = NextReadLocked();
    }
    if (start_write) StartWrite(&writing_);
    if (finish_now) Finish(final_status);
    if (start_read) StartRead(&request_);
  }

  void OnCancel() override { RequestFinish(grpc::Status::CANCELLED, false); }

  void OnDone() override {
    service_->Unregister(this);
    Unref();
  }

 private:
  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  void Handle(int64_t id) {
    etcdserverpb::LeaseKeepAliveResponse response;
    response.set_id(id);
    // The header is taken before renewing, so its revision is never later than the renewal (a lease
    // revoked at revision r cannot be reported renewed at a revision after r).
    service_->FillHeader(response.mutable_header());
    const RenewResult result = service_->lessor_->Renew(id);
    switch (result.outcome) {
      case RenewOutcome::kRenewed:
        response.set_ttl(result.ttl);
        Deliver(std::move(response), /*was_pending=*/false);
        return;
      case RenewOutcome::kNotFound:
        Deliver(std::move(response), /*was_pending=*/false);  // TTL 0: etcd's "lease is gone"
        return;
      case RenewOutcome::kRevoking:
        BeginPending();
        Ref();
        service_->lessor_->AwaitRevoke(id, [this, response](RenewResult settled) mutable {
          Settle(std::move(response), settled);
          Unref();
        });
        return;
      case RenewOutcome::kNotPrimary:
        BeginPending();
        Forward(std::move(response));
        return;
    }
  }

  // The request just read waits on the lessor or the leader; reads stay paused until it is answered.
  void BeginPending() {
    absl::MutexLock lock(&mu_);
    pending_ = true;
    reading_ = false;
  }

  // A renewal that waited on the lessor is settled.
  void Settle(etcdserverpb::LeaseKeepAliveResponse response, RenewResult settled) {
    switch (settled.outcome) {
      case RenewOutcome::kRenewed:
        response.set_ttl(settled.ttl);
        break;
      case RenewOutcome::kNotFound:
      case RenewOutcome::kRevoking:
        response.set_ttl(0);
        break;
      case RenewOutcome::kNotPrimary:
        Forward(std::move(response));
        return;
    }
    Deliver(std::move(response), true);
  }

  // Asks the leader; fails the stream when there is none to ask.
  void Forward(etcdserverpb::LeaseKeepAliveResponse response) {
    {
      absl::MutexLock lock(&mu_);
      if (finish_called_ || (finish_requested_ && !drain_)) return;  // nobody will read the answer
    }
    LeaderForwarder* forwarder = service_->forwarder();
    if (forwarder == nullptr) {
      RequestFinish(ToGrpc(ErrNoLeader()), false);
      return;
    }
    const int64_t id = response.id();
    Ref();
    forwarder->Renew(id, [this, response](absl::StatusOr<int64_t> ttl) mutable {
      if (ttl.ok()) {
        response.set_ttl(*ttl);
        Deliver(std::move(response), true);
      } else {
        RequestFinish(ToGrpc(ttl.status()), false);
      }
      Unref();
    });
  }

  // Queues an answer, starts writing it if nothing is in flight, and reads on if allowed.
  // was_pending: the answer to a parked request (else: to the request just read).
  void Deliver(etcdserverpb::LeaseKeepAliveResponse response, bool was_pending) {
    grpc::Status final_status;
    bool start_write = false, start_read = false, finish_now = false;
    {
      absl::MutexLock lock(&mu_);
      if (was_pending) {
        pending_ = false;
      } else {
        reading_ = false;
      }
      if (finish_requested_ && !drain_) {
        finish_now = FinishReadyLocked(&final_status);
      } else {
        outbox_.push_back(std::move(response));
        start_write = NextWriteLocked();
        start_read = NextReadLocked();
      }
    }
    if (start_write) StartWrite(&writing_);
    if (finish_now) Finish(final_status);
    if (start_read) StartRead(&request_);
  }

  bool NextWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (write_in_flight_ || outbox_.empty() || finish_called_) return false;
    writing_ = std::move(outbox_.front());
    outbox_.pop_front();
    write_in_flight_ = true;
    return true;
  }

  bool NextReadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (reading_ || pending_ || finish_requested_ || half_closed_ || outbox_.size() >= max_queued_) return false;
    reading_ = true;
    return true;
  }

  // True (once) when the call may be finished now; *status is what to finish with.
  bool FinishReadyLocked(grpc::Status* status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!finish_requested_ || finish_called_ || write_in_flight_) return false;
    if (drain_ && (!outbox_.empty() || pending_)) return false;
    finish_called_ = true;
    *status = status_;
    return true;
  }

  LeaseService* const service_;
  const size_t max_queued_;
  std::atomic<int> refs_{1};
  etcdserverpb::LeaseKeepAliveRequest request_;  // owned by the single outstanding read

  absl::Mutex mu_;
  std::deque<etcdserverpb::LeaseKeepAliveResponse> outbox_ ABSL_GUARDED_BY(mu_);
  etcdserverpb::LeaseKeepAliveResponse writing_;  // the write in flight; touched only by its owner
  bool reading_ ABSL_GUARDED_BY(mu_) = false;  // a read outstanding, or its request not yet answered
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool pending_ ABSL_GUARDED_BY(mu_) = false;  // a renewal waits on the lessor or the leader
  bool half_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool drain_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_called_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

LeaseService::LeaseService(Lessor* lessor, const LeaseRecords* records, Proposer proposer,
                           server::HeaderInfo header, LeaseServiceOptions options)
    : lessor_(lessor),
      records_(records),
      proposer_(std::move(proposer)),
      header_(header),
      options_(options) {}

LeaseService::~LeaseService() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](absl::flat_hash_set<KeepAliveReactor*>* reactors) { return reactors->empty(); }, &reactors_));
}

void LeaseService::SetLeaderForwarder(LeaderForwarder* forwarder) {
  absl::MutexLock lock(&mu_);
  forwarder_ = forwarder;
}

LeaderForwarder* LeaseService::forwarder() const {
  absl::MutexLock lock(&mu_);
  return forwarder_;
}

void LeaseService::FillHeader(etcdserverpb::ResponseHeader* header) const {
  server::StampHeader(header_, header);
  if (header->revision() == 0) header->set_revision(records_->Revision());
}

grpc::ServerUnaryReactor* LeaseService::LeaseGrant(grpc::CallbackServerContext* context,
                                                   const etcdserverpb::LeaseGrantRequest* request,
                                                   etcdserverpb::LeaseGrantResponse* response) {
  if (options_.authorize) {
    if (absl::Status s = options_.authorize(*context, 0); !s.ok()) return FinishNow(context, s);
  }
  if (options_.no_space && options_.no_space()) return FinishNow(context, mvcc::ErrNoSpace());
  if (options_.alarm_refusal) {
    if (absl::Status s = options_.alarm_refusal(); !s.ok()) return FinishNow(context, s);
  }
  absl::StatusOr<int64_t> ttl = lessor_->GrantTtl(request->ttl());
  if (!ttl.ok()) return FinishNow(context, ttl.status());
  int64_t id = request->id();
  if (id == 0) {
    // Chosen here, not when applying, so the log entry — and every member's result — is fixed.
    id = lessor_->PickUnusedId();
  } else if (lessor_->Exists(id)) {
    return FinishNow(context, ErrLeaseExists());
  }
  cairnpb::LogRequest log;
  log.mutable_lease_grant()->set_id(id);
  log.mutable_lease_grant()->set_ttl(*ttl);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  proposer_(std::move(log), response, response->mutable_header(),
            [this, reactor, response, id, granted = *ttl](absl::Status status) {
              if (status.ok()) {
                response->set_id(id);
                response->set_ttl(granted);
                FillHeader(response->mutable_header());
              }
              reactor->Finish(ToGrpc(status));
            });
  return reactor;
}

grpc::ServerUnaryReactor* LeaseService::LeaseRevoke(grpc::CallbackServerContext* context,
                                                    const etcdserverpb::LeaseRevokeRequest* request,
                                                    etcdserverpb::LeaseRevokeResponse* response) {
  if (options_.authorize) {
    if (absl::Status s = options_.authorize(*context, request->id()); !s.ok()) return FinishNow(context, s);
  }
  cairnpb::LogRequest log;
  *log.mutable_lease_revoke() = *request;
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  proposer_(std::move(log), response, response->mutable_header(), [this, reactor, response](absl::Status status) {
    if (status.ok()) FillHeader(response->mutable_header());
    reactor->Finish(ToGrpc(status));
  });
  return reactor;
}

grpc::ServerBidiReactor<etcdserverpb::LeaseKeepAliveRequest, etcdserverpb::LeaseKeepAliveResponse>*
LeaseService::LeaseKeepAlive(grpc::CallbackServerContext* /*context*/) {
  auto* reactor = new KeepAliveReactor(this, std::max<size_t>(1, options_.max_queued_responses));
  // Under mu_ so that Shutdown() either sees this reactor registered or we see the shutdown.
  absl::MutexLock lock(&mu_);
  reactors_.insert(reactor);
  if (shutting_down_) {
    reactor->RequestFinish(ToGrpc(ErrStopped()), false);
  } else {
    reactor->Start();
  }
  return reactor;
}

grpc::ServerUnaryReactor* LeaseService::LeaseTimeToLive(grpc::CallbackServerContext* context,
                                                        const etcdserverpb::LeaseTimeToLiveRequest* request,
                                                        etcdserverpb::LeaseTimeToLiveResponse* response) {
  if (!lessor_->IsPrimary()) {
    LeaderForwarder* forwarder = this->forwarder();
    if (forwarder == nullptr) return FinishNow(context, ErrNoLeader());
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    forwarder->TimeToLive(*request, [reactor, response](absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse> r) {
      if (r.ok()) *response = std::move(*r);
      reactor->Finish(ToGrpc(r.status()));
    });
    return reactor;
  }
  return FinishNow(context, AnswerTimeToLive(*request, response));
}

absl::Status LeaseService::AnswerTimeToLive(const etcdserverpb::LeaseTimeToLiveRequest& request,
                                            etcdserverpb::LeaseTimeToLiveResponse* response) const {
  if (!lessor_->IsPrimary()) return ErrNoLeader();
  response->set_id(request.id());
  const std::optional<LeaseInfo> info = lessor_->Lookup(request.id());
  if (!info.has_value()) {
    response->set_ttl(-1);  // etcd answers an unknown lease with TTL -1, not an error
    FillHeader(response->mutable_header());
    return absl::OkStatus();
  }
  response->set_ttl(info->remaining_ttl);
  response->set_grantedttl(info->granted_ttl);
  if (request.keys()) {
    std::vector<std::string> keys;
    if (auto s = records_->KeysOf(request.id(), &keys); !s.ok()) return s;
    for (std::string& key : keys) response->add_keys(std::move(key));
  }
  FillHeader(response->mutable_header());
  return absl::OkStatus();
}

void LeaseService::AnswerRenew(const etcdserverpb::LeaseKeepAliveRequest& request,
                               std::function<void(absl::StatusOr<etcdserverpb::LeaseKeepAliveResponse>)> done) {
  etcdserverpb::LeaseKeepAliveResponse response;
  response.set_id(request.id());
  FillHeader(response.mutable_header());
  auto settle = [response, done](RenewResult result) mutable {
    switch (result.outcome) {
      case RenewOutcome::kRenewed:
        response.set_ttl(result.ttl);
        return done(response);
      case RenewOutcome::kNotFound:
      case RenewOutcome::kRevoking:
        response.set_ttl(0);  // etcd's "lease is gone"
        return done(response);
      case RenewOutcome::kNotPrimary:
        return done(ErrNoLeader());
    }
  };
  const RenewResult result = lessor_->Renew(request.id());
  if (result.outcome == RenewOutcome::kRevoking) {
    lessor_->AwaitRevoke(request.id(), std::move(settle));
    return;
  }
  settle(result);
}

grpc::ServerUnaryReactor* LeaseService::LeaseLeases(grpc::CallbackServerContext* context,
                                                    const etcdserverpb::LeaseLeasesRequest* /*request*/,
                                                    etcdserverpb::LeaseLeasesResponse* response) {
  for (int64_t id : lessor_->Leases()) response->add_leases()->set_id(id);
  FillHeader(response->mutable_header());
  return FinishNow(context, absl::OkStatus());
}

void LeaseService::Shutdown() {
  absl::MutexLock lock(&mu_);
  if (shutting_down_) return;
  shutting_down_ = true;
  // Holding mu_ keeps every registered reactor alive: OnDone must take mu_ (Unregister) before it
  // drops gRPC's reference, and gRPC never runs OnDone inline from Finish.
  for (KeepAliveReactor* reactor : reactors_) reactor->RequestFinish(ToGrpc(ErrStopped()), false);
}

size_t LeaseService::OpenStreams() const {
  absl::MutexLock lock(&mu_);
  return reactors_.size();
}

void LeaseService::Unregister(KeepAliveReactor* reactor) {
  absl::MutexLock lock(&mu_);
  reactors_.erase(reactor);
}

}  // namespace cairn::lease
