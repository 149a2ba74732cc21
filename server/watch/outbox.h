// cairn::watch::Outbox — one client stream's responses waiting to be written, in the order they must arrive.
//
// Producers (the writer thread through the hub, the catch-up thread, the stream's own request handling) push
// items; exactly one consumer at a time pops them (the gRPC reactor's write loop, or a test). Event items hold
// a shared pointer to the encoded batch they came from plus the runs of events this watcher gets, so the
// producer only copies indices. Pop() turns them into a WireResponse on the consumer's thread: a small
// per-watcher prefix followed by slices of the batch's shared bytes (nothing per event is copied or built),
// split into fragments when the watcher asked for them.
//
// Batching: an event item pushed while the same watcher's last queued item is an event item still waiting
// joins that item (up to max_response_bytes), and Pop() also sends, with the item at the front, the later
// event items of its watcher (never past a control response of that watcher). So a watcher that fell behind
// catches up in one response, and a backlog costs one queue entry per watcher rather than one per commit.
// Each item is linked to the next item of its watcher, so nothing is scanned.
//
// Flow control: TryPush refuses an item that would take the queued bytes past `buffer_bytes` (an empty outbox
// accepts anything, so one big response can always go); the hub then parks the watcher instead of waiting.
// HasRoom() tells the catch-up thread whether the consumer is keeping up; when it says no, the outbox calls
// `on_room` once the consumer has drained it below half the buffer.
//
// Pacing (Options::min_round_interval > 0): the consumer sends in rounds; a round covers what was queued when
// it began. After a big round (at least `paced_round_responses` event responses: many watchers got events),
// the next round that starts with events does not begin sooner than the interval after the previous one.
// Under a steady stream of commits fanned out to many watchers, each watcher therefore gets one response per
// interval holding every commit since, instead of one small response per commit: fewer writes for the same
// events, which is what keeps fan-out cheap. Small rounds (few watchers with events) and the first events
// after a quiet interval go at once, and control responses are never held back (only queued behind held
// events). A held round also starts early once pushes stop for a while (a few times their recent gap, at
// least min_quiet): the end of a burst is not kept waiting. While a round is held back Pop() returns false,
// and the outbox asks its wake scheduler to call Wake() when the round may start.
//
// Waking the consumer: a push into an idle outbox (the consumer's last Pop returned false) sets *kick; the
// pusher then calls Kick() after releasing its own locks, which calls the sink's OnOutputReady(). Close()
// detaches the sink: once it returns the sink is never called again, and later pushes are dropped.
//
// Thread-safe. Lock order: the hub's lock may be held while calling TryPush/Push/HasRoom; nothing here calls
// back into the hub except `on_room`, which Pop() calls with no outbox lock held.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/synchronization/mutex.h"
#include "etcdserverpb/rpc.pb.h"
#include "server/watch/encoded_events.h"
#include "server/watch/wire_response.h"

namespace cairn::watch {

// Fills cluster_id, member_id and raft_term of a response header (revision is set by the watch code).
// Called on consumer threads; must be thread-safe.
using HeaderStamper = std::function<void(etcdserverpb::ResponseHeader*)>;

// Events [begin, end) of a batch.
struct EventRun {
  uint32_t begin = 0;
  uint32_t end = 0;
};

// Events [begin, end) of `batch` (kept alive by the item that holds the span).
struct EventSpan {
  const EncodedBatch* batch = nullptr;
  uint32_t begin = 0;
  uint32_t end = 0;
};

struct OutboxItem {
  int64_t watch_id = 0;
  int64_t header_revision = 0;
  // An event response: these spans, in order; `batches` holds every batch they point into.
  absl::InlinedVector<EventSpan, 2> spans;
  absl::InlinedVector<std::shared_ptr<const EncodedBatch>, 1> batches;
  bool with_prev_kv = false;
  bool fragment = false;  // the watcher accepts fragmented responses
  // Otherwise a control response (created, canceled, progress), complete except for its header.
  std::unique_ptr<etcdserverpb::WatchResponse> control;
  size_t bytes = 0;  // what this item counts against the buffer

  // Appends the events [begin, end) of `batch` (does not touch `bytes`).
  void AddEvents(const std::shared_ptr<const EncodedBatch>& batch, uint32_t begin, uint32_t end);
};

class OutputSink {
 public:
  virtual ~OutputSink() = default;
  // Output became available while the consumer was idle. Called with no outbox lock held; may call Pop().
  virtual void OnOutputReady() = 0;
};

class Outbox {
 public:
  struct Options {
    size_t buffer_bytes = 4 << 20;
    size_t max_response_bytes = 2 << 20;  // fragment threshold for watchers that asked for fragments
    HeaderStamper stamper;                // may be empty (tests)
    // 0 = no pacing. Pacing also needs a wake scheduler (SetWakeScheduler).
    std::chrono::steady_clock::duration min_round_interval{0};
    size_t paced_round_responses = 32;
    // A held round also starts once no push came for max(min_quiet, 4 x the recent gap between pushes).
    std::chrono::steady_clock::duration min_quiet{std::chrono::milliseconds(5)};
  };
  using WakeScheduler = std::function<void(std::chrono::steady_clock::time_point)>;

  Outbox(Options options, std::function<void()> on_room);
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  // False (item untouched) when the item does not fit under the buffer limit.
  bool TryPush(OutboxItem& item, bool* kick);
  // TryPush of each item in order under one lock, except that once an item of some watch id is refused, that
  // id's later items are refused too. (*accepted)[i] says whether items[i] was taken (moved from).
  void TryPushAll(std::vector<OutboxItem>& items, std::vector<uint8_t>* accepted, bool* kick);
  // Queues regardless of the limit: control responses and catch-up batches (whose size the hub bounds).
  void Push(OutboxItem item, bool* kick);
  void Kick();
  // Called by the wake scheduler at the time it was asked for: kicks the consumer if it is idle.
  void Wake();
  // Where paced rounds ask to be woken; must be set before the first push to be used. The scheduler is called
  // with the outbox lock held and must not call back into the outbox.
  void SetWakeScheduler(WakeScheduler scheduler);

  // Builds the next response into *out. False when nothing is queued: the consumer is then idle and the
  // next push kicks the sink.
  bool Pop(WireResponse* out);
  // The same; *more_ready says whether the next Pop is sure to return a response at once (another response of
  // the round in progress, a fragment or a control response is queued), so the consumer may let its transport
  // buffer this one instead of flushing it. Never set for a control response itself. It is only a hint: false
  // may still be followed by a response.
  bool Pop(WireResponse* out, bool* more_ready);
  // The same, decoded (tests).
  bool Pop(etcdserverpb::WatchResponse* out);

  // True while the queue is below half the buffer; otherwise arranges for on_room to be called later.
  bool HasRoom();
  size_t QueuedBytes() const;

  void SetSink(OutputSink* sink);
  void Close();

 private:
  // A queued item. `next` is the next queued item of the same watch id; `taken` marks an item already sent
  // with an earlier one (it leaves the queue when it reaches the front).
  struct Slot {
    OutboxItem item;
    uint64_t seq = 0;  // push order
    Slot* next = nullptr;
    bool taken = false;
  };

  void Enqueue(OutboxItem item) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // True if event item `later` may be sent in the same response as `earlier` (same watcher assumed).
  bool CanJoin(const OutboxItem& earlier, const OutboxItem& later) const;
  static void Join(OutboxItem* earlier, OutboxItem&& later);
  // Moves the front item, joined by the later event items of its watcher that may go with it, into *taken.
  void TakeFrontLocked(OutboxItem* taken) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // False when the front item must wait for the next paced round (a wake-up is then scheduled).
  bool FrontMayGoLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // True if the next Pop will return a response without waiting for a round or a push (see Pop).
  bool NextReadyLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Marks the consumer busy if it was idle and no paced wake-up is pending; true if it must be kicked.
  bool ClaimConsumerLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NotePushLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Builds the response for *taken into *out; pieces after the first (fragments) into *rest.
  void Build(OutboxItem& taken, WireResponse* out, std::vector<WireResponse>* rest) const;
  void BuildWhole(const OutboxItem& taken, const etcdserverpb::ResponseHeader& header, size_t prefix_bytes,
                  WireResponse* out) const;
  etcdserverpb::ResponseHeader Header(int64_t revision) const;

  const Options options_;
  const std::function<void()> on_room_;

  mutable absl::Mutex mu_;
  std::deque<Slot> queue_ ABSL_GUARDED_BY(mu_);  // deque: slots never move while others come and go
  absl::flat_hash_map<int64_t, Slot*> last_of_watcher_ ABSL_GUARDED_BY(mu_);
  std::deque<WireResponse> fragments_ ABSL_GUARDED_BY(mu_);  // built, not yet popped
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t round_end_seq_ ABSL_GUARDED_BY(mu_) = 0;  // items below it belong to the current round
  std::chrono::steady_clock::time_point round_started_ ABSL_GUARDED_BY(mu_);
  size_t round_responses_ ABSL_GUARDED_BY(mu_) = 0;  // event responses sent in the current round
  std::chrono::steady_clock::time_point last_push_ ABSL_GUARDED_BY(mu_);
  std::chrono::steady_clock::duration push_gap_ ABSL_GUARDED_BY(mu_){0};  // moving average
  bool wake_scheduled_ ABSL_GUARDED_BY(mu_) = false;
  WakeScheduler wake_scheduler_ ABSL_GUARDED_BY(mu_);
  bool consumer_active_ ABSL_GUARDED_BY(mu_) = false;
  bool wants_room_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;

  // Held while calling the sink, so Close() can wait out a call in progress.
  absl::Mutex sink_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  OutputSink* sink_ ABSL_GUARDED_BY(sink_mu_) = nullptr;
};

}  // namespace cairn::watch
