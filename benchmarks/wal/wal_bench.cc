// Append + fdatasync throughput of the WAL with 1 and 64 concurrent writers, and the cost of one
// sync for a single writer with growing vs zero-filled segments.
//
// BM_AppendSync: each iteration is one Append() of one ~100-byte entry, acknowledged only once
// durable. With many writers, group commit shares one fdatasync among everyone queued: watch
// syncs_per_record fall. Arg 0/1: segment preallocation (fallocate) off/on.
//
// BM_WriteSync: cairnd's single-client put path: one Write() of one ~350-byte entry, then Sync().
// Arg 0: segments grow with every append (every fdatasync also commits the new file size);
// Arg 1: WalOptions::zero_fill_segments (appends overwrite zeros written ahead of time);
// Arg 2: zero_fill_segments + direct_sync (each Sync is one O_DIRECT|O_DSYNC pwrite of the
// partially written 4 KiB block instead of write() + fdatasync()). The time per iteration is, in
// practice, the time of one sync. 16 MiB segments, as cairnd uses. Extra counters: syncs/s and
// cpu_us_per_sync (CPU time of the writing thread, user + system, per sync: kernel work done in
// the system calls; the time spent waiting for the disk is not CPU).
// The log lives under $CAIRN_WAL_BENCH_DIR (default /tmp): put it on the disk you want to measure,
// not on tmpfs, where fdatasync costs nothing.
//
// Counters (summed over threads): records/s; syncs_per_record (fdatasyncs / records appended).
// Example: build-wal/bin/wal_bench --benchmark_filter=BM_WriteSync --benchmark_repetitions=5
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

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

double ThreadCpuMicros() {
  struct rusage usage;
  ::getrusage(RUSAGE_THREAD, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e6 +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

void BM_WriteSync(benchmark::State& state) {
  const std::string dir = MakeBenchDir();
  const bool zero_fill = state.range(0) >= 1;
  const bool direct_sync = state.range(0) >= 2;
  WalOptions options{
      .dir = dir, .segment_bytes = 16 << 20, .zero_fill_segments = zero_fill, .direct_sync = direct_sync};
  auto opened = Wal::Open(options, nullptr);
  if (!opened.ok()) {
    state.SkipWithError(std::string(opened.status().message()).c_str());
    std::filesystem::remove_all(dir);
    return;
  }
  std::unique_ptr<Wal> wal = std::move(*opened);
  if (zero_fill) {
    // Measure the steady state: the preparer is busy for a fraction of a second once per 16 MiB
    // of log (~45k of these records), so let it finish the file it starts with at Open.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (wal->stats().segments_prepared < 2 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  const std::string payload(350, 'p');
  const WalStats start = wal->stats();
  const double cpu_start = ThreadCpuMicros();
  uint64_t index = 0;
  for (auto _ : state) {
    absl::Status s = wal->Write({Record{RecordType::kEntry, 1, ++index, payload}});
    if (s.ok()) s = wal->Sync();
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      break;
    }
  }
  const double cpu_micros = ThreadCpuMicros() - cpu_start;
  const WalStats end = wal->stats();
  const double iterations = static_cast<double>(state.iterations());
  const double syncs = static_cast<double>(end.syncs - start.syncs);
  state.counters["syncs_per_write"] = iterations > 0 ? syncs / iterations : 0;
  state.counters["syncs/s"] = benchmark::Counter(syncs, benchmark::Counter::kIsRate);
  state.counters["cpu_us_per_sync"] = syncs > 0 ? cpu_micros / syncs : 0;
  state.counters["direct_syncs"] = static_cast<double>(end.direct_syncs - start.direct_syncs);
  state.counters["rolls"] = static_cast<double>(end.segments_created - start.segments_created);
  wal.reset();
  std::filesystem::remove_all(dir);
}

BENCHMARK(BM_WriteSync)->Arg(0)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMicrosecond)->MinTime(2.0);

}  // namespace
}  // namespace cairn::wal
