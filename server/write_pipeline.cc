#include "server/write_pipeline.h"

#include <cstdio>
#include <utility>

#include "server/errors.h"

namespace cairn::server {
namespace {

// Compaction work done between batches is bounded so writes keep flowing during a big compaction.
constexpr size_t kCompactionSliceRevisions = 10000;
// Replay applies the recovered log in transactions of this many entries.
constexpr size_t kReplayBatch = 4096;

bool IsNoSpace(const absl::Status& s) { return s.code() == absl::StatusCode::kResourceExhausted; }

}  // namespace

WritePipeline::WritePipeline(wal::Wal* wal, mvcc::Store* store, Options options)
    : wal_(wal), store_(store), options_(options) {
  last_index_ = store_->AppliedIndex();
}

WritePipeline::~WritePipeline() { Stop(); }

absl::Status WritePipeline::Replay(const std::vector<wal::Record>& records) {
  const uint64_t applied = store_->AppliedIndex();
  uint64_t last = applied;
  size_t i = 0;
  while (i < records.size()) {
    std::unique_ptr<mvcc::WriteBatch> batch = store_->BeginWrite();
    if (batch == nullptr) return absl::UnavailableError("cairn: the store cannot start a write transaction");
    size_t in_batch = 0;
    for (; i < records.size() && in_batch < kReplayBatch; ++i) {
      const wal::Record& record = records[i];
      if (record.type != wal::RecordType::kEntry || record.index <= applied) continue;
      if (record.index != last + 1) {
        return absl::DataLossError("cairn: the log skips from index " + std::to_string(last) + " to " +
                                   std::to_string(record.index) + "; refusing to apply a log with a gap");
      }
      cairnpb::LogRequest request;
      if (!request.ParseFromString(record.payload)) {
        return absl::DataLossError("cairn: log entry " + std::to_string(record.index) + " does not decode");
      }
      // A request that failed when it was first applied fails the same way now: same store, same order.
      (void)ApplyLogRequest(batch.get(), request, nullptr);
      last = record.index;
      ++in_batch;
    }
    if (in_batch == 0) break;
    batch->SetApplied(last, options_.term);
    if (auto s = batch->Commit(); !s.ok()) return s;
  }
  last_index_ = last;
  compaction_pending_ = store_->CompactionPending();
  return absl::OkStatus();
}

void WritePipeline::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] { Run(); });
}

void WritePipeline::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  // A clean stop leaves nothing to replay: the next start is as fast as it can be.
  TrimLog();
  std::deque<PendingWrite> leftover;
  {
    std::lock_guard<std::mutex> lock(mu_);
    leftover.swap(queue_);
  }
  for (PendingWrite& w : leftover) w.done(ErrStopped());
  for (PendingWrite& w : awaiting_compaction_) w.done(ErrStopped());
  awaiting_compaction_.clear();
}

void WritePipeline::Submit(PendingWrite write) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      queue_.push_back(std::move(write));
      wake_.notify_one();
      return;
    }
  }
  write.done(ErrStopped());
}

uint64_t WritePipeline::LastIndex() const { return last_index_.load(); }
bool WritePipeline::NoSpaceAlarm() const { return nospace_.load(); }
void WritePipeline::DisarmNoSpace() { nospace_ = false; }

void WritePipeline::Run() {
  std::vector<PendingWrite> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait_for(lock, options_.store_sync_interval,
                     [&] { return stopping_ || !queue_.empty() || compaction_pending_; });
      if (stopping_) return;
      size_t bytes = 0;
      while (!queue_.empty() && batch.size() < options_.max_batch &&
             (batch.empty() || bytes + queue_.front().bytes <= options_.max_batch_bytes)) {
        bytes += queue_.front().bytes;
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (!batch.empty()) {
      ProcessBatch(batch);
      batch.clear();
      // The log rolled to a new segment: make the store durable and drop the segments it covers,
      // so the log (and start-up replay) stays about one segment long whatever the data size.
      if (wal_->stats().live_segments > 1) TrimLog();
    }
    if (std::chrono::steady_clock::now() - last_store_sync_ >= options_.store_sync_interval) {
      SyncStore();
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
  }
}

void WritePipeline::ProcessBatch(std::vector<PendingWrite>& batch) {
  if (!broken_.ok()) {
    for (PendingWrite& w : batch) w.done(broken_);
    return;
  }
  std::vector<wal::Record> records;
  records.reserve(batch.size());
  uint64_t index = last_index_.load();
  for (PendingWrite& w : batch) {
    wal::Record record;
    record.type = wal::RecordType::kEntry;
    record.term = options_.term;
    record.index = ++index;
    w.request.SerializeToString(&record.payload);
    records.push_back(std::move(record));
  }

  absl::Status logged = wal_->Write(records);
  if (logged.ok()) logged = wal_->Sync();
  if (!logged.ok()) {
    // Nothing in this batch is durable, so nothing may be applied or acknowledged. Later writes
    // would land after a hole; stop taking writes rather than risk it.
    std::fprintf(stderr, "cairnd: write-ahead log failed, refusing further writes: %s\n",
                 logged.ToString().c_str());
    broken_ = absl::UnavailableError("cairn: write-ahead log failed: " + std::string(logged.message()));
    for (PendingWrite& w : batch) w.done(broken_);
    return;
  }

  std::unique_ptr<mvcc::WriteBatch> txn = store_->BeginWrite();
  if (txn == nullptr) {
    broken_ = absl::UnavailableError("cairn: the store cannot start a write transaction");
    std::fprintf(stderr, "cairnd: %s, refusing further writes\n", std::string(broken_.message()).c_str());
    for (PendingWrite& w : batch) w.done(broken_);
    return;
  }
  std::vector<absl::Status> results;
  results.reserve(batch.size());
  std::vector<LeaseChange> lease_changes;
  for (PendingWrite& w : batch) {
    absl::Status s = ApplyLogRequest(txn.get(), w.request, w.response, &lease_changes);
    if (IsNoSpace(s)) nospace_ = true;
    results.push_back(std::move(s));
  }
  txn->SetApplied(index, options_.term);
  absl::Status committed = txn->Commit();
  if (!committed.ok()) {
    // The records are in the log, so a restart will apply them; the store is what failed.
    std::fprintf(stderr, "cairnd: store commit failed, refusing further writes: %s\n",
                 committed.ToString().c_str());
    broken_ = absl::UnavailableError("cairn: store commit failed: " + std::string(committed.message()));
    for (PendingWrite& w : batch) w.done(broken_);
    return;
  }
  last_index_ = index;
  batches_.fetch_add(1, std::memory_order_relaxed);
  // Watchers and the lessor learn of the batch before its writers are answered, so a client that
  // sees its put acknowledged can count on watchers having it queued.
  if (observers_.on_events && !txn->events().empty()) observers_.on_events(txn->events(), txn->revision());
  if (observers_.on_lease_change) {
    for (const LeaseChange& change : lease_changes) observers_.on_lease_change(change);
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (results[i].ok() && batch[i].request.has_compaction() && observers_.on_compacted) {
      observers_.on_compacted(batch[i].request.compaction().revision());
    }
  }
  writes_.fetch_add(batch.size(), std::memory_order_relaxed);

  for (size_t i = 0; i < batch.size(); ++i) {
    PendingWrite& w = batch[i];
    if (results[i].ok() && w.header != nullptr) StampHeader(options_.header, w.header);
    if (results[i].ok() && w.request.has_compaction()) {
      compaction_pending_ = true;
      if (w.request.compaction().physical()) {
        awaiting_compaction_.push_back(std::move(w));
        continue;
      }
    }
    w.done(results[i]);
  }
}

bool WritePipeline::SyncStore() {
  last_store_sync_ = std::chrono::steady_clock::now();
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
