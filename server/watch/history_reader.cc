#include "server/watch/history_reader.h"

#include <algorithm>
#include <limits>

#include "absl/strings/match.h"

namespace cairn::watch {

absl::Status ReadWholeRevisions(const EventHistory& history, const KeyRange& range, int64_t from_rev,
                                size_t max_events, std::vector<mvccpb::Event>* out, int64_t* next_rev) {
  size_t limit = std::max<size_t>(max_events, 1);
  for (;;) {
    out->clear();
    int64_t next = from_rev;
    absl::Status status = history.ReadEvents(range.key, range.range_end, from_rev, limit, out, &next);
    if (!status.ok()) return status;
    if (out->empty()) {
      *next_rev = std::max(next, from_rev);
      return absl::OkStatus();
    }
    if (next > out->back().kv().mod_revision()) {
      *next_rev = next;
      return absl::OkStatus();
    }
    // The history will resume inside a revision we have part of: hand out only what precedes it.
    while (!out->empty() && out->back().kv().mod_revision() >= next) out->pop_back();
    if (!out->empty()) {
      *next_rev = next;
      return absl::OkStatus();
    }
    // A single revision holds more events than we asked for; ask for more until it fits.
    if (limit > std::numeric_limits<size_t>::max() / 2) {
      return absl::InternalError("watch: event history keeps splitting one revision");
    }
    limit *= 2;
  }
}

bool IsCompactedError(const absl::Status& status) {
  return status.code() == absl::StatusCode::kOutOfRange &&
         absl::StrContains(status.message(), "required revision has been compacted");
}

}  // namespace cairn::watch
