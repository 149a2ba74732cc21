// cairn::watch::ReadWholeRevisions — one catch-up read that never ends in the middle of a revision.
//
// EventHistory may stop a read part-way through a revision; a watcher must not be told it has caught up to a
// revision of which it only got some events (its response header and its resume point would both be wrong).
// This helper drops a trailing partial revision and continues from it next time, asking for more events when
// a single revision is bigger than the batch. Stateless; thread-safe as the history is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "mvccpb/kv.pb.h"
#include "server/watch/event_history.h"
#include "server/watch/key_range.h"

namespace cairn::watch {

// Replaces *out with whole revisions of events in `range` from `from_rev` (about `max_events` of them) and sets
// *next_rev to the first revision not returned (> from_rev whenever history has revisions past from_rev).
// Errors are the history's (OutOfRange compacted, or an I/O problem).
absl::Status ReadWholeRevisions(const EventHistory& history, const KeyRange& range, int64_t from_rev,
                                size_t max_events, std::vector<mvccpb::Event>* out, int64_t* next_rev);

// True for the store's "required revision has been compacted" error.
bool IsCompactedError(const absl::Status& status);

}  // namespace cairn::watch
