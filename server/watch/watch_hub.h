// cairn::watch::WatchHub — fans committed events out to watchers, never letting a slow reader hold back the
// writer or anyone else.
//
// A watcher is either synced (it has every event up to the last published revision queued, and receives new
// events as the writer publishes them) or unsynced (it still needs events from history: a new watcher on a
// past revision, or one parked because its stream's outbox was full). The hub's catch-up thread reads history
// for unsynced watchers whose stream has room, in batches, and moves a watcher to synced in the same critical
// section in which it sees that nothing published is missing. Each watcher therefore gets every event with
// revision >= its start revision exactly once and in revision order, or a compaction cancel.
//
// Ownership and lifetime: the hub is created before and destroyed after every WatchStream it hands out (the
// service finishes its streams and gRPC waits for them before the member destroys the hub). `history` must
// outlive the hub. Shutdown() stops the catch-up thread; afterwards Publish/Compacted do nothing and streams
// only answer control requests.
//
// Threads: Publish/Compacted are called by the single writer thread; stream methods by gRPC threads; the hub
// runs one catch-up thread (history reads, progress notifications). Publish never waits for a reader: it
// takes the hub lock (held briefly by everyone, never across I/O) and appends indices to bounded outboxes.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "etcdserverpb/rpc.pb.h"
#include "mvccpb/kv.pb.h"
#include "server/watch/event_history.h"
#include "server/watch/key_range.h"
#include "server/watch/outbox.h"
#include "server/watch/wake_timer.h"

namespace cairn::watch {

// etcd's wire values.
inline constexpr int64_t kInvalidWatchId = -1;           // progress-request answers and refused creates
inline constexpr char kErrDuplicateWatchId[] = "mvcc: duplicate watch ID provided on the WatchStream";
inline constexpr char kErrEmptyWatcherRange[] = "mvcc: watcher range is empty";

struct HubOptions {
  // Bytes of responses a stream may have queued before its watchers are parked.
  size_t stream_buffer_bytes = 4 << 20;
  // A response bigger than this is split for watchers that asked for fragments (etcd: max request bytes plus
  // gRPC overhead, 1.5 MiB + 512 KiB by default).
  size_t max_response_bytes = (3 << 19) + (1 << 19);
  // Events read from history per catch-up read (a revision is never split across responses).
  size_t catchup_batch_events = 1000;
  // Watchers served per catch-up round before the thread looks at everything else again.
  size_t catchup_watchers_per_round = 64;
  // How often watchers that asked for progress_notify hear the current revision when idle (etcd: 10 min).
  absl::Duration progress_notify_interval = absl::Minutes(10);
  // After a round of at least `paced_round_responses` event responses, a stream starts its next round of
  // events no sooner than this (see Outbox): under a steady stream of commits fanned out to many watchers,
  // each watcher gets one response per interval with all its events since, instead of one per commit. It
  // bounds the delay it adds; small rounds and events after a quiet interval go at once. Zero disables it.
  absl::Duration min_round_interval = absl::Milliseconds(40);
  size_t paced_round_responses = 32;
  // A held round starts early once no commit reached the stream for max(this, 4 x the recent gap between
  // commits): the end of a burst is not kept waiting for the interval.
  absl::Duration min_quiet = absl::Milliseconds(5);
  // Publish/Compacted only queue their batch; the hub's fan-out thread matches it against the watchers and
  // fills the outboxes. Matching 1000 watchers costs ~150 us per commit, which otherwise sits on the writer's
  // path before every put is answered. Batches queued while the thread is busy are fanned out together.
  // Publish blocks only while `max_queued_publications` are waiting (the fan-out itself never waits on
  // readers). false: Publish does the fan-out on the caller's thread.
  bool async_publish = true;
  size_t max_queued_publications = 1024;
};

class WatchHub;
struct Watcher;

// One client stream's view of the hub: its watchers and its outbox. Created by WatchHub::OpenStream. All
// methods are thread-safe. Responses come out of Pop() in the order the client must see them: a watcher's
// created response before its events, its events in revision order, its cancel response last.
class WatchStream : public std::enable_shared_from_this<WatchStream> {
 public:
  ~WatchStream();  // Close()s
  WatchStream(const WatchStream&) = delete;
  WatchStream& operator=(const WatchStream&) = delete;

  // etcd's create: always answered, with created=true and the watch id, or with created=true, canceled=true,
  // watch_id=-1 and a cancel_reason (duplicate id, empty range).
  void Create(const etcdserverpb::WatchCreateRequest& request);
  // Answers a create refused before it reached the hub (auth) the way a refused create is answered:
  // created=true, canceled=true, watch_id=-1, cancel_reason=`reason`.
  void Refuse(const std::string& reason);
  // Answered with canceled=true if the watcher exists, or if it was cancelled by a compaction and not
  // cancelled since (etcd keeps such an id in use until then); an unknown id is ignored, as etcd does.
  void Cancel(int64_t watch_id);
  // Answered with watch_id=-1 and the revision every watcher of this stream is known to have caught up to;
  // while some watcher is still catching up the answer waits for it (so the revision is never a lie).
  void RequestProgress();

  bool Pop(WireResponse* out) { return outbox_.Pop(out); }
  bool Pop(WireResponse* out, bool* more_ready) { return outbox_.Pop(out, more_ready); }  // see Outbox::Pop
  bool Pop(etcdserverpb::WatchResponse* out) { return outbox_.Pop(out); }  // decoded (tests)
  size_t QueuedBytes() const { return outbox_.QueuedBytes(); }
  // The sink is told when output arrives while the consumer is idle (see Outbox).
  void SetSink(OutputSink* sink) { outbox_.SetSink(sink); }

  // Removes every watcher and detaches the sink. Idempotent. After it returns no sink call is made.
  void Close();

 private:
  friend class WatchHub;
  WatchStream(WatchHub* hub, Outbox::Options options);
  void RequestProgressNow();

  WatchHub* const hub_;
  Outbox outbox_;
  // Guarded by hub_->mu_.
  absl::flat_hash_map<int64_t, std::shared_ptr<Watcher>> watchers_;
  absl::flat_hash_set<Watcher*> unsynced_;
  // Ids of watchers a compaction cancelled. etcd 3.4 keeps them in use until the client cancels them or the
  // stream ends: a create naming one is a duplicate, the server's own ids skip them, and a cancel of one is
  // answered. Cleared by Cancel.
  absl::flat_hash_set<int64_t> compacted_ids_;
  int64_t next_auto_id_ = 0;
  bool progress_requested_ = false;
  bool closed_ = false;
  // Publish's scratch: this batch's items for the stream, who they are for, what the outbox took.
  struct PendingPiece {
    Watcher* watcher;
    int64_t resume_rev;  // where the watcher resumes if this piece is refused
  };
  std::vector<OutboxItem> publish_items_;
  std::vector<PendingPiece> publish_pieces_;
  std::vector<uint8_t> publish_accepted_;
};

class WatchHub {
 public:
  // Starts the catch-up thread. `history` must outlive the hub; `stamper` fills header identity fields.
  WatchHub(const EventHistory* history, HeaderStamper stamper, HubOptions options = {});
  ~WatchHub();  // Shutdown()s; every stream must be closed already
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // Writer thread, after each commit: the batch's events in revision order (kv.mod_revision = the event's
  // revision, prev_kv filled when a previous version exists) and the store revision after the batch. Never
  // blocks on readers. With async_publish (the default) the events move into the fan-out queue and
  // reach the outboxes shortly after this returns, in publication order; a progress request made after it
  // returns is answered only once they have.
  void Publish(std::vector<mvccpb::Event> events, int64_t revision_after_batch);
  // Any thread, without locking: whether a batch applied now has a synced watcher to give its events to.
  // The writer asks before each batch and, when no, applies it without building its events and then calls
  // PublishWithoutEvents. The answer may be out of date by the time of that call: that is safe, see below.
  bool WantsEvents() const { return synced_watchers_.load(std::memory_order_acquire) > 0; }
  // Writer thread, in place of Publish for a batch committed without its events. A watcher synced by then
  // that lacks some of the batch's revisions (it became synced after WantsEvents answered) goes back to
  // catch-up, which reads them from the store's history: the batch is committed before this is called.
  void PublishWithoutEvents(int64_t revision_after_batch);
  // Writer thread, when a compaction is applied: watchers that still need older revisions are cancelled with
  // compact_revision set. Queued behind earlier publications like Publish.
  void Compacted(int64_t compact_revision);
  // Blocks until everything published so far has been fanned out to the outboxes (tests; owners that need
  // the hub current). Returns at once after Shutdown.
  void WaitUntilPublished();

  std::shared_ptr<WatchStream> OpenStream();

  // Stops the catch-up and fan-out threads (publications still queued are dropped) and ignores later
  // Publish/Compacted calls. Idempotent.
  void Shutdown();

  size_t stream_buffer_bytes() const { return options_.stream_buffer_bytes; }

  // For tests and metrics.
  size_t WatcherCount() const;
  size_t UnsyncedWatcherCount() const;

 private:
  friend class WatchStream;
  struct CatchupJob;
  // Streams whose consumer must be woken once the hub lock is released.
  using Kicks = std::vector<std::shared_ptr<WatchStream>>;

  // What the fan-out thread does, in order.
  struct Publication {
    enum class Kind { kEvents, kWithoutEvents, kCompacted, kProgress } kind = Kind::kEvents;
    std::vector<mvccpb::Event> events;
    int64_t revision = 0;               // revision after the batch, or the compaction revision
    std::weak_ptr<WatchStream> stream;  // kProgress: whose request
  };

  void CatchupLoop();
  void FanOutLoop();
  void Enqueue(Publication publication);
  // Publish's short cut, taken when the fan-out thread would have nothing to do but record the revision:
  // records it and returns true. Lock order: queue_mu_, then mu_ (nothing takes them the other way).
  bool RecordIfNothingToFanOut(int64_t revision_after_batch);
  // False if nothing is queued or being fanned out (the progress request may be answered now); otherwise
  // queues it behind the publications.
  bool DeferProgressRequest(const std::shared_ptr<WatchStream>& stream);
  void PublishNow(const std::vector<mvccpb::Event>& events, int64_t revision_after_batch);
  void PublishWithoutEventsNow(int64_t revision_after_batch);
  void CompactedNow(int64_t compact_revision);
  std::vector<CatchupJob> PickCatchupJobs(Kicks* kicks) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RunCatchupJob(CatchupJob& job);
  // True if some watcher moved forward (or ended).
  bool ApplyCatchupResult(CatchupJob& job, Kicks* kicks) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SendProgressNotifications(Kicks* kicks) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SignalCatchup();
  void Park(Watcher* w, int64_t first_unsent_revision) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddKick(WatchStream* stream, Kicks* kicks) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  void CreateWatcher(WatchStream* stream, const etcdserverpb::WatchCreateRequest& request, Kicks* kicks)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool HasSyncedWatchers() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !synced_keys_.empty() || !synced_ranges_.empty();
  }
  void AddSynced(Watcher* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveSynced(Watcher* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MarkUnsynced(Watcher* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MarkSynced(Watcher* w, Kicks* kicks) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Unlinks the watcher from every index and from its stream (frees its id).
  void RemoveWatcher(Watcher* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CancelCompacted(Watcher* w, int64_t compact_revision, Kicks* kicks) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AnswerProgressIfCaughtUp(WatchStream* stream, Kicks* kicks) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PushControl(WatchStream* stream, std::unique_ptr<etcdserverpb::WatchResponse> response,
                   int64_t header_revision, Kicks* kicks) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The answer to a refused create: created=true, canceled=true, watch_id=-1, cancel_reason=`reason`.
  void PushRefusal(WatchStream* stream, const std::string& reason, int64_t header_revision, Kicks* kicks)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void RunKicks(const Kicks& kicks);

  const EventHistory* const history_;
  const HeaderStamper stamper_;
  const HubOptions options_;

  mutable absl::Mutex mu_;
  absl::CondVar catchup_cv_;
  bool catchup_signal_ ABSL_GUARDED_BY(mu_) = false;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  int64_t last_published_ ABSL_GUARDED_BY(mu_) = 0;  // every synced watcher has events <= this queued
  int64_t compacted_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_set<WatchStream*> streams_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<WatchStream*> streams_with_unsynced_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, absl::flat_hash_set<Watcher*>> synced_keys_ ABSL_GUARDED_BY(mu_);
  // Range watchers grouped by (key, range_end): fan-out usually means many watchers of the same prefix, and
  // Publish then tests each event against each distinct range once, not once per watcher.
  absl::flat_hash_map<std::pair<std::string, std::string>, absl::flat_hash_set<Watcher*>> synced_ranges_
      ABSL_GUARDED_BY(mu_);
  size_t watcher_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<size_t> synced_watchers_{0};  // written under mu_ (AddSynced/RemoveSynced), read by WantsEvents
  size_t unsynced_count_ ABSL_GUARDED_BY(mu_) = 0;

  size_t round_robin_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Watcher*> publish_scratch_ ABSL_GUARDED_BY(mu_);  // reused so Publish does not allocate
  std::vector<WatchStream*> publish_streams_ ABSL_GUARDED_BY(mu_);

  std::thread catchup_thread_;
  WakeTimer wake_timer_;  // paced rounds of every stream's outbox

  // The fan-out queue. Never held together with mu_.
  absl::Mutex queue_mu_;
  absl::CondVar queue_cv_;  // work queued, room made, queue drained, or stopping
  std::deque<Publication> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool fanning_out_ ABSL_GUARDED_BY(queue_mu_) = false;  // the thread holds publications taken off queue_
  bool queue_stopped_ ABSL_GUARDED_BY(queue_mu_) = false;
  std::thread fan_out_thread_;
};

}  // namespace cairn::watch
