// AutoCompactor: the thread that runs a CompactionSchedule (server/compaction_schedule.h) and
// proposes its compactions through the log, as a client's Compact would be.
//
// Thread model: one thread of its own, started by Start() only when auto-compaction is on. It
// sleeps a schedule step at a time, asks the schedule, and when due compacts through `compact`,
// which blocks until the proposal is answered (the pipeline answers every proposal: at the latest
// after its request timeout, or with "server stopped"). Stop() wakes and joins it; calling it
// after the pipeline stopped keeps the join short. The callbacks it is given must be thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "server/compaction_schedule.h"

namespace cairn::server {

struct AutoCompactorHooks {
  std::function<int64_t()> current_revision;
  std::function<bool()> is_leader;
  // Proposes a compaction to `revision` and returns its outcome once answered.
  std::function<absl::Status(int64_t revision)> compact;
  // One line for the operator ("auto-compaction at revision ..."); stderr by default.
  std::function<void(const std::string&)> log;
};

class AutoCompactor {
 public:
  AutoCompactor(CompactionRetention retention, AutoCompactorHooks hooks);
  ~AutoCompactor();  // Stop()s

  void Start();
  void Stop();  // idempotent

 private:
  void Run();

  const CompactionRetention retention_;
  AutoCompactorHooks hooks_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace cairn::server
