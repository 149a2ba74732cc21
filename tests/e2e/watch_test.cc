// Watches through a real cairnd, as a client sees them on the wire:
//  - a watch from a past revision replays history, then continues live, with no gap or repeat;
//  - 1,000 watchers on one prefix across 10 streams each receive all 1,000 events in order;
//  - a stream that stops reading delays neither puts nor other watchers, and once it reads again it
//    gets everything, in order, exactly once;
//  - a watch from a compacted revision is canceled with the compaction revision.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "tests/e2e/cairnd_process.h"
#include "tests/e2e/e2e_client.h"

namespace cairn::e2e {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Responses = std::vector<etcdserverpb::WatchResponse>;

class WatchE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<TempDir>("watch");
    cairnd_ = std::make_unique<CairndProcess>(dir_->path());
    const absl::Status started = cairnd_->Start();
    ASSERT_TRUE(started.ok()) << started;
    channel_ = cairnd_->NewChannel();
    kv_ = etcdserverpb::KV::NewStub(channel_);
    watch_ = etcdserverpb::Watch::NewStub(channel_);
  }
  void TearDown() override {
    if (cairnd_ != nullptr) cairnd_->Stop(SIGKILL);
  }

  int64_t PutOrDie(const std::string& key, const std::string& value) {
    etcdserverpb::PutResponse response;
    const grpc::Status status = Put(kv_.get(), key, value, 0, &response);
    EXPECT_TRUE(status.ok()) << "put " << key << ": " << status.error_message();
    return response.header().revision();
  }

  int64_t CurrentRevision() {
    etcdserverpb::RangeResponse response;
    EXPECT_TRUE(RangePrefix(kv_.get(), "\x01never", true, &response).ok());
    return response.header().revision();
  }

  // Puts `count` keys `<prefix><i>` from `threads` threads; returns how many failed.
  int PutMany(const std::string& prefix, int count, const std::string& value, int threads) {
    std::atomic<int> next{0};
    std::atomic<int> failed{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&] {
        auto channel = cairnd_->NewChannel();
        auto kv = etcdserverpb::KV::NewStub(channel);
        for (int i = next.fetch_add(1); i < count; i = next.fetch_add(1)) {
          if (!Put(kv.get(), prefix + std::to_string(i), value).ok()) failed.fetch_add(1);
        }
      });
    }
    for (auto& w : workers) w.join();
    return failed.load();
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<CairndProcess> cairnd_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<etcdserverpb::KV::Stub> kv_;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch_;
};

struct SeenEvent {
  mvccpb::Event::EventType type;
  std::string key;
  std::string value;
  int64_t mod_revision;
  std::string prev_value;  // empty when the event carried no prev_kv
  bool operator==(const SeenEvent&) const = default;
};

std::ostream& operator<<(std::ostream& out, const SeenEvent& e) {
  return out << (e.type == mvccpb::Event::PUT ? "PUT " : "DELETE ") << e.key << "=" << e.value << " @"
             << e.mod_revision << " prev=" << e.prev_value;
}

std::vector<SeenEvent> EventsOf(const Responses& responses, int64_t watch_id) {
  std::vector<SeenEvent> out;
  for (const auto& r : responses) {
    if (r.watch_id() != watch_id) continue;
    for (const auto& e : r.events()) {
      out.push_back({e.type(), e.kv().key(), e.kv().value(), e.kv().mod_revision(),
                     e.has_prev_kv() ? e.prev_kv().value() : std::string()});
    }
  }
  return out;
}

TEST_F(WatchE2eTest, PastRevisionReplaysHistoryThenContinuesLive) {
  const int64_t first = PutOrDie("/h/a", "1");
  PutOrDie("/h/b", "1");
  PutOrDie("/other", "x");  // outside the prefix: never delivered
  PutOrDie("/h/a", "2");
  {
    etcdserverpb::DeleteRangeRequest request;
    request.set_key("/h/b");
    etcdserverpb::DeleteRangeResponse response;
    grpc::ClientContext context;
    SetDeadline(&context);
    ASSERT_TRUE(kv_->DeleteRange(&context, request, &response).ok());
  }

  WatchClient watcher(watch_.get());
  ASSERT_TRUE(watcher.Create("/h/", PrefixEnd("/h/"), /*start_revision=*/first + 1, /*watch_id=*/0,
                             /*prev_kv=*/true));
  const std::vector<SeenEvent> history = {
      {mvccpb::Event::PUT, "/h/b", "1", first + 1, ""},
      {mvccpb::Event::PUT, "/h/a", "2", first + 3, "1"},
      {mvccpb::Event::DELETE, "/h/b", "", first + 4, "1"},
  };
  ASSERT_TRUE(watcher.WaitFor([&](const Responses& r) { return EventsOf(r, 0).size() >= history.size(); },
                              seconds(10)))
      << "history not replayed";
  EXPECT_EQ(EventsOf(watcher.Snapshot(), 0), history);

  PutOrDie("/h/c", "live");
  PutOrDie("/h/a", "3");
  std::vector<SeenEvent> all = history;
  all.push_back({mvccpb::Event::PUT, "/h/c", "live", first + 5, ""});
  all.push_back({mvccpb::Event::PUT, "/h/a", "3", first + 6, "2"});
  ASSERT_TRUE(
      watcher.WaitFor([&](const Responses& r) { return EventsOf(r, 0).size() >= all.size(); }, seconds(10)))
      << "live events not delivered";
  std::this_thread::sleep_for(milliseconds(200));  // anything extra would show up now
  const Responses responses = watcher.Snapshot();
  EXPECT_EQ(EventsOf(responses, 0), all);
  ASSERT_FALSE(responses.empty());
  EXPECT_TRUE(responses.front().created());
  for (const auto& r : responses) EXPECT_FALSE(r.canceled()) << r.cancel_reason();
}

// Per-watcher delivery check kept by the stream's reader thread.
struct WatcherTally {
  int64_t expected_next = 0;  // the revision the next event must carry
  int events = 0;
  int out_of_order = 0;
  bool canceled = false;
};

struct StreamTally {
  std::mutex mu;
  std::map<int64_t, WatcherTally> by_watch_id;
  int created = 0;
};

TEST_F(WatchE2eTest, ThousandWatchersOnTenStreamsEachReceiveEveryEventInOrder) {
  constexpr int kStreams = 10;
  constexpr int kWatchersPerStream = 100;
  constexpr int kPuts = 1000;
  const int64_t base = CurrentRevision();

  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<etcdserverpb::Watch::Stub>> stubs;
  std::vector<std::unique_ptr<StreamTally>> tallies;
  std::vector<std::unique_ptr<WatchClient>> streams;
  for (int s = 0; s < kStreams; ++s) {
    channels.push_back(cairnd_->NewChannel());
    stubs.push_back(etcdserverpb::Watch::NewStub(channels.back()));
    tallies.push_back(std::make_unique<StreamTally>());
    StreamTally* tally = tallies.back().get();
    streams.push_back(std::make_unique<WatchClient>(
        stubs.back().get(), /*read_paused=*/false, [tally, base](const etcdserverpb::WatchResponse& r) {
          std::lock_guard<std::mutex> lock(tally->mu);
          WatcherTally& w = tally->by_watch_id[r.watch_id()];
          if (r.created()) {
            ++tally->created;
            w.expected_next = base + 1;
          }
          if (r.canceled()) w.canceled = true;
          for (const auto& e : r.events()) {
            if (e.kv().mod_revision() != w.expected_next) ++w.out_of_order;
            w.expected_next = e.kv().mod_revision() + 1;
            ++w.events;
          }
        }));
    for (int w = 0; w < kWatchersPerStream; ++w) {
      ASSERT_TRUE(streams.back()->Create("/fan/", PrefixEnd("/fan/")));
    }
  }
  for (int s = 0; s < kStreams; ++s) {
    const auto deadline = Clock::now() + seconds(10);
    while (Clock::now() < deadline) {
      {
        std::lock_guard<std::mutex> lock(tallies[s]->mu);
        if (tallies[s]->created == kWatchersPerStream) break;
      }
      // Not under the tally's lock: the stream's reader needs it to count each answer, and a waiter
      // sleeping with it held starved the reader of the last stream (1,000 creates > 10 s).
      std::this_thread::sleep_for(milliseconds(10));
    }
    std::lock_guard<std::mutex> lock(tallies[s]->mu);
    ASSERT_EQ(tallies[s]->created, kWatchersPerStream) << "stream " << s;
  }

  ASSERT_EQ(PutMany("/fan/key-", kPuts, "v", /*threads=*/8), 0);
  ASSERT_EQ(CurrentRevision(), base + kPuts);

  const size_t per_stream = static_cast<size_t>(kWatchersPerStream) * kPuts;
  for (int s = 0; s < kStreams; ++s) {
    const auto deadline = Clock::now() + seconds(60);
    while (streams[s]->EventCount() < per_stream && Clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(20));
    }
    EXPECT_EQ(streams[s]->EventCount(), per_stream) << "stream " << s << " did not receive every event";
  }
  std::this_thread::sleep_for(milliseconds(200));
  for (int s = 0; s < kStreams; ++s) {
    std::lock_guard<std::mutex> lock(tallies[s]->mu);
    ASSERT_EQ(tallies[s]->by_watch_id.size(), static_cast<size_t>(kWatchersPerStream)) << "stream " << s;
    for (const auto& [id, w] : tallies[s]->by_watch_id) {
      EXPECT_EQ(w.events, kPuts) << "stream " << s << " watch " << id;
      EXPECT_EQ(w.out_of_order, 0) << "stream " << s << " watch " << id << ": gap, repeat or reorder";
      EXPECT_FALSE(w.canceled) << "stream " << s << " watch " << id;
    }
  }
}

TEST_F(WatchE2eTest, StreamThatNeverReadsDelaysNeitherPutsNorOtherWatchers) {
  // Enough data to fill HTTP/2 flow-control windows and cairnd's per-stream buffer (4 MiB) several
  // times over, so the silent stream's watcher must be parked and caught up later.
  constexpr int kPuts = 4000;
  const std::string value(4096, 'v');
  const int64_t base = CurrentRevision();

  // The silent stream shares a connection with a reading one; a third reads on its own connection.
  auto other_channel = cairnd_->NewChannel();
  auto other_stub = etcdserverpb::Watch::NewStub(other_channel);
  WatchClient silent(watch_.get(), /*read_paused=*/true);
  WatchClient same_connection(watch_.get());
  WatchClient other_connection(other_stub.get());
  // An explicit start revision: the silent watcher covers every put even if its create were late.
  ASSERT_TRUE(silent.Create("/slow/", PrefixEnd("/slow/"), base + 1));
  ASSERT_TRUE(same_connection.Create("/slow/", PrefixEnd("/slow/"), base + 1));
  ASSERT_TRUE(other_connection.Create("/slow/", PrefixEnd("/slow/"), base + 1));

  ASSERT_EQ(PutMany("/slow/key-", kPuts, value, /*threads=*/8), 0) << "puts failed while a watcher was silent";
  EXPECT_EQ(CurrentRevision(), base + kPuts);

  for (WatchClient* reader : {&same_connection, &other_connection}) {
    const auto deadline = Clock::now() + seconds(30);
    while (reader->EventCount() < static_cast<size_t>(kPuts) && Clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(20));
    }
    EXPECT_EQ(reader->EventCount(), static_cast<size_t>(kPuts))
        << (reader == &same_connection ? "reader on the silent stream's connection"
                                       : "reader on its own connection")
        << " did not get every event while the other stream was silent";
  }
  EXPECT_EQ(silent.EventCount(), 0u);

  silent.Resume();
  const auto deadline = Clock::now() + seconds(30);
  while (silent.EventCount() < static_cast<size_t>(kPuts) && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  std::this_thread::sleep_for(milliseconds(200));
  for (WatchClient* reader : {&silent, &same_connection, &other_connection}) {
    const Responses responses = reader->Snapshot();
    int64_t expected = base + 1;
    int events = 0;
    int out_of_order = 0;
    for (const auto& r : responses) {
      EXPECT_FALSE(r.canceled()) << r.cancel_reason();
      for (const auto& e : r.events()) {
        if (e.kv().mod_revision() != expected) ++out_of_order;
        expected = e.kv().mod_revision() + 1;
        ++events;
        if (e.kv().value() != value) ++out_of_order;
      }
    }
    const char* who = reader == &silent ? "silent stream after it read"
                      : reader == &same_connection ? "reader on the same connection"
                                                   : "reader on its own connection";
    EXPECT_EQ(events, kPuts) << who;
    EXPECT_EQ(out_of_order, 0) << who << ": events with a gap, a repeat, out of order or a wrong value";
  }
}

TEST_F(WatchE2eTest, CompactedStartRevisionIsCanceledWithCompactRevision) {
  int64_t last = 0;
  for (int i = 0; i < 10; ++i) last = PutOrDie("/c/k", std::to_string(i));
  const int64_t compact_at = last - 2;
  {
    etcdserverpb::CompactionRequest request;
    request.set_revision(compact_at);
    request.set_physical(true);
    etcdserverpb::CompactionResponse response;
    grpc::ClientContext context;
    SetDeadline(&context);
    const grpc::Status status = kv_->Compact(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  WatchClient watcher(watch_.get());
  ASSERT_TRUE(watcher.Create("/c/k", "", compact_at - 1, /*watch_id=*/7));
  ASSERT_TRUE(watcher.WaitFor(
      [](const Responses& r) {
        for (const auto& x : r) if (x.canceled()) return true;
        return false;
      },
      seconds(10)))
      << "watch from a compacted revision was not canceled";
  const Responses responses = watcher.Snapshot();
  ASSERT_GE(responses.size(), 1u);
  EXPECT_TRUE(responses.front().created());
  EXPECT_EQ(responses.front().watch_id(), 7);
  const auto& canceled = responses.back();
  EXPECT_TRUE(canceled.canceled());
  EXPECT_EQ(canceled.watch_id(), 7);
  EXPECT_EQ(canceled.compact_revision(), compact_at);
  for (const auto& r : responses) EXPECT_EQ(r.events_size(), 0);

  // The compaction revision itself is still watchable: it replays from there.
  ASSERT_TRUE(watcher.Create("/c/k", "", compact_at, /*watch_id=*/8));
  ASSERT_TRUE(watcher.WaitFor([](const Responses& r) { return EventsOf(r, 8).size() >= 3; }, seconds(10)));
  const std::vector<SeenEvent> events = EventsOf(watcher.Snapshot(), 8);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].mod_revision, compact_at);
  EXPECT_EQ(events[2].mod_revision, last);
  EXPECT_EQ(events[2].value, "9");
}

}  // namespace
}  // namespace cairn::e2e
