#include "server/lease/lessor.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <utility>

#include "absl/time/time.h"
#include "server/lease/lease_errors.h"

namespace cairn::lease {
namespace {

int64_t MinTtlFor(std::chrono::milliseconds election_timeout) {
  // 1.5 election timeouts, rounded up to whole seconds: a lease must outlive one failed election.
  const int64_t ms = (3 * election_timeout.count()) / 2;
  return std::max<int64_t>(1, (ms + 999) / 1000);
}

double RevokeBurst(int rate) { return std::max(1.0, rate / 2.0); }

}  // namespace

Lessor::Lessor(LessorOptions options, Proposer proposer)
    : options_(options),
      clock_(options.clock != nullptr ? options.clock : Clock::Steady()),
      proposer_(std::move(proposer)),
      min_ttl_(MinTtlFor(options.election_timeout)) {
  std::random_device seed;
  absl::MutexLock lock(&mu_);
  random_.seed((static_cast<uint64_t>(seed()) << 32) ^ seed());
  revoke_tokens_ = RevokeBurst(options_.revoke_rate);
  tokens_at_ = clock_->Now();
}

Lessor::~Lessor() { Stop(); }

absl::StatusOr<int64_t> Lessor::GrantTtl(int64_t requested) const {
  if (requested > kMaxLeaseTtl) return ErrLeaseTtlTooLarge();
  return std::max(requested, min_ttl_);
}

int64_t Lessor::PickUnusedId() {
  absl::MutexLock lock(&mu_);
  for (;;) {
    const int64_t id = static_cast<int64_t>(random_() & static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
    if (id != 0 && !leases_.contains(id)) return id;
  }
}

bool Lessor::Exists(int64_t id) const {
  absl::MutexLock lock(&mu_);
  return leases_.contains(id);
}

void Lessor::Enqueue(int64_t id, Lease& lease, Time at) {
  queue_.push(QueueEntry{at, id});
  lease.queued_at = at;
}

void Lessor::OnGranted(int64_t id, int64_t ttl) {
  ttl = std::clamp(ttl, min_ttl_, kMaxLeaseTtl);  // a log from a member with other settings stays sane
  const Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  Lease& lease = leases_[id];
  lease.ttl = ttl;
  lease.checkpointed = 0;
  if (!primary_) return;
  lease.expiry = now + std::chrono::seconds(ttl);
  if (lease.expiry < lease.queued_at) Enqueue(id, lease, lease.expiry);
}

void Lessor::OnRevoked(int64_t id) {
  std::vector<std::function<void(RenewResult)>> waiters;
  {
    absl::MutexLock lock(&mu_);
    auto it = leases_.find(id);
    if (it == leases_.end()) return;
    waiters = std::move(it->second.waiters);
    leases_.erase(it);  // its queue entry goes stale and is dropped when it comes up
  }
  for (auto& then : waiters) then(RenewResult{RenewOutcome::kNotFound, 0});
}

void Lessor::OnCheckpoint(int64_t id, int64_t remaining_ttl) {
  absl::MutexLock lock(&mu_);
  auto it = leases_.find(id);
  if (it != leases_.end()) it->second.checkpointed = std::max<int64_t>(0, remaining_ttl);
}

absl::Status Lessor::Recover(const LeaseRecords& records) {
  std::vector<LeaseRecord> stored;
  if (auto s = records.AllLeases(&stored); !s.ok()) return s;
  const Time now = clock_->Now();
  std::vector<std::function<void(RenewResult)>> waiters;
  {
    absl::MutexLock lock(&mu_);
    waiters = TakeAllWaiters();  // their leases are about to be replaced: let them ask again
    leases_.clear();
    for (const LeaseRecord& r : stored) {
      Lease& lease = leases_[r.id];
      lease.ttl = std::clamp(r.ttl, min_ttl_, kMaxLeaseTtl);
      lease.checkpointed = std::max<int64_t>(0, r.remaining_ttl);
      if (primary_) lease.expiry = now + std::chrono::seconds(StartingTtl(lease));
    }
    RebuildQueue();
  }
  for (auto& then : waiters) then(RenewResult{RenewOutcome::kNotPrimary, 0});
  return absl::OkStatus();
}

void Lessor::Promote(Clock::Duration extend) {
  std::vector<std::pair<std::function<void(RenewResult)>, RenewResult>> settled;
  {
    const Time now = clock_->Now();
    absl::MutexLock lock(&mu_);
    primary_ = true;
    for (auto& [id, lease] : leases_) {
      lease.expiry = now + extend + std::chrono::seconds(StartingTtl(lease));
      // Anyone waiting for this lease's revoke now finds it alive again.
      for (auto& then : lease.waiters) settled.emplace_back(std::move(then), RenewResult{RenewOutcome::kRenewed, lease.ttl});
      lease.waiters.clear();
    }
    SpreadExpiries();
    RebuildQueue();
  }
  for (auto& [then, result] : settled) then(result);
}

void Lessor::SpreadExpiries() {
  // With every lease refreshed at the same moment, leases of equal TTL would all fall due in the same
  // instant and queue behind the revoke rate. Keep any window of one second to at most `per_second`
  // expiries by pushing the excess later: the k-th deadline is no earlier than one second after the
  // (k - per_second)-th.
  const size_t per_second = static_cast<size_t>(std::max(1, (3 * options_.revoke_rate) / 4));
  if (leases_.size() <= per_second) return;
  std::vector<std::pair<Time, Lease*>> order;
  order.reserve(leases_.size());
  for (auto& [id, lease] : leases_) order.emplace_back(lease.expiry, &lease);
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t k = per_second; k < order.size(); ++k) {
    const Time floor = order[k - per_second].first + std::chrono::seconds(1);
    if (order[k].first < floor) {
      order[k].first = floor;
      order[k].second->expiry = floor;
    }
  }
}

void Lessor::RebuildQueue() {
  queue_ = {};
  for (auto& [id, lease] : leases_) {
    lease.queued_at = kNever;
    if (lease.expiry != kNever) Enqueue(id, lease, lease.expiry);
  }
}

std::vector<std::function<void(RenewResult)>> Lessor::TakeAllWaiters() {
  std::vector<std::function<void(RenewResult)>> all;
  for (auto& [id, lease] : leases_) {
    for (auto& then : lease.waiters) all.push_back(std::move(then));
    lease.waiters.clear();
  }
  return all;
}

void Lessor::Demote() {
  std::vector<std::function<void(RenewResult)>> waiters;
  {
    absl::MutexLock lock(&mu_);
    primary_ = false;
    for (auto& [id, lease] : leases_) {
      lease.expiry = kNever;
      lease.queued_at = kNever;
    }
    queue_ = {};
    checkpoints_to_clear_.clear();  // the next primary clears them when their owners renew there
    waiters = TakeAllWaiters();
  }
  for (auto& then : waiters) then(RenewResult{RenewOutcome::kNotPrimary, 0});
}

bool Lessor::IsPrimary() const {
  absl::MutexLock lock(&mu_);
  return primary_;
}

RenewResult Lessor::Renew(int64_t id) {
  const Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  return RenewLocked(id, now);
}

RenewResult Lessor::RenewLocked(int64_t id, Time now) {
  if (!primary_ || stopped_) return RenewResult{RenewOutcome::kNotPrimary, 0};
  auto it = leases_.find(id);
  if (it == leases_.end()) return RenewResult{RenewOutcome::kNotFound, 0};
  Lease& lease = it->second;
  if (lease.expiry <= now) return RenewResult{RenewOutcome::kRevoking, 0};
  lease.expiry = now + std::chrono::seconds(lease.ttl);
  if (lease.checkpointed > 0 && CheckpointsOn()) {
    // The stored checkpoint no longer holds: a restart would start the lease from it. Clear it.
    lease.checkpointed = 0;
    checkpoints_to_clear_.push_back(id);
  }
  // Usually the deadline moves later and the queue entry (earlier) stays valid: nothing else to do.
  if (lease.expiry < lease.queued_at) Enqueue(id, lease, lease.expiry);
  ++stats_.renewals;
  return RenewResult{RenewOutcome::kRenewed, lease.ttl};
}

void Lessor::AwaitRevoke(int64_t id, std::function<void(RenewResult)> then) {
  RenewResult now_result;
  {
    const Time now = clock_->Now();
    absl::MutexLock lock(&mu_);
    now_result = RenewLocked(id, now);
    if (now_result.outcome == RenewOutcome::kRevoking) {
      leases_[id].waiters.push_back(std::move(then));
      return;
    }
  }
  then(now_result);
}

std::optional<LeaseInfo> Lessor::Lookup(int64_t id) const {
  const Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  auto it = leases_.find(id);
  if (it == leases_.end()) return std::nullopt;
  LeaseInfo info;
  info.id = id;
  info.granted_ttl = it->second.ttl;
  if (it->second.expiry == kNever) {
    info.remaining_ttl = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::nanoseconds::max()).count();
  } else {
    info.remaining_ttl = std::chrono::duration_cast<std::chrono::seconds>(it->second.expiry - now).count();
  }
  return info;
}

std::vector<int64_t> Lessor::Leases() const {
  std::vector<std::pair<Time, int64_t>> order;
  {
    absl::MutexLock lock(&mu_);
    order.reserve(leases_.size());
    for (const auto& [id, lease] : leases_) order.emplace_back(lease.expiry, id);
  }
  std::sort(order.begin(), order.end());
  std::vector<int64_t> ids;
  ids.reserve(order.size());
  for (const auto& [expiry, id] : order) ids.push_back(id);
  return ids;
}

size_t Lessor::RevokeExpired() {
  std::vector<int64_t> due;
  {
    const Time now = clock_->Now();
    absl::MutexLock lock(&mu_);
    if (!primary_ || stopped_) return 0;
    const double elapsed = std::chrono::duration<double>(now - tokens_at_).count();
    revoke_tokens_ = std::min(RevokeBurst(options_.revoke_rate), revoke_tokens_ + elapsed * options_.revoke_rate);
    tokens_at_ = now;
    while (!queue_.empty() && queue_.top().time <= now) {
      const QueueEntry entry = queue_.top();
      auto it = leases_.find(entry.id);
      if (it == leases_.end() || it->second.queued_at != entry.time) {
        queue_.pop();  // revoked, or superseded by an earlier entry
        continue;
      }
      Lease& lease = it->second;
      if (lease.expiry > now) {  // renewed since it was queued
        queue_.pop();
        Enqueue(entry.id, lease, lease.expiry);
        continue;
      }
      if (revoke_tokens_ < 1) break;  // the rest waits for the next pass
      revoke_tokens_ -= 1;
      queue_.pop();
      // Come back to it if the revoke has not landed by then.
      Enqueue(entry.id, lease, now + options_.revoke_retry);
      due.push_back(entry.id);
    }
    stats_.revokes_proposed += static_cast<int64_t>(due.size());
  }
  for (int64_t id : due) ProposeRevoke(id);
  return due.size();
}

void Lessor::ProposeRevoke(int64_t id) {
  cairnpb::LogRequest request;
  request.mutable_lease_revoke()->set_id(id);
  auto response = std::make_shared<etcdserverpb::LeaseRevokeResponse>();
  etcdserverpb::LeaseRevokeResponse* raw = response.get();
  proposer_(std::move(request), raw, raw->mutable_header(), [this, id, response](absl::Status status) {
    // Applied, or the store no longer has it: either way the lease is gone. (The applier reports the
    // revoke too; a second OnRevoked is a no-op.)
    if (status.ok() || mvcc::IsError(status, ErrLeaseNotFound())) {
      OnRevoked(id);
      return;
    }
    absl::MutexLock lock(&mu_);
    ++stats_.revokes_failed;  // retried after revoke_retry
  });
}

size_t Lessor::ProposeCheckpoints(bool due) {
  std::vector<std::pair<int64_t, int64_t>> checkpoints;  // (lease, remaining TTL in seconds)
  {
    const Time now = clock_->Now();
    absl::MutexLock lock(&mu_);
    if (!primary_ || stopped_ || !CheckpointsOn()) return 0;
    for (int64_t id : checkpoints_to_clear_) {
      auto it = leases_.find(id);
      if (it != leases_.end() && it->second.checkpointed == 0) checkpoints.emplace_back(id, 0);
    }
    checkpoints_to_clear_.clear();
    if (due) {
      // A lease with at most one interval left either expires or is renewed before the next pass;
      // its previous checkpoint (if any) still bounds what a new leader gives it.
      for (const auto& [id, lease] : leases_) {
        if (lease.expiry == kNever || lease.expiry - now <= options_.checkpoint_interval) continue;
        checkpoints.emplace_back(id, std::chrono::duration_cast<std::chrono::seconds>(lease.expiry - now).count());
      }
    }
    stats_.checkpoints_proposed += static_cast<int64_t>(checkpoints.size());
  }
  const size_t proposed = checkpoints.size();
  constexpr size_t kMaxPerEntry = 1000;
  for (size_t start = 0; start < checkpoints.size(); start += kMaxPerEntry) {
    const size_t end = std::min(checkpoints.size(), start + kMaxPerEntry);
    ProposeCheckpointBatch({checkpoints.begin() + start, checkpoints.begin() + end});
  }
  return proposed;
}

void Lessor::ProposeCheckpointBatch(std::vector<std::pair<int64_t, int64_t>> checkpoints) {
  cairnpb::LogRequest request;
  for (const auto& [id, remaining] : checkpoints) {
    auto* checkpoint = request.mutable_lease_checkpoint()->add_checkpoints();
    checkpoint->set_id(id);
    checkpoint->set_remaining_ttl(remaining);
  }
  auto response = std::make_shared<etcdserverpb::LeaseCheckpointResponse>();
  etcdserverpb::LeaseCheckpointResponse* raw = response.get();
  // A refused checkpoint (no longer leader, no space) is made good by the next pass: it checkpoints
  // every lease with more than an interval left, which is every lease that can carry a checkpoint.
  proposer_(std::move(request), raw, raw->mutable_header(), [response](absl::Status) {});
}

void Lessor::Start() {
  absl::MutexLock lock(&thread_mu_);
  if (stopping_ || thread_.joinable()) return;
  thread_ = std::thread([this] { RunExpiryLoop(); });
}

void Lessor::RunExpiryLoop() {
  Time next_checkpoint = clock_->Now() + options_.checkpoint_interval;
  for (;;) {
    RevokeExpired();
    if (CheckpointsOn()) {
      const Time now = clock_->Now();
      const bool due = now >= next_checkpoint;
      if (due) next_checkpoint = now + options_.checkpoint_interval;
      ProposeCheckpoints(due);
    }
    absl::MutexLock lock(&thread_mu_);
    if (thread_mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::FromChrono(options_.tick))) return;
  }
}

void Lessor::Stop() {
  {
    absl::MutexLock lock(&thread_mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  std::vector<std::function<void(RenewResult)>> waiters;
  {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
    waiters = TakeAllWaiters();
  }
  for (auto& then : waiters) then(RenewResult{RenewOutcome::kNotPrimary, 0});
}

LessorStats Lessor::Stats() const {
  absl::MutexLock lock(&mu_);
  LessorStats stats = stats_;
  stats.leases = static_cast<int64_t>(leases_.size());
  return stats;
}

}  // namespace cairn::lease
