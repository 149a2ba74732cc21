// The write path: every client write becomes a log record, is made durable, then applied.
//
//   Submit() (any gRPC thread) ──queue──▶ writer thread:
//       take every queued write (group commit) → one WAL write + one fdatasync
//       → one mvcc WriteBatch applying them in log order, with the applied index → one LMDB commit
//       → answer each waiting request
//
// There is no other way to change the store. The WAL is the durability point: the store commits
// without fsync, and Replay() re-applies whatever the store lost, which is idempotent because the
// applied index is committed in the same LMDB transaction as the data.
//
// Thread model: one writer thread owns the WAL's write side and the store's write side. Submit()
// is thread-safe; `done` callbacks run on the writer thread and must not block.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "cairnpb/internal.pb.h"
#include "etcdserverpb/rpc.pb.h"
#include "mvcc/store.h"
#include "raft/wal/wal.h"
#include "server/applier.h"

namespace cairn::server {

struct PendingWrite {
  cairnpb::LogRequest request;
  // Response of the type matching the request, owned by the caller until `done` runs.
  google::protobuf::Message* response = nullptr;
  etcdserverpb::ResponseHeader* header = nullptr;  // the response's header, stamped on success
  size_t bytes = 0;  // serialized size if the caller knows it; bounds a batch's size
  std::function<void(absl::Status)> done;
};

// Who hears about committed changes. Called on the writer thread right after each commit, in log
// order; each must be quick and must never block (the watch hub queues, the lessor updates a map).
struct PipelineObservers {
  std::function<void(const std::vector<mvccpb::Event>& events, int64_t revision)> on_events;
  std::function<void(int64_t compact_revision)> on_compacted;
  std::function<void(const LeaseChange& change)> on_lease_change;
};

class WritePipeline {
 public:
  struct Options {
    size_t max_batch = 1024;  // most writes sharing one fsync and one LMDB commit
    // LMDB caps the pages one write transaction may dirty; a batch stays far below it.
    size_t max_batch_bytes = 64 << 20;
    // How often the store is forced to disk, bounding what replay must redo after a power loss.
    std::chrono::milliseconds store_sync_interval{1000};
    uint64_t term = 1;        // the log term records carry until consensus drives it
    HeaderInfo header;
  };

  WritePipeline(wal::Wal* wal, mvcc::Store* store, Options options);
  ~WritePipeline();  // Stop()s

  // Applies the log records the store has not applied yet (index > store applied index).
  // Call once, before Start().
  absl::Status Replay(const std::vector<wal::Record>& records);

  // Set before Start(); not thread-safe.
  void SetObservers(PipelineObservers observers) { observers_ = std::move(observers); }

  void Start();
  // Finishes the batch in progress, answers every other queued write with "server stopped",
  // and joins the writer thread. Submit() after Stop() answers at once with the same error.
  void Stop();

  void Submit(PendingWrite write);

  // Highest log index written (and applied once the current batch completes).
  uint64_t LastIndex() const;
  // True while the store has refused a write for lack of space and nobody disarmed it (NOSPACE).
  bool NoSpaceAlarm() const;
  // Counters for /metrics: batches committed (one fdatasync each) and writes they carried.
  uint64_t BatchesCommitted() const { return batches_.load(std::memory_order_relaxed); }
  uint64_t WritesCommitted() const { return writes_.load(std::memory_order_relaxed); }
  void DisarmNoSpace();

 private:
  void Run();
  void ProcessBatch(std::vector<PendingWrite>& batch);
  void FinishPhysicalCompactions(bool all_done);
  // Syncs the store and deletes the log segments it now covers. Writer thread (or after it joined).
  void TrimLog();
  // Forces the store to disk if it changed since the last time; false if the sync failed.
  bool SyncStore();

  wal::Wal* const wal_;
  mvcc::Store* const store_;
  const Options options_;
  PipelineObservers observers_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<PendingWrite> queue_;
  bool stopping_ = false;
  bool started_ = false;
  std::atomic<uint64_t> last_index_{0};
  std::atomic<bool> nospace_{false};
  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> writes_{0};

  // Writer-thread state: physical compactions whose callers wait for old revisions to be gone.
  std::vector<PendingWrite> awaiting_compaction_;
  bool compaction_pending_ = false;
  std::chrono::steady_clock::time_point last_store_sync_ = std::chrono::steady_clock::now();
  uint64_t synced_index_ = 0;
  // Set when the log or the store failed: from then on every write gets this error (fail-stop).
  absl::Status broken_;

  std::thread thread_;
};

}  // namespace cairn::server
