#include "server/compaction_schedule.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace cairn::server {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

constexpr int kStepsPerInterval = 10;
constexpr minutes kRevisionModeInterval{5};

}  // namespace

absl::StatusOr<CompactionRetention> ParseCompactionRetention(const std::string& mode, const std::string& retention) {
  if (mode != "periodic" && mode != "revision") {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid value \"", mode, "\" for --auto-compaction-mode (periodic or revision)"));
  }
  CompactionRetention parsed;
  int64_t count = 0;
  if (absl::SimpleAtoi(retention, &count) && count >= 0) {
    if (count == 0) return parsed;  // off
    if (mode == "revision") {
      parsed.mode = CompactionRetention::Mode::kRevision;
      parsed.revisions = count;
    } else {
      parsed.mode = CompactionRetention::Mode::kPeriodic;
      parsed.period = hours(count);
    }
    return parsed;
  }
  absl::Duration d;
  if (mode == "revision" || !absl::ParseDuration(retention, &d) || d < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid value \"", retention, "\" for --auto-compaction-retention (",
        mode == "revision" ? "a number of revisions" : "hours, or a duration such as 30m", ")"));
  }
  if (d == absl::ZeroDuration()) return parsed;
  parsed.mode = CompactionRetention::Mode::kPeriodic;
  parsed.period = absl::ToChronoNanoseconds(d);
  return parsed;
}

std::string DescribeRetention(const CompactionRetention& retention) {
  switch (retention.mode) {
    case CompactionRetention::Mode::kOff:
      return "off";
    case CompactionRetention::Mode::kRevision:
      return absl::StrCat(retention.revisions, " revisions");
    case CompactionRetention::Mode::kPeriodic:
      return absl::FormatDuration(absl::FromChrono(retention.period));
  }
  return "";
}

CompactionSchedule::CompactionSchedule(CompactionRetention retention, Clock::time_point start)
    : retention_(retention), last_success_(start) {
  if (retention_.mode == CompactionRetention::Mode::kPeriodic) {
    const Clock::duration period = std::chrono::duration_cast<Clock::duration>(retention_.period);
    const Clock::duration interval = std::min<Clock::duration>(period, hours(1));
    step_ = std::max<Clock::duration>(interval / kStepsPerInterval, std::chrono::milliseconds(1));
    samples_kept_ = static_cast<size_t>(period / step_) + 1;
    wait_ = period;
  } else {
    step_ = kRevisionModeInterval;
    wait_ = kRevisionModeInterval;
  }
}

std::optional<int64_t> CompactionSchedule::Poll(Clock::time_point now, int64_t current_revision, bool leader) {
  switch (retention_.mode) {
    case CompactionRetention::Mode::kOff:
      return std::nullopt;
    case CompactionRetention::Mode::kRevision: {
      const int64_t target = current_revision - retention_.revisions;
      if (!leader || target <= 0 || target == last_compacted_) return std::nullopt;
      return target;
    }
    case CompactionRetention::Mode::kPeriodic:
      break;
  }
  samples_.push_back(current_revision);
  if (samples_.size() > samples_kept_) samples_.pop_front();
  if (!leader || now - last_success_ < wait_) return std::nullopt;
  // The oldest sample is the revision of about one retention ago. Nothing written since the last
  // compaction (or ever: revision 1 has nothing before it): nothing to propose, where etcd would
  // log a compaction that changes nothing.
  const int64_t target = samples_.front();
  if (target <= last_compacted_ || target <= 1) {
    last_success_ = now;
    wait_ = std::min<Clock::duration>(std::chrono::duration_cast<Clock::duration>(retention_.period), hours(1));
    return std::nullopt;
  }
  return target;
}

void CompactionSchedule::Done(Clock::time_point now, int64_t revision, bool ok) {
  if (!ok) return;  // the next Poll tries again, a step later
  last_compacted_ = std::max(last_compacted_, revision);
  last_success_ = now;
  if (retention_.mode == CompactionRetention::Mode::kPeriodic) {
    wait_ = std::min<Clock::duration>(std::chrono::duration_cast<Clock::duration>(retention_.period), hours(1));
  }
}

}  // namespace cairn::server
