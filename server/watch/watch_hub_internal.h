// Internal to the watch hub (watch_hub.cc, watch_hub_catchup.cc): one watcher's state, a
// catch-up read, and cutting a watcher's events into responses. Not for use outside server/watch.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "server/watch/encoded_events.h"
#include "server/watch/key_range.h"
#include "server/watch/outbox.h"
#include "server/watch/watch_hub.h"

namespace cairn::watch {

// One watcher. Identity fields are fixed at creation; the rest is guarded by the hub's lock.
struct Watcher {
  WatchStream* stream = nullptr;
  int64_t id = 0;
  KeyRange range;
  bool no_put = false;
  bool no_delete = false;
  bool prev_kv = false;
  bool progress_notify = false;
  bool fragment = false;

  // The first revision this watcher has not been given yet (events below it are queued or filtered).
  int64_t next_rev = 0;
  bool synced = false;
  bool reading = false;  // a catch-up read for it is in flight
  bool removed = false;  // cancelled, compacted or its stream closed; late results are dropped
  bool events_since_tick = false;
  std::vector<uint32_t> picks;  // Publish's scratch: this batch's events for it (empty between calls)

  bool Wants(const mvccpb::Event& event) const {
    if (event.kv().mod_revision() < next_rev) return false;
    if (event.type() == mvccpb::Event::PUT) return !no_put;
    return !no_delete;
  }
};

struct WatchHub::CatchupJob {
  KeyRange range;
  int64_t from_rev = 0;
  std::vector<std::shared_ptr<Watcher>> watchers;
  absl::Status status;
  std::vector<mvccpb::Event> events;
  std::shared_ptr<const EncodedBatch> encoded;  // the same events in wire form
  int64_t next_rev = 0;
};

namespace hub_detail {

// Part of one watcher's events that goes out as one response.
struct Piece {
  absl::InlinedVector<EventRun, 1> runs;
  size_t bytes = 0;
  int64_t last_rev = 0;
};

// Cuts a watcher's events into responses of about `max_bytes`, only between revisions, so that a catch-up
// batch or a large write batch does not become one response bigger than clients accept.
absl::InlinedVector<Piece, 1> CutAtRevisions(const EncodedBatch& batch, const std::vector<uint32_t>& picks,
                                             bool prev_kv, size_t max_bytes);

// The outbox item carrying `piece` of `batch` to watcher `w`.
OutboxItem EventItem(const Watcher& w, const std::shared_ptr<const EncodedBatch>& batch, Piece& piece,
                     int64_t header_revision);

}  // namespace hub_detail
}  // namespace cairn::watch
