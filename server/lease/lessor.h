// cairn::lease::Lessor — the in-memory side of leases: which leases exist, when each expires, and
// the decision to revoke the expired ones. The durable side (lease records, lease→key attachments,
// deleting keys on revoke) is the store's, changed only through the log.
//
//   client Grant/Revoke ──▶ LeaseService ──proposer──▶ log ──▶ applier ──▶ store
//                                                                  └──▶ OnGranted / OnRevoked (here)
//   keep-alive ──▶ Renew(): memory only (a mutex and a map update), never the log
//   expiry thread ──▶ RevokeExpired(): expired leases ──proposer──▶ LeaseRevoke through the log
//
// Primary: only the primary lessor (the Raft leader's; on one node, always after Promote) tracks
// expiry, renews and revokes. A non-primary lessor knows the leases but they never expire there; a
// member becoming primary calls Promote(extend), which gives every lease a fresh full TTL plus
// `extend` from now — so neither a restart nor an election expires a fleet whose keep-alives were
// interrupted by it. Demote() forgets all deadlines.
//
// Checkpoints (etcd's --experimental-enable-lease-checkpoint; off unless checkpoint_interval > 0):
// the fresh full TTL lets a long lease live forever if leaders change more often than its TTL. So
// the primary, every checkpoint_interval, proposes the remaining TTL of every lease with more than
// one interval left (LeaseCheckpoint, at most 1000 leases per log entry). The store keeps the last
// checkpointed value with the lease and every member's lessor learns it (OnCheckpoint); Promote and
// Recover then start such a lease from its checkpointed remaining TTL instead of its full TTL, so a
// leader change or restart extends it by at most one interval (plus `extend`). A renewal restores the
// full TTL, so renewing a lease that has a checkpoint also proposes a checkpoint of 0 (clearing it),
// from the expiry thread's next pass.
//
// Expiry: each lease has one entry in a min-queue ordered by a time no later than its deadline; the
// expiry pass pops due entries, re-queues the ones renewed since (so a renewal only touches the
// lease itself), and proposes LeaseRevoke for the expired ones, at most `revoke_rate` per second
// (token bucket, burst of half a second's worth). An expired lease stays until its revoke is
// applied; if that has not happened `revoke_retry` later (proposal failed, lost, or still queued) it
// is proposed again. An expired lease cannot be renewed: Renew reports kRevoking, and AwaitRevoke
// tells the caller when the revoke landed (or the lessor stopped being primary).
//
// Thread model: every public method is thread-safe. One mutex guards the state and is never held
// while calling the proposer or a caller's callback. OnGranted/OnRevoked are cheap and never block
// (the writer thread calls them). Callbacks given to AwaitRevoke run on the thread of the event
// that settles them (writer thread, Demote/Stop caller, or inline).
//
// Lifetime: the proposer's done callbacks refer to the lessor: stop whatever runs proposals (the
// write pipeline answers all pending ones when it stops) before destroying the lessor.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <queue>
#include <random>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cairnpb/internal.pb.h"
#include "etcdserverpb/rpc.pb.h"
#include "google/protobuf/message.h"
#include "server/lease/clock.h"
#include "server/lease/lease_records.h"

namespace cairn::lease {

// Hands a request to the log (in cairnd: WritePipeline::Submit). `response` (of the type matching
// the request) and `header` (its header) belong to the caller and stay valid until `done` runs;
// `done` runs exactly once, possibly inline, with the apply result.
using Proposer = std::function<void(cairnpb::LogRequest request, google::protobuf::Message* response,
                                    etcdserverpb::ResponseHeader* header, std::function<void(absl::Status)> done)>;

// etcd's largest TTL (seconds); a grant above it fails with ErrLeaseTtlTooLarge.
inline constexpr int64_t kMaxLeaseTtl = 9'000'000'000;

struct LessorOptions {
  // The minimum TTL is ceil(1.5 × election timeout) in seconds (2 s for etcd's default 1000 ms):
  // a lease must survive a leader election.
  std::chrono::milliseconds election_timeout{1000};
  int revoke_rate = 1000;                        // most revoke proposals per second
  std::chrono::milliseconds revoke_retry{3000};  // re-propose an expired lease not revoked by then
  std::chrono::milliseconds tick{100};           // how often the expiry thread looks
  // 0: no checkpoints. Otherwise how often the primary checkpoints remaining TTLs (etcd: 5 minutes).
  std::chrono::milliseconds checkpoint_interval{0};
  const Clock* clock = nullptr;                  // null: Clock::Steady()
};

enum class RenewOutcome {
  kRenewed,     // ttl holds the lease's granted TTL
  kNotFound,    // no such lease (or it has been revoked)
  kRevoking,    // expired; its revoke is under way. See AwaitRevoke.
  kNotPrimary,  // this lessor does not manage expiry; ask the leader
};

struct RenewResult {
  RenewOutcome outcome = RenewOutcome::kNotFound;
  int64_t ttl = 0;
};

struct LeaseInfo {
  int64_t id = 0;
  int64_t granted_ttl = 0;    // seconds
  int64_t remaining_ttl = 0;  // whole seconds left, truncated toward zero (etcd's rounding)
};

struct LessorStats {
  int64_t leases = 0;
  int64_t renewals = 0;
  int64_t revokes_proposed = 0;  // expiry revokes, retries included
  int64_t revokes_failed = 0;    // expiry revokes the log refused
  int64_t checkpoints_proposed = 0;  // leases carried by proposed LeaseCheckpoint entries
};

class Lessor {
 public:
  Lessor(LessorOptions options, Proposer proposer);
  ~Lessor();  // Stop()s
  Lessor(const Lessor&) = delete;
  Lessor& operator=(const Lessor&) = delete;

  // --- Grant-time rules (the service applies them before proposing, so the log holds the result).
  int64_t MinTtl() const { return min_ttl_; }
  // The TTL to grant for a requested one: ErrLeaseTtlTooLarge above kMaxLeaseTtl, raised to MinTtl().
  absl::StatusOr<int64_t> GrantTtl(int64_t requested) const;
  // A random positive ID that no live lease has (collisions with concurrent, not yet applied grants
  // are left to chance: 1 in 2^63).
  int64_t PickUnusedId();
  bool Exists(int64_t id) const;

  // --- Apply hooks: call after the batch that applied the grant/revoke committed, before its
  // clients are answered. Never block. A repeated OnGranted updates the TTL.
  void OnGranted(int64_t id, int64_t ttl);
  void OnRevoked(int64_t id);
  // A LeaseCheckpoint applied: `remaining_ttl` seconds were left (0 clears the checkpoint).
  void OnCheckpoint(int64_t id, int64_t remaining_ttl);

  // --- Start-up and leadership.
  // Replaces the known leases with the store's: at start-up after the log replay, or after
  // installing a snapshot. Not primary: no deadlines until Promote; primary: a full TTL from now.
  // Pending AwaitRevoke callers get kNotPrimary.
  absl::Status Recover(const LeaseRecords& records);
  // Becomes primary: every lease expires TTL + `extend` from now, spread so that no more than 3/4 of
  // revoke_rate fall due in any one second (a mass expiry would otherwise queue behind the rate limit).
  void Promote(Clock::Duration extend);
  // Stops being primary: no deadlines, nothing revoked, pending AwaitRevoke callers get kNotPrimary.
  void Demote();
  bool IsPrimary() const;

  // --- Client operations.
  // The keep-alive path: one lock, one map lookup, one store.
  RenewResult Renew(int64_t id);
  // For a lease Renew reported kRevoking: calls `then` once with kNotFound when the lease is gone,
  // or kNotPrimary if this lessor is demoted or stopped first. Calls it at once if already settled
  // (lease gone, or renewable again after a Promote: then with Renew's result).
  void AwaitRevoke(int64_t id, std::function<void(RenewResult)> then);
  std::optional<LeaseInfo> Lookup(int64_t id) const;
  // Live lease IDs, soonest to expire first.
  std::vector<int64_t> Leases() const;

  // --- Expiry.
  // Starts the thread that calls RevokeExpired every `tick`. Tests may instead call RevokeExpired.
  void Start();
  // Joins the expiry thread; pending AwaitRevoke callers get kNotPrimary. Idempotent.
  void Stop();
  // One expiry pass: proposes LeaseRevoke for expired leases within the rate limit. Returns how many.
  size_t RevokeExpired();
  // One checkpoint pass (the expiry thread runs it every checkpoint_interval, and clears renewed
  // leases' checkpoints on every tick): proposes LeaseCheckpoint entries. Returns how many leases
  // they carry. Does nothing unless primary with checkpoints on. `due`: also checkpoint the leases
  // with more than one interval left (false: only clear the renewed ones).
  size_t ProposeCheckpoints(bool due);

  LessorStats Stats() const;

 private:
  using Time = Clock::Time;
  static constexpr Time kNever = Time::max();

  struct Lease {
    int64_t ttl = 0;
    Time expiry = kNever;
    Time queued_at = kNever;  // time of this lease's live entry in queue_; kNever if none
    int64_t checkpointed = 0;  // remaining TTL (s) of the last applied checkpoint; 0 when none
    std::vector<std::function<void(RenewResult)>> waiters;  // AwaitRevoke callers
  };
  struct QueueEntry {
    Time time;
    int64_t id;
    bool operator>(const QueueEntry& o) const { return time > o.time; }
  };

  void Enqueue(int64_t id, Lease& lease, Time at) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RebuildQueue() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SpreadExpiries() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<std::function<void(RenewResult)>> TakeAllWaiters() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  RenewResult RenewLocked(int64_t id, Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ProposeRevoke(int64_t id);
  // The TTL a lease starts from when this lessor becomes primary or recovers: its checkpointed
  // remaining TTL when checkpoints are on and it has one, else its full TTL.
  int64_t StartingTtl(const Lease& lease) const {
    return CheckpointsOn() && lease.checkpointed > 0 ? std::min(lease.checkpointed, lease.ttl) : lease.ttl;
  }
  bool CheckpointsOn() const { return options_.checkpoint_interval.count() > 0; }
  void ProposeCheckpointBatch(std::vector<std::pair<int64_t, int64_t>> checkpoints);
  void RunExpiryLoop();

  const LessorOptions options_;
  const Clock* const clock_;
  const Proposer proposer_;
  const int64_t min_ttl_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<int64_t, Lease> leases_ ABSL_GUARDED_BY(mu_);
  std::priority_queue<QueueEntry, std::vector<QueueEntry>, std::greater<QueueEntry>> queue_ ABSL_GUARDED_BY(mu_);
  bool primary_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  double revoke_tokens_ ABSL_GUARDED_BY(mu_) = 0;
  Time tokens_at_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 random_ ABSL_GUARDED_BY(mu_);
  LessorStats stats_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> checkpoints_to_clear_ ABSL_GUARDED_BY(mu_);  // renewed since their checkpoint

  absl::Mutex thread_mu_;
  bool stopping_ ABSL_GUARDED_BY(thread_mu_) = false;
  std::thread thread_;
};

}  // namespace cairn::lease
