#include "server/auto_compactor.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "mvcc/errors.h"

namespace cairn::server {

AutoCompactor::AutoCompactor(CompactionRetention retention, AutoCompactorHooks hooks)
    : retention_(retention), hooks_(std::move(hooks)) {
  if (!hooks_.log) hooks_.log = [](const std::string& line) { std::fprintf(stderr, "cairnd: %s\n", line.c_str()); };
}

AutoCompactor::~AutoCompactor() { Stop(); }

void AutoCompactor::Start() {
  if (retention_.mode == CompactionRetention::Mode::kOff || thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

void AutoCompactor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void AutoCompactor::Run() {
  using Clock = CompactionSchedule::Clock;
  CompactionSchedule schedule(retention_, Clock::now());
  const std::string described = DescribeRetention(retention_);
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    const std::optional<int64_t> due = schedule.Poll(Clock::now(), hooks_.current_revision(), hooks_.is_leader());
    if (due.has_value()) {
      hooks_.log(absl::StrCat("auto-compaction at revision ", *due, " (retention ", described, ")"));
      const absl::Status s = hooks_.compact(*due);
      // Already compacted that far (by a client, or before a leader change): nothing left to do.
      const bool done = s.ok() || s.message() == mvcc::ErrCompacted().message();
      if (!done && s.code() != absl::StatusCode::kCancelled) {
        hooks_.log(absl::StrCat("auto-compaction at revision ", *due, " failed, retrying: ", s.ToString()));
      }
      schedule.Done(Clock::now(), *due, done);
    }
    lock.lock();
    wake_.wait_for(lock, schedule.Step(), [this] { return stopping_; });
  }
}

}  // namespace cairn::server
