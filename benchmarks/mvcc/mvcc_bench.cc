// Micro-benchmarks of the mvcc store: put batches and ranges. Figures only, no thresholds.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "mvcc/store.h"

namespace cairn::mvcc {
namespace {

class TempStore {
 public:
  explicit TempStore(bool no_sync = true) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mvcc_bench.XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    StoreOptions options;
    options.dir = dir_;
    options.no_sync = no_sync;
    store_ = std::move(*Store::Open(options));
  }
  ~TempStore() {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  Store* get() { return store_.get(); }

 private:
  std::string dir_;
  std::unique_ptr<Store> store_;
};

std::string KeyName(int64_t i) {
  char buf[32];
  snprintf(buf, sizeof buf, "/services/api/%08lld", static_cast<long long>(i));
  return buf;
}

// Args: requests per WriteBatch, and 1 for the default commit mode (data fdatasync'ed per commit)
// or 0 for no_sync (CPU cost only). Keys cycle over 10k names so the tree stays a realistic size.
void BM_Put(benchmark::State& state) {
  TempStore store(/*no_sync=*/state.range(1) == 0);
  const int64_t per_batch = state.range(0);
  etcdserverpb::PutRequest req;
  req.set_value(std::string(128, 'v'));
  etcdserverpb::PutResponse resp;
  int64_t i = 0;
  for (auto _ : state) {
    auto batch = store.get()->BeginWrite();
    for (int64_t j = 0; j < per_batch; ++j) {
      req.set_key(KeyName(i++ % 10000));
      resp.Clear();
      if (!batch->Put(req, &resp).ok()) state.SkipWithError("put failed");
    }
    batch->SetApplied(static_cast<uint64_t>(i), 1);
    if (!batch->Commit().ok()) state.SkipWithError("commit failed");
  }
  state.SetItemsProcessed(state.iterations() * per_batch);
}
BENCHMARK(BM_Put)->ArgNames({"batch", "fsync"})->Args({1, 0})->Args({64, 0})->Args({1, 1})->Args({64, 1});

void Fill(Store* store, int64_t keys) {
  auto batch = store->BeginWrite();
  etcdserverpb::PutRequest req;
  req.set_value(std::string(128, 'v'));
  etcdserverpb::PutResponse resp;
  for (int64_t i = 0; i < keys; ++i) {
    req.set_key(KeyName(i));
    (void)batch->Put(req, &resp);
  }
  (void)batch->Commit();
}

void BM_RangeOneKey(benchmark::State& state) {
  TempStore store;
  Fill(store.get(), 10000);
  etcdserverpb::RangeRequest req;
  etcdserverpb::RangeResponse resp;
  int64_t i = 0;
  for (auto _ : state) {
    req.set_key(KeyName(i++ % 10000));
    resp.Clear();
    if (!store.get()->Range(req, &resp).ok() || resp.kvs_size() != 1) state.SkipWithError("range failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RangeOneKey);

void BM_RangePrefix100(benchmark::State& state) {
  TempStore store;
  Fill(store.get(), 10000);
  etcdserverpb::RangeRequest req;
  etcdserverpb::RangeResponse resp;
  int64_t i = 0;
  for (auto _ : state) {
    const int64_t first = (i++ % 99) * 100;
    std::string prefix = KeyName(first).substr(0, KeyName(first).size() - 2);
    req.set_key(prefix);
    std::string end = prefix;
    end.back()++;
    req.set_range_end(end);
    resp.Clear();
    if (!store.get()->Range(req, &resp).ok() || resp.kvs_size() != 100) state.SkipWithError("range failed");
  }
  state.SetItemsProcessed(state.iterations() * 100);
}
BENCHMARK(BM_RangePrefix100);

void BM_RangeOneKeyPastRevision(benchmark::State& state) {
  TempStore store;
  Fill(store.get(), 10000);
  Fill(store.get(), 10000);  // a second version of every key
  etcdserverpb::RangeRequest req;
  req.set_revision(5000);
  etcdserverpb::RangeResponse resp;
  int64_t i = 0;
  for (auto _ : state) {
    req.set_key(KeyName(i++ % 4000));
    resp.Clear();
    if (!store.get()->Range(req, &resp).ok() || resp.kvs_size() != 1) state.SkipWithError("range failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RangeOneKeyPastRevision);

}  // namespace
}  // namespace cairn::mvcc

BENCHMARK_MAIN();
