// cairn::watch::Outbox — one client stream's responses waiting to be written, in the order they must arrive.
//
// Producers (the writer thread through the hub, the catch-up thread, the stream's own request handling) push
// items; exactly one consumer at a time pops them (the gRPC reactor's write loop, or a test). Event items hold
// a shared pointer to the batch they came from plus the indices this watcher gets, so the producer only
// copies indices: building the protobuf, dropping unwanted prev_kv and splitting into fragments happen in
// Pop(), on the consumer's thread.
//
// Flow control: TryPush refuses an item that would take the queued bytes past `buffer_bytes` (an empty outbox
// accepts anything, so one big response can always go); the hub then parks the watcher instead of waiting.
// HasRoom() tells the catch-up thread whether the consumer is keeping up; when it says no, the outbox calls
// `on_room` once the consumer has drained it below half the buffer.
//
// Waking the consumer: a push into an idle outbox (the consumer's last Pop returned false) sets *kick; the
// pusher then calls Kick() after releasing its own locks, which calls the sink's OnOutputReady(). Close()
// detaches the sink: once it returns the sink is never called again, and later pushes are dropped.
//
// Thread-safe. Lock order: the hub's lock may be held while calling TryPush/Push/HasRoom; nothing here calls
// back into the hub except `on_room`, which Pop() calls with no outbox lock held.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "etcdserverpb/rpc.pb.h"
#include "mvccpb/kv.pb.h"

namespace cairn::watch {

// Fills cluster_id, member_id and raft_term of a response header (revision is set by the watch code).
// Called on consumer threads; must be thread-safe.
using HeaderStamper = std::function<void(etcdserverpb::ResponseHeader*)>;

struct OutboxItem {
  int64_t watch_id = 0;
  int64_t header_revision = 0;
  // An event response: events `picks` of `batch`, in that order.
  std::shared_ptr<const std::vector<mvccpb::Event>> batch;
  std::vector<uint32_t> picks;
  bool with_prev_kv = false;
  bool fragment = false;  // the watcher accepts fragmented responses
  // Otherwise a control response (created, canceled, progress), complete except for its header.
  std::unique_ptr<etcdserverpb::WatchResponse> control;
  size_t bytes = 0;  // what this item counts against the buffer
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
  };

  Outbox(Options options, std::function<void()> on_room);
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  // False (item untouched) when the item does not fit under the buffer limit.
  bool TryPush(OutboxItem& item, bool* kick);
  // Queues regardless of the limit: control responses and catch-up batches (whose size the hub bounds).
  void Push(OutboxItem item, bool* kick);
  void Kick();

  // Builds the next response into *out. False when nothing is queued: the consumer is then idle and the
  // next push kicks the sink.
  bool Pop(etcdserverpb::WatchResponse* out);

  // True while the queue is below half the buffer; otherwise arranges for on_room to be called later.
  bool HasRoom();
  size_t QueuedBytes() const;

  void SetSink(OutputSink* sink);
  void Close();

 private:
  void Build(OutboxItem& item, etcdserverpb::WatchResponse* out) const;
  // Splits an oversized fragment-enabled response; returns the pieces in order (first one in *out).
  std::vector<etcdserverpb::WatchResponse> Fragment(etcdserverpb::WatchResponse* out) const;

  const Options options_;
  const std::function<void()> on_room_;

  mutable absl::Mutex mu_;
  std::deque<OutboxItem> queue_ ABSL_GUARDED_BY(mu_);
  void MergeLaterEventsLocked(OutboxItem* item) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::deque<etcdserverpb::WatchResponse> fragments_ ABSL_GUARDED_BY(mu_);  // built, not yet popped
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool consumer_active_ ABSL_GUARDED_BY(mu_) = false;
  bool wants_room_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;

  // Held while calling the sink, so Close() can wait out a call in progress.
  absl::Mutex sink_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  OutputSink* sink_ ABSL_GUARDED_BY(sink_mu_) = nullptr;
};

}  // namespace cairn::watch
