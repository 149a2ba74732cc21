// The write pipeline under writes from several threads at once: every write is answered once and
// applied once, whichever thread ends up running the rounds (a submitter, for a while, or the
// writer thread it hands the rest to).
#include "server/write_pipeline.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "mvcc/store.h"
#include "tests/single_member_pipeline.h"

namespace cairn::server {
namespace {

class WritePipelineLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cairn-pipeline-load-XXXXXX";
    dir_ = mkdtemp(tmpl);
    mvcc::StoreOptions options;
    options.dir = dir_ + "/db";
    options.no_sync = true;
    auto store = mvcc::Store::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    ASSERT_TRUE(pipeline_.Start(store_.get(), dir_ + "/wal").ok());
  }
  void TearDown() override {
    pipeline_.Stop();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string dir_;
  std::unique_ptr<mvcc::Store> store_;
  testing::SingleMemberPipeline pipeline_;
};

// Three threads submit puts back to back without waiting for answers, so writes are always queued
// and drivers hand rounds to each other and to the writer thread all along.
TEST_F(WritePipelineLoadTest, ConcurrentSubmittersGetEveryWriteAnsweredAndAppliedOnce) {
  constexpr int kThreads = 3;
  constexpr int kWritesPerThread = 15000;
  constexpr int64_t kTotal = int64_t{kThreads} * kWritesPerThread;
  std::atomic<int64_t> answered{0};
  std::atomic<int64_t> failed{0};
  std::vector<std::atomic<int>> answers_per_write(kTotal);
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kWritesPerThread; ++i) {
        auto response = std::make_shared<etcdserverpb::PutResponse>();
        PendingWrite write;
        write.request.mutable_put()->set_key("k" + std::to_string(t) + "/" + std::to_string(i % 100));
        write.request.mutable_put()->set_value("v");
        write.response = response.get();
        std::atomic<int>* answers = &answers_per_write[t * kWritesPerThread + i];
        write.done = [&answered, &failed, answers, response](absl::Status status) {
          if (!status.ok()) failed.fetch_add(1);
          answers->fetch_add(1);
          answered.fetch_add(1);
        };
        pipeline_->Submit(std::move(write));
      }
    });
  }
  for (std::thread& w : writers) w.join();
  for (int waited_ms = 0; answered.load() < kTotal && waited_ms < 60000; waited_ms += 10) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(answered.load(), kTotal);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(std::count_if(answers_per_write.begin(), answers_per_write.end(), [](const auto& n) { return n != 1; }), 0)
      << "writes answered other than once";
  EXPECT_EQ(store_->CurrentRevision(), 1 + kTotal) << "every put applied exactly once";
}

}  // namespace
}  // namespace cairn::server
