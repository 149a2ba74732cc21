// Append + fdatasync throughput of the WAL with 1 and 64 concurrent writers.
//
// Each iteration is one Append() of one ~100-byte entry, acknowledged only once durable. With many
// writers, group commit shares one fdatasync among everyone queued: watch syncs_per_record fall.
// The log lives under $CAIRN_WAL_BENCH_DIR (default /tmp): put it on the disk you want to measure,
// not on tmpfs, where fdatasync costs nothing.
//
// Counters (summed over threads): records/s; syncs_per_record (fdatasyncs / records appended).
// Arg 0/1: segment preallocation off/on.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "raft/wal/wal.h"

namespace cairn::wal {
namespace {

struct Shared {
  std::string dir;
  std::unique_ptr<Wal> wal;
  WalStats start;
};
Shared* shared = nullptr;

std::string MakeBenchDir() {
  const char* base = std::getenv("CAIRN_WAL_BENCH_DIR");
  std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/cairn-wal-bench-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) return {};
  return pattern;
}

void BM_AppendSync(benchmark::State& state) {
  if (state.thread_index() == 0) {
    shared = new Shared;
    shared->dir = MakeBenchDir();
    WalOptions options{.dir = shared->dir, .preallocate = state.range(0) != 0};
    auto wal = Wal::Open(options, nullptr);
    if (!wal.ok()) {
      state.SkipWithError(std::string(wal.status().message()).c_str());
    } else {
      shared->wal = std::move(*wal);
      shared->start = shared->wal->stats();
    }
  }
  const std::string payload(100, 'v');
  uint64_t index = static_cast<uint64_t>(state.thread_index()) << 40;
  for (auto _ : state) {
    absl::Status s = shared->wal->Append({Record{RecordType::kEntry, 1, ++index, payload}});
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      break;
    }
  }
  state.counters["records/s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                   benchmark::Counter::kIsRate);
  if (state.thread_index() == 0) {
    // All threads have left the loop here (the benchmark library waits for them).
    if (shared->wal) {
      const WalStats end = shared->wal->stats();
      const double records = static_cast<double>(end.records_written - shared->start.records_written);
      const double syncs = static_cast<double>(end.syncs - shared->start.syncs);
      state.counters["syncs_per_record"] = records > 0 ? syncs / records : 0;
    }
    shared->wal.reset();
    std::filesystem::remove_all(shared->dir);
    delete shared;
    shared = nullptr;
  }
}

BENCHMARK(BM_AppendSync)->Arg(0)->Arg(1)->Threads(1)->Threads(64)->UseRealTime();

}  // namespace
}  // namespace cairn::wal
