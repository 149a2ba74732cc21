// The watch hub's catch-up thread: reads history for watchers that start in the past or were
// parked, hands them back to the synced set, and sends progress notifications (watch_hub.h).
#include <algorithm>
#include <map>
#include <string>
#include <tuple>
#include <utility>

#include "server/watch/history_reader.h"
#include "server/watch/watch_hub.h"
#include "server/watch/watch_hub_internal.h"

namespace cairn::watch {
namespace {

// The periodic wake-up of an idle catch-up thread (a safety net: work always signals).
constexpr absl::Duration kIdleRecheck = absl::Seconds(1);

}  // namespace

using hub_detail::CutAtRevisions;
using hub_detail::EventItem;
using hub_detail::Piece;

void WatchHub::CatchupLoop() {
  absl::Time next_tick = absl::Now() + options_.progress_notify_interval;
  for (;;) {
    std::vector<CatchupJob> jobs;
    Kicks kicks;
    {
      absl::MutexLock lock(&mu_);
      // The periodic wake-up is a safety net only: every state change that creates work signals.
      const absl::Time deadline = std::min(next_tick, absl::Now() + kIdleRecheck);
      while (!shutdown_ && !catchup_signal_ && absl::Now() < deadline) {
        catchup_cv_.WaitWithDeadline(&mu_, deadline);
      }
      if (shutdown_) return;
      if (absl::Now() >= next_tick) {
        SendProgressNotifications(&kicks);
        next_tick = absl::Now() + options_.progress_notify_interval;
      }
      catchup_signal_ = false;
      jobs = PickCatchupJobs(&kicks);
    }
    RunKicks(kicks);
    kicks.clear();
    if (jobs.empty()) continue;

    for (CatchupJob& job : jobs) RunCatchupJob(job);

    {
      absl::MutexLock lock(&mu_);
      bool progressed = false;
      for (CatchupJob& job : jobs) progressed |= ApplyCatchupResult(job, &kicks);
      // Others may be waiting behind this round's budget; a round that moved nobody forward does not spin.
      if (progressed) catchup_signal_ = true;
    }
    RunKicks(kicks);
  }
}

std::vector<WatchHub::CatchupJob> WatchHub::PickCatchupJobs(Kicks* kicks) {
  constexpr size_t kMaxWatchersPerStream = 16;
  std::vector<CatchupJob> jobs;
  if (streams_with_unsynced_.empty()) return jobs;

  // Start at a different stream each round so one busy stream cannot starve the others.
  std::vector<WatchStream*> streams(streams_with_unsynced_.begin(), streams_with_unsynced_.end());
  const size_t start = round_robin_++ % streams.size();
  std::rotate(streams.begin(), streams.begin() + static_cast<std::ptrdiff_t>(start), streams.end());

  // Watchers wanting the same keys from the same revision share one read.
  std::map<std::tuple<std::string, std::string, int64_t>, size_t> job_of;
  std::vector<Watcher*> compacted;
  size_t budget = options_.catchup_watchers_per_round;
  for (WatchStream* stream : streams) {
    if (budget == 0) break;
    if (!stream->outbox_.HasRoom()) continue;  // the outbox calls back once drained
    size_t taken = 0;
    for (Watcher* w : stream->unsynced_) {
      if (budget == 0 || taken == kMaxWatchersPerStream) break;
      if (w->reading) continue;
      if (w->next_rev < compacted_) {
        compacted.push_back(w);
        continue;
      }
      auto key = std::make_tuple(w->range.key, w->range.range_end, w->next_rev);
      auto [it, inserted] = job_of.emplace(key, jobs.size());
      if (inserted) {
        CatchupJob job;
        job.range = w->range;
        job.from_rev = w->next_rev;
        jobs.push_back(std::move(job));
      }
      jobs[it->second].watchers.push_back(w->stream->watchers_.at(w->id));
      w->reading = true;
      --budget;
      ++taken;
    }
  }
  for (Watcher* w : compacted) CancelCompacted(w, compacted_, kicks);
  return jobs;
}

void WatchHub::RunCatchupJob(CatchupJob& job) {
  job.status = ReadWholeRevisions(*history_, job.range, job.from_rev, options_.catchup_batch_events,
                                  &job.events, &job.next_rev);
  if (!job.status.ok() || job.events.empty()) return;
  EncodedBatch::Needs needs;
  for (const auto& w : job.watchers) (w->prev_kv ? needs.with_prev_kv : needs.without_prev_kv) = true;
  job.encoded = EncodedBatch::Encode(job.events, needs);
}

bool WatchHub::ApplyCatchupResult(CatchupJob& job, Kicks* kicks) {
  bool progressed_any = false;
  const std::vector<mvccpb::Event>& events = job.events;
  for (const std::shared_ptr<Watcher>& watcher : job.watchers) {
    Watcher* w = watcher.get();
    if (w->removed) continue;
    w->reading = false;
    if (!job.status.ok()) {
      if (IsCompactedError(job.status)) {
        CancelCompacted(w, std::max(compacted_, history_->CompactedRevision()), kicks);
      } else {
        // History is unreadable for this watcher: end it with the reason rather than retry forever.
        WatchStream* stream = w->stream;
        const int64_t id = w->id;
        RemoveWatcher(w);
        auto response = std::make_unique<etcdserverpb::WatchResponse>();
        response->set_watch_id(id);
        response->set_canceled(true);
        response->set_cancel_reason(std::string(job.status.message()));
        PushControl(stream, std::move(response), last_published_, kicks);
        AnswerProgressIfCaughtUp(stream, kicks);
      }
      progressed_any = true;
      continue;
    }

    std::vector<uint32_t> wanted;
    for (uint32_t i = 0; i < events.size(); ++i) {
      if (w->Wants(events[i])) wanted.push_back(i);
    }
    if (!wanted.empty()) {
      absl::InlinedVector<Piece, 1> pieces =
          CutAtRevisions(*job.encoded, wanted, w->prev_kv, options_.max_response_bytes);
      for (size_t p = 0; p < pieces.size(); ++p) {
        OutboxItem item = EventItem(*w, job.encoded, pieces[p],
                                    p + 1 == pieces.size() ? job.next_rev - 1 : pieces[p].last_rev);
        bool kick = false;
        w->stream->outbox_.Push(std::move(item), &kick);
        if (kick) AddKick(w->stream, kicks);
      }
      w->events_since_tick = true;
    }
    progressed_any |= job.next_rev > w->next_rev;
    w->next_rev = std::max(w->next_rev, job.next_rev);
    if (w->next_rev > last_published_) MarkSynced(w, kicks);
  }
  return progressed_any;
}

void WatchHub::SendProgressNotifications(Kicks* kicks) {
  for (WatchStream* stream : streams_) {
    for (auto& [id, w] : stream->watchers_) {
      if (!w->progress_notify) continue;
      // Only a synced watcher can truthfully be told "nothing up to last_published_ is missing".
      if (w->synced && !w->events_since_tick) {
        auto response = std::make_unique<etcdserverpb::WatchResponse>();
        response->set_watch_id(id);
        PushControl(stream, std::move(response), last_published_, kicks);
      }
      w->events_since_tick = false;
    }
  }
}

}  // namespace cairn::watch
