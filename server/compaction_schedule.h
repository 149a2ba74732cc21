// When cairnd compacts on its own (etcd's --auto-compaction-mode / --auto-compaction-retention):
// the policy only, no threads and no clock of its own, so tests drive it with made-up times.
//
// Two modes, with etcd 3.4's meaning:
//  - periodic: keep about `retention` of history. The revision is sampled every step (a tenth of
//    the retention, or of an hour if the retention is longer); the first compaction comes one
//    retention after start, the later ones every min(retention, 1 h), each at the revision sampled
//    one retention ago.
//  - revision: every 5 minutes, compact to (current revision - retention) when that moved.
// Only the leader proposes (Due() says nothing otherwise), but every member keeps sampling, so a
// new leader already knows the revisions of the last retention.
//
// Thread model: not thread-safe; one owner (AutoCompactor's thread) calls everything.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace cairn::server {

struct CompactionRetention {
  enum class Mode { kOff, kPeriodic, kRevision };
  Mode mode = Mode::kOff;
  std::chrono::nanoseconds period{0};  // kPeriodic
  int64_t revisions = 0;               // kRevision
};

// Parses --auto-compaction-mode ("periodic" or "revision") and --auto-compaction-retention as etcd
// does: in periodic mode a bare integer is hours ("1" is one hour), otherwise a duration such as
// "30m" or "1h30m" (units ns, us, ms, s, m, h); in revision mode an integer count. "0" is off.
absl::StatusOr<CompactionRetention> ParseCompactionRetention(const std::string& mode, const std::string& retention);

// Human form for logs: "1h0m0s"-style durations or "N revisions".
std::string DescribeRetention(const CompactionRetention& retention);

class CompactionSchedule {
 public:
  using Clock = std::chrono::steady_clock;

  CompactionSchedule(CompactionRetention retention, Clock::time_point start);

  // How often Poll() should be called.
  Clock::duration Step() const { return step_; }

  // Called every Step(): records the current revision and says whether to compact now, and to
  // which revision. `leader`: whether this member leads (only a leader compacts).
  std::optional<int64_t> Poll(Clock::time_point now, int64_t current_revision, bool leader);

  // The outcome of compacting to `revision` (asked for by Poll). A compaction refused because the
  // revision was already compacted counts as done.
  void Done(Clock::time_point now, int64_t revision, bool ok);

 private:
  CompactionRetention retention_;
  Clock::duration step_;
  Clock::duration wait_;  // before the next compaction: the retention first, then the interval
  Clock::time_point last_success_;
  std::deque<int64_t> samples_;  // periodic: the revisions of the last retention, oldest first
  size_t samples_kept_ = 1;
  int64_t last_compacted_ = 0;
};

}  // namespace cairn::server
