// WritePipeline: the work between rounds on the writer thread: forcing the store to disk,
// dropping log segments and in-memory entries the store covers, and slices of physical compaction.
#include <cstdio>

#include "server/write_pipeline.h"

namespace cairn::server {
namespace {

using Clock = std::chrono::steady_clock;

// Compaction work done between rounds is bounded so writes keep flowing during a big compaction.
constexpr size_t kCompactionSliceRevisions = 10000;

// Every tick or so the process lets go of the data pages it mapped (the page cache keeps them), so
// its RSS is its own memory plus what it touched in the last 100 ms, not the whole data file; a
// write burst can dirty ~100 MB in a second. The price is a minor fault on the next touch of each
// hot page, a few hundred per release.
constexpr std::chrono::milliseconds kReleaseMappedInterval{100};

}  // namespace

void WritePipeline::Housekeeping() {
  // The log rolled to a new segment: make the store durable and drop the segments it covers,
  // so the log (and start-up replay) stays about one segment long whatever the data size.
  if (wal_->stats().live_segments > 1) TrimLog();
  const Clock::time_point now = Clock::now();
  if (now - last_store_sync_ >= options_.store_sync_interval) SyncStore();
  if (now - last_mapped_release_ >= kReleaseMappedInterval) {
    last_mapped_release_ = now;
    store_->ReleaseMappedPages();
  }
  if (compaction_pending_) {
    auto done = store_->CompactStep(kCompactionSliceRevisions);
    if (!done.ok()) {
      std::fprintf(stderr, "cairnd: compaction failed: %s\n", done.status().ToString().c_str());
      compaction_pending_ = false;
      FinishPhysicalCompactions(false);
    } else if (*done) {
      compaction_pending_ = false;
      FinishPhysicalCompactions(true);
    }
  }
  CompactMemoryLog();
}

void WritePipeline::CompactMemoryLog() {
  const uint64_t applied = store_->AppliedIndex();
  auto first = storage_.FirstIndex();
  if (!first.ok() || applied < *first) return;
  // A single voter has no follower to keep entries for; a cluster keeps log_retention of them,
  // unless they grow past log_retention_bytes (large txns), when followers behind get an image.
  const uint64_t keep = single_voter_ ? 0 : options_.log_retention;
  const uint64_t byte_bound = single_voter_ ? (4u << 20) : options_.log_retention_bytes;
  const bool too_big = memory_log_bytes_ > byte_bound;
  const uint64_t slack = single_voter_ ? 1000 : keep;  // compact in steps, not every round
  if (!too_big && applied < *first + keep + slack) return;
  const uint64_t compact_to = too_big ? applied : applied - keep;
  if (compact_to < *first) return;
  cairnpb::ConfState conf;
  {
    std::lock_guard<std::mutex> lock(mu_);
    conf = membership_.conf_state();
  }
  if (!storage_.CreateSnapshot(applied, conf, std::string()).ok()) return;
  if (storage_.Compact(compact_to).ok()) {
    // Only an estimate of what stays: the entries kept are counted as their share of the total.
    const uint64_t held = *storage_.LastIndex() >= *first ? *storage_.LastIndex() - *first + 1 : 1;
    const uint64_t kept = *storage_.LastIndex() - compact_to;
    memory_log_bytes_ = memory_log_bytes_ * kept / held;
  }
}

bool WritePipeline::SyncStore() {
  last_store_sync_ = Clock::now();
  if (store_->AppliedIndex() == synced_index_) return true;
  const uint64_t applied = store_->AppliedIndex();
  if (auto s = store_->Sync(); !s.ok()) {
    std::fprintf(stderr, "cairnd: store sync failed, keeping the log: %s\n", s.ToString().c_str());
    return false;
  }
  synced_index_ = applied;
  return true;
}

void WritePipeline::TrimLog() {
  if (!broken_.ok()) return;
  const uint64_t applied = store_->AppliedIndex();
  if (!SyncStore()) return;
  if (auto s = wal_->ReleaseBefore(applied + 1); !s.ok()) {
    std::fprintf(stderr, "cairnd: releasing old log segments failed: %s\n", s.ToString().c_str());
  }
}

void WritePipeline::FinishPhysicalCompactions(bool all_done) {
  for (PendingWrite& w : awaiting_compaction_) {
    w.done(all_done ? absl::OkStatus() : absl::InternalError("cairn: compaction did not complete"));
  }
  awaiting_compaction_.clear();
}

}  // namespace cairn::server
