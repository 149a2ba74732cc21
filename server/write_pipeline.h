// The write path: every change to the store is a raft log entry, made durable, committed by a
// quorum and applied in log order. One member or five, there is no other way to change the store.
//
//   Submit() (any gRPC thread) ──queue──▶ writer thread, which drives the raft node:
//       proposals → raft → entries + hard state written to the WAL, one fdatasync per round
//       → messages to peers (after the sync) → committed entries applied in one LMDB commit
//       (with the applied index) → observers → the waiting requests answered
//
// Peers' messages come in through Step(); outgoing ones leave through Hooks::send. The store is
// the state machine and also the snapshot: it commits without fsync, is force-synced every
// store_sync_interval, and only then are WAL segments it covers deleted; a restart resumes the log
// from its applied index (RecoverLog).
//
// Reads: on a cluster of one voter that leads and has applied an entry of its own term, the local
// store is linearizable (LocalReadsLinearizable). Otherwise ReadBarrier() confirms leadership with a
// quorum (raft ReadIndex) and waits until that index is applied.
//
// Thread model: rounds run one at a time under driver_mu_, which guards the raft node, the WAL's
// write side and the store's write side. The writer thread runs rounds for ticks, peers' messages
// and anything queued; a thread calling Submit() while no round runs runs the round itself (so an
// idle member answers without a thread hop), and keeps going while writes are queued.
// A write's `done` runs on the thread that ran its round, just after that thread releases the
// round: another round (with its fdatasync) can then start while the replies go out. Observers,
// hooks and the other callbacks run inside the round. None may block; they may Submit() again.
// Submit/Step/Report*/ReadBarrier and the accessors are thread-safe.
//
// Implementation files: write_pipeline.cc (recovery, submission, the round: propose, persist,
// answer), write_pipeline_apply.cc (applying committed entries), write_pipeline_control.cc (membership changes, leadership transfers, read
// barriers), write_pipeline_install.cc (store images), write_pipeline_housekeeping.cc (store
// syncs, log trimming, compaction slices between rounds).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "cairnpb/internal.pb.h"
#include "cairnpb/raft.pb.h"
#include "etcdserverpb/rpc.pb.h"
#include "mvcc/store.h"
#include "raft/memory_storage.h"
#include "raft/raw_node.h"
#include "raft/wal/wal.h"
#include "server/alarms.h"
#include "server/applier.h"
#include "server/metrics/registry.h"
#include "server/reconfig_rules.h"

namespace cairn::server {

struct PendingWrite {
  cairnpb::LogRequest request;
  // Response of the type matching the request, owned by the caller until `done` runs.
  google::protobuf::Message* response = nullptr;
  etcdserverpb::ResponseHeader* header = nullptr;  // the response's header, stamped on success
  size_t bytes = 0;  // serialized size if the caller knows it; bounds a batch's size
  // A decision only the leader may take (the lessor's expiry revokes and checkpoints): proposed only
  // while this member leads, stamped with its term (LogRequest.leader_term), and applied only from
  // an entry of that term. Otherwise it fails with "etcdserver: not leader" and changes nothing.
  bool leader_only = false;
  std::function<void(absl::Status)> done;
};

// Who hears about committed changes. Called on the writer thread right after each commit, in log
// order; each must be quick and must never block (the watch hub queues, the lessor updates a map).
struct PipelineObservers {
  // Asked before each batch is applied: whether anyone wants its events now (the watch hub: is any
  // watcher synced). When it says no, the batch is applied without building them. Unset: always.
  std::function<bool()> wants_events;
  // A batch that changed keys: its events in revision order if they were `built`, else none.
  std::function<void(std::vector<mvccpb::Event>&& events, bool built, int64_t revision)> on_events;
  std::function<void(int64_t compact_revision)> on_compacted;
  std::function<void(const LeaseChange& change)> on_lease_change;
  // The auth state (users, roles, the auth switch) changed in the batch just committed.
  std::function<void()> on_auth_changed;
};

// How the pipeline reaches the rest of the member. Writer thread; must not block.
struct PipelineHooks {
  // Raft messages for peers, after what they depend on is durable. Delivery is best effort.
  std::function<void(std::vector<cairnpb::Message>)> send;
  // The membership after a change was applied (and once from Start() with the current one).
  std::function<void(const cairnpb::Membership&)> on_membership;
  // true once this member leads and has applied an entry of its own term (it knows every committed
  // lease and key); false when it stops leading.
  std::function<void(bool)> on_leadership;
  // The store was replaced by a leader's image; `previous_revision` is the revision it had before.
  // Whoever keeps state derived from the store rebuilds it here.
  std::function<void(int64_t previous_revision)> on_store_replaced;
};

class WritePipeline {
 public:
  struct Options {
    size_t max_batch = 1024;  // most proposals taken from the queue per round
    // LMDB caps the pages one write transaction may dirty; a batch stays far below it.
    size_t max_batch_bytes = 64 << 20;
    // How often the store is forced to disk, bounding what replay must redo after a power loss.
    std::chrono::milliseconds store_sync_interval{1000};
    HeaderInfo header;  // cluster and member IDs; the raft term comes from the pipeline
    std::chrono::milliseconds tick{100};  // --heartbeat-interval
    int election_ticks = 10;              // --election-timeout / --heartbeat-interval
    // Applied entries kept in memory for followers that fall behind, beyond which they need a
    // store image instead.
    uint64_t log_retention = 5000;
    // ... but no more than this many bytes of them (large txns): beyond, followers get an image.
    uint64_t log_retention_bytes = 64 << 20;
    // A proposal or read not settled by then fails with "etcdserver: request timed out".
    std::chrono::milliseconds request_timeout{7000};
    // The members of a new cluster (--initial-cluster, --initial-cluster-state new); empty when
    // joining an existing one.
    std::vector<cairnpb::MemberRecord> founders;
    // This member's own record, published through the log once it has joined.
    cairnpb::MemberRecord self;
    // --force-new-cluster on an existing data directory: Recover() makes this member the only one
    // of its cluster (server/force_new_cluster.h).
    bool force_new_cluster = false;
    // Timed once per round when set (etcd_disk_wal_fsync_duration_seconds and
    // etcd_disk_backend_commit_duration_seconds); owned by the member's metrics registry.
    metrics::Histogram* wal_fsync_seconds = nullptr;
    metrics::Histogram* backend_commit_seconds = nullptr;
  };

  WritePipeline(wal::Wal* wal, mvcc::Store* store, Options options);
  ~WritePipeline();  // Stop()s

  // Rebuilds the raft state from the WAL records and the store, applies the committed entries the
  // store has not applied yet, and creates the raft node. Call once, before Start(). With
  // Options::force_new_cluster it then drops the uncommitted entries and logs, syncs and applies
  // the changes that leave this member alone (FailedPrecondition if the data directory holds no
  // membership to recover from).
  absl::Status Recover(const std::vector<wal::Record>& records);

  // Set before Start(); not thread-safe.
  void SetObservers(PipelineObservers observers) { observers_ = std::move(observers); }
  void SetHooks(PipelineHooks hooks) { hooks_ = std::move(hooks); }

  void Start();
  // Finishes the round in progress, answers every other queued write with "server stopped",
  // and joins the writer thread. Submit() after Stop() answers at once with the same error.
  void Stop();

  void Submit(PendingWrite write);
  // Submits `request` and blocks until it is answered (see Submit: at the latest after the request
  // timeout, or "server stopped"); `response`, of the request's type, is filled on success. For the
  // member's own threads only (server/wait_for_outcome.h says which threads must not wait).
  absl::Status ProposeAndWait(cairnpb::LogRequest request, google::protobuf::Message* response);
  // A raft message from a peer; a peer the transport could not reach; a snapshot send's outcome.
  void Step(cairnpb::Message message);
  void ReportUnreachable(uint64_t peer);
  void ReportSnapshot(uint64_t peer, bool ok);

  // Snapshots (a follower too far behind for the in-memory log). The leader's side: writes a store
  // image for `message` (a MSG_SNAPSHOT) into `dir` and returns its path; any thread. The
  // follower's side: replaces the store with the received image, then hands the message to raft;
  // blocks until the writer thread has done so. Not on the writer thread.
  absl::StatusOr<std::string> WriteSnapshotImage(const cairnpb::Message& message, const std::string& dir) const;
  absl::Status InstallSnapshot(const cairnpb::Message& message, const std::string& image_path);

  // Proposes a membership change. `done` runs once, on the thread running a round: OK once the
  // change is applied here; "etcdserver: request timed out" if it is not applied within the
  // request timeout (a leader turns a change it cannot accept yet into an empty entry); raft's
  // refusal (one change at a time); "server stopped".
  void ProposeConfChange(cairnpb::ConfChange change, std::function<void(absl::Status)> done);

  // Hands leadership to `target` (a voter) when this member leads. `done` runs once, on the thread
  // running a round: OK when `target` leads, "etcdserver: not leader" if this member does not
  // lead, "...leader transfer took too long" after the request timeout, "server stopped".
  void TransferLeadership(uint64_t target, std::function<void(absl::Status)> done);

  // Calls `done` (possibly inline) once a read of the local store would be linearizable: OK, or
  // "etcdserver: request timed out" / "server stopped".
  void ReadBarrier(std::function<void(absl::Status)> done);
  bool LocalReadsLinearizable() const { return local_reads_.load(std::memory_order_acquire); }

  uint64_t Leader() const { return leader_.load(std::memory_order_acquire); }
  uint64_t Term() const { return term_.load(std::memory_order_acquire); }
  const std::atomic<uint64_t>* TermSource() const { return &term_; }
  uint64_t CommitIndex() const { return commit_.load(std::memory_order_acquire); }
  // Highest log index written (applied once the current round completes).
  uint64_t LastIndex() const { return last_index_.load(std::memory_order_acquire); }
  cairnpb::Membership Membership() const;
  // What this member knows of its peers, for the membership-change rules (server/reconfig_rules.h):
  // per peer, when it last heard a raft message from it and when the current run of contact began
  // (a silence longer than the election timeout starts a new run), updated in every round that
  // steps peers' messages; whether it leads, and (when leading) raft's match per member and its own
  // last index, updated on tick rounds and once a membership change is applied. A copy, taken
  // under peer_view_mu_; any thread.
  PeerView PeerActivity() const;

  // The replicated alarms (server/alarms.h) as of the entries applied here. The pipeline owns the
  // set: it applies LogRequest.alarm entries, writes the set in the same store transaction, loads
  // it at recovery and after an image install, and refuses what AlarmGate refuses when applying.
  // ActiveAlarms() is one atomic load (the write paths' gate); Alarms() copies the set.
  uint32_t ActiveAlarms() const { return alarm_mask_.load(std::memory_order_acquire); }
  AlarmSet Alarms() const;
  bool NoSpaceAlarm() const { return (ActiveAlarms() & AlarmBit(etcdserverpb::NOSPACE)) != 0; }
  bool CorruptAlarm() const { return (ActiveAlarms() & AlarmBit(etcdserverpb::CORRUPT)) != 0; }
  // Proposes ACTIVATE NOSPACE for this member, as etcd's quota check does, unless the set already
  // holds it or such a proposal is in flight (so a burst of refused writes makes one entry).
  // `done` (may be empty) runs once that proposal settles, or at once when none was made. The
  // pipeline also calls it after a commit that leaves the store deep into its headroom
  // (Store::NearMapLimit).
  void RaiseNoSpace(std::function<void()> done);
  // Counters for /metrics: log rounds written (one fdatasync each at most) and writes applied.
  uint64_t BatchesCommitted() const { return batches_.load(std::memory_order_relaxed); }
  uint64_t WritesCommitted() const { return writes_.load(std::memory_order_relaxed); }
  // For etcd's server metrics: leaders seen (a change to a known leader), proposals answered with an
  // error by the pipeline itself (timed out, no leader in time, stopped, broken), proposals waiting to
  // be applied (as of the last round), applied batches that took over 100 ms.
  uint64_t LeaderChanges() const { return leader_changes_.load(std::memory_order_relaxed); }
  uint64_t ProposalsFailed() const { return proposals_failed_.load(std::memory_order_relaxed); }
  uint64_t ProposalsPending() const { return proposals_pending_.load(std::memory_order_relaxed); }
  uint64_t SlowApplies() const { return slow_applies_.load(std::memory_order_relaxed); }

 private:
  struct Waiting {
    PendingWrite write;
    std::chrono::steady_clock::time_point deadline;
  };
  struct ReadRound {
    std::vector<std::function<void(absl::Status)>> waiters;
    std::chrono::steady_clock::time_point deadline;
  };

  struct PendingConfChange {
    cairnpb::ConfChange change;
    std::chrono::steady_clock::time_point deadline;
    std::function<void(absl::Status)> done;
  };
  struct Transfer {
    uint64_t target = 0;
    std::chrono::steady_clock::time_point deadline;
    std::function<void(absl::Status)> done;
  };
  struct Install {
    cairnpb::Message message;
    std::string path;
    std::function<void(absl::Status)> done;
  };

  // Writes applied in a round, answered by whoever ran it after releasing driver_mu_.
  using Answers = std::vector<std::pair<std::function<void(absl::Status)>, absl::Status>>;
  Answers TakeAnswers();          // driver_mu_ held
  static void Deliver(Answers& answers);  // driver_mu_ not held

  void Run();
  // --force-new-cluster, in Recover() after the committed entries were applied: appends, syncs and
  // applies the entries that leave this member alone; `hard_state` gets their last index as commit.
  // false in *forced when this member already was alone (nothing written).
  absl::Status ForceStandalone(cairnpb::HardState* hard_state, bool* forced);
  // One round: takes what is queued, steps raft, persists, sends, applies, answers. driver_mu_ held.
  void RunRound(bool tick, std::chrono::steady_clock::time_point now);
  // Log trimming, store sync, compaction slices, in-memory log compaction. Writer thread.
  void Housekeeping();
  absl::Status DoInstall(const Install& install);
  // Queues `item` for the next round and wakes the writer thread; false (item untouched) once stopping.
  template <typename T>
  bool QueueForRound(std::vector<T>* queue, T& item);
  void Propose(PendingWrite& write, std::chrono::steady_clock::time_point now);
  // Hands the write to raft, or keeps it until there is a leader (or its deadline passes).
  void ProposeOrWait(Waiting waiting);
  void RetryWritesWithoutLeader(std::chrono::steady_clock::time_point now);
  // Asks the leader for a read index for these waiters; without a leader they wait for one.
  void StartReadRound(ReadRound round);
  void HandleReadies();
  void Persist(raft::Ready& rd);  // moves rd.entries into the storage
  // Applies committed entries in one store transaction; answers their waiting writers.
  void ApplyEntries(const std::vector<cairnpb::Entry>& entries);
  void ServeReads();
  // Answers leadership transfers whose target now leads or whose time is up.
  void SettleTransfers(std::chrono::steady_clock::time_point now);
  void ExpireWaiters(std::chrono::steady_clock::time_point now);
  void CompactMemoryLog();
  void SetLeaderReady(bool ready);
  void FinishPhysicalCompactions(bool all_done);
  void Fail(const std::string& what, const absl::Status& status);
  // Answers every write and membership change waiting on raft with `status`.
  void AnswerWaitingWrites(const absl::Status& status);
  // Syncs the store and deletes the log segments it now covers. Writer thread (or after it joined).
  void TrimLog();
  // Forces the store to disk if it changed since the last time; false if the sync failed.
  bool SyncStore();
  // Reads auth_revision_ from the store (after recovery and image installs) or `batch`.
  absl::Status LoadAuthRevision(mvcc::WriteBatch* batch = nullptr);
  // ApplyLogRequest, except that a write the active alarms refuse fails (AlarmGate), a write
  // checked at an auth revision older than the store's fails with ErrAuthOldRevision (etcd's rule:
  // its permissions may no longer hold), and an alarm request changes alarms_ (setting
  // *alarms_changed), and a leader-only request from an entry of another term than the one it was
  // proposed in fails with "etcdserver: not leader". Depends only on the log: same on every member.
  absl::Status ApplyChecked(mvcc::WriteBatch* batch, const cairnpb::LogRequest& request, uint64_t entry_term,
                            google::protobuf::Message* response, std::vector<LeaseChange>* lease_changes,
                            bool* alarms_changed);
  // Reads alarms_ from the store (recovery, image installs) and publishes it.
  absl::Status LoadAlarms();
  void PublishAlarms();
  // The peer-activity snapshot (PeerActivity): contact from this round's inbox; raft progress.
  void RecordContact(const std::vector<cairnpb::Message>& inbox, std::chrono::steady_clock::time_point now);
  void PublishProgress();
  // Proposes this member's name and client URLs until the applied membership records them (after
  // applying, and on tick rounds: a member that joined from a store image may apply nothing more).
  void PublishSelfIfNeeded(std::chrono::steady_clock::time_point now);

  wal::Wal* const wal_;
  mvcc::Store* const store_;
  const Options options_;
  PipelineObservers observers_;
  PipelineHooks hooks_;

  // Held by whichever thread runs a round: the writer thread, or a thread that submitted a write
  // while no round was running (flat combining). Everything "writer-thread state" below is
  // guarded by it. Taken before mu_, never the other way round.
  std::mutex driver_mu_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<PendingWrite> queue_;
  std::vector<cairnpb::Message> inbox_;
  std::vector<std::pair<uint64_t, int>> reports_;  // (peer, 0 unreachable / 1 snapshot ok / 2 failed)
  std::vector<std::function<void(absl::Status)>> read_queue_;
  std::vector<Install> installs_;
  std::vector<Transfer> transfer_queue_;
  std::vector<PendingConfChange> conf_queue_;
  cairnpb::Membership membership_;  // writer thread writes (under mu_), anyone reads under mu_
  bool stopping_ = false;
  bool started_ = false;

  std::atomic<uint64_t> last_index_{0};
  std::atomic<uint64_t> leader_{0};
  std::atomic<uint64_t> term_{0};
  std::atomic<uint64_t> commit_{0};
  std::atomic<bool> local_reads_{false};
  std::atomic<uint32_t> alarm_mask_{0};        // alarms_.ActiveMask(), published
  std::atomic<bool> nospace_raise_in_flight_{false};
  mutable std::mutex alarms_mu_;                // guards published_alarms_ (never held with others)
  mutable std::mutex peer_view_mu_;             // guards peer_view_ (never held with others)
  PeerView peer_view_;                          // written by the round's driver
  AlarmSet published_alarms_;
  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> writes_{0};
  std::atomic<uint64_t> leader_changes_{0};
  std::atomic<uint64_t> proposals_failed_{0};
  std::atomic<uint64_t> proposals_pending_{0};
  std::atomic<uint64_t> slow_applies_{0};

  // Writer-thread state.
  raft::MemoryStorage storage_;
  std::unique_ptr<raft::RawNode> node_;
  uint64_t next_proposal_id_ = 0;
  std::unordered_map<uint64_t, Waiting> proposed_;   // by proposal id
  std::vector<Waiting> writes_without_leader_;       // proposed again once a leader is known
  uint64_t next_read_id_ = 0;
  std::map<std::string, ReadRound> read_rounds_;     // by read context, awaiting the leader's answer
  std::multimap<uint64_t, ReadRound> reads_to_apply_;  // by read index, awaiting the apply
  std::vector<ReadRound> reads_without_leader_;
  std::vector<Transfer> transfers_;  // started, waiting for the target to lead
  std::vector<PendingConfChange> conf_changes_;  // proposed, waiting to be applied
  bool is_leader_ = false;
  bool leader_ready_ = false;
  bool single_voter_ = false;
  std::string pending_hard_state_;  // a commit-only hard state change, written with the next round
  bool has_pending_hard_state_ = false;
  std::vector<PendingWrite> awaiting_compaction_;
  Answers answers_;  // applied writes not yet answered (driver_mu_)
  std::atomic<bool> compaction_pending_{false};
  std::chrono::steady_clock::time_point last_store_sync_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_mapped_release_ = std::chrono::steady_clock::now();
  uint64_t synced_index_ = 0;
  bool published_self_ = false;  // this member's name and client URLs are in the applied membership
  std::chrono::steady_clock::time_point last_publish_attempt_{};
  // The store's auth revision as of the entries applied so far: KV writes checked against an
  // older one are refused when applied (LogRequest.auth_revision).
  uint64_t auth_revision_ = 0;
  AlarmSet alarms_;  // as of the entries applied so far (published after each commit)
  uint64_t memory_log_bytes_ = 0;  // approximate size of the entries held in storage_
  absl::Status broken_;

  std::thread thread_;
};

template <typename T>
bool WritePipeline::QueueForRound(std::vector<T>* queue, T& item) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return false;
  queue->push_back(std::move(item));
  wake_.notify_one();
  return true;
}

}  // namespace cairn::server
