// WatchHub behaviour a watch client relies on, driven through WatchStream with an in-memory history.
#include "server/watch/watch_hub.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "tests/watch/fake_history.h"
#include "tests/watch/test_util.h"

namespace cairn::watch {
namespace {

using testing::CountEvents;
using testing::CreateRequest;
using testing::Describe;
using testing::DrainAvailable;
using testing::EventsOf;
using testing::Expected;
using testing::FakeHistory;
using testing::Op;
using testing::PopUntil;
using testing::Responses;
using testing::TestWriter;
using testing::WatchShape;

constexpr uint64_t kClusterId = 0xc1;
constexpr uint64_t kMemberId = 0x3e;

HeaderStamper Stamper() {
  return [](etcdserverpb::ResponseHeader* h) {
    h->set_cluster_id(kClusterId);
    h->set_member_id(kMemberId);
    h->set_raft_term(7);
  };
}

class HubTest : public ::testing::Test {
 protected:
  explicit HubTest(HubOptions options = {}, bool strict_history = false)
      : history_(strict_history), hub_(&history_, Stamper(), options), writer_(&history_, &hub_) {}
  ~HubTest() override { hub_.Shutdown(); }

  // Creates a watcher and returns its id; fails the test if the create was refused.
  int64_t Create(WatchStream* stream, const etcdserverpb::WatchCreateRequest& request) {
    stream->Create(request);
    etcdserverpb::WatchResponse created;
    EXPECT_TRUE(stream->Pop(&created)) << "the created response is queued by Create itself";
    EXPECT_TRUE(created.created());
    EXPECT_FALSE(created.canceled()) << created.cancel_reason();
    return created.watch_id();
  }

  // Like Create, for streams that may already be receiving events: those are kept in *got.
  int64_t CreateKeeping(WatchStream* stream, const etcdserverpb::WatchCreateRequest& request, Responses* got) {
    stream->Create(request);
    size_t seen = got->size();
    EXPECT_TRUE(PopUntil(stream, got, [&](const Responses& r) {
      for (; seen < r.size(); ++seen) {
        if (r[seen].created()) return true;
      }
      return false;
    }));
    const etcdserverpb::WatchResponse created = (*got)[seen];
    got->erase(got->begin() + static_cast<std::ptrdiff_t>(seen));
    EXPECT_FALSE(created.canceled()) << created.cancel_reason();
    return created.watch_id();
  }

  FakeHistory history_;
  WatchHub hub_;
  TestWriter writer_;
};

TEST_F(HubTest, CreatedResponseCarriesIdAndCurrentRevisionAndHeaderIdentity) {
  writer_.Put("a", "1");  // revision 2
  auto stream = hub_.OpenStream();
  stream->Create(CreateRequest("a"));
  etcdserverpb::WatchResponse created;
  ASSERT_TRUE(stream->Pop(&created));
  EXPECT_TRUE(created.created());
  EXPECT_FALSE(created.canceled());
  EXPECT_EQ(created.watch_id(), 0) << "etcd numbers a stream's watchers from 0";
  EXPECT_EQ(created.header().revision(), 2);
  EXPECT_EQ(created.header().cluster_id(), kClusterId);
  EXPECT_EQ(created.header().member_id(), kMemberId);
  EXPECT_EQ(created.header().raft_term(), 7u);
  EXPECT_FALSE(stream->Pop(&created)) << "nothing else until something changes";
}

TEST_F(HubTest, SingleKeyWatcherSeesOnlyItsKeyInOrder) {
  auto stream = hub_.OpenStream();
  int64_t id = Create(stream.get(), CreateRequest("a"));
  writer_.Put("a", "1");
  writer_.Put("b", "1");
  writer_.Put("a", "2");
  writer_.Delete("a");
  Responses got;
  ASSERT_TRUE(PopUntil(stream.get(), &got, [&](const Responses& r) { return CountEvents(r, id) >= 3; }));
  EXPECT_EQ(Describe(EventsOf(got, id)), (std::vector<std::string>{"put a@2", "put a@4", "del a@5"}));
  EXPECT_EQ(got.back().header().revision(), 5) << "a live response reports the revision it brings";
}

TEST_F(HubTest, PrefixAndFromKeyRanges) {
  auto stream = hub_.OpenStream();
  int64_t prefix = Create(stream.get(), CreateRequest("p/", "p0"));
  int64_t from_key = Create(stream.get(), CreateRequest("m", std::string(1, '\0')));
  int64_t everything = Create(stream.get(), CreateRequest("", std::string(1, '\0')));
  for (const char* key : {"a", "p/1", "p0", "z", "p/2"}) writer_.Put(key, "v");
  Responses got;
  ASSERT_TRUE(PopUntil(stream.get(), &got, [&](const Responses& r) { return CountEvents(r, everything) == 5; }));
  DrainAvailable(stream.get(), &got);
  EXPECT_EQ(Describe(EventsOf(got, prefix)), (std::vector<std::string>{"put p/1@3", "put p/2@6"}));
  EXPECT_EQ(Describe(EventsOf(got, from_key)),
            (std::vector<std::string>{"put p/1@3", "put p0@4", "put z@5", "put p/2@6"}));
}

// Watchers of the same range are matched as a group: each still gets the events its own filter and start
// allow, and cancelling one leaves the others of its range (and other ranges) receiving.
TEST_F(HubTest, WatchersOfTheSameRangeKeepTheirOwnFiltersAndCancels) {
  auto stream = hub_.OpenStream();
  int64_t first = Create(stream.get(), CreateRequest("p/", "p0"));
  etcdserverpb::WatchCreateRequest no_put = CreateRequest("p/", "p0");
  no_put.add_filters(etcdserverpb::WatchCreateRequest::NOPUT);
  int64_t deletes_only = Create(stream.get(), no_put);
  int64_t second = Create(stream.get(), CreateRequest("p/", "p0"));
  int64_t other_range = Create(stream.get(), CreateRequest("q/", "q0"));
  writer_.Put("p/1", "v");  // revision 2
  stream->Cancel(first);
  writer_.Delete("p/1");  // revision 3
  writer_.Put("q/1", "v");  // revision 4
  Responses got;
  ASSERT_TRUE(PopUntil(stream.get(), &got, [&](const Responses& r) { return CountEvents(r, other_range) == 1; }));
  DrainAvailable(stream.get(), &got);
  EXPECT_EQ(Describe(EventsOf(got, first)), (std::vector<std::string>{"put p/1@2"}));
  EXPECT_EQ(Describe(EventsOf(got, deletes_only)), (std::vector<std::string>{"del p/1@3"}));
  EXPECT_EQ(Describe(EventsOf(got, second)), (std::vector<std::string>{"put p/1@2", "del p/1@3"}));
  EXPECT_EQ(Describe(EventsOf(got, other_range)), (std::vector<std::string>{"put q/1@4"}));
}

TEST_F(HubTest, StartRevisionReplaysHistoryThenContinuesLive) {
  for (int i = 0; i < 20; ++i) writer_.Put("k" + std::to_string(i % 3), std::to_string(i));  // revs 2..21
  auto stream = hub_.OpenStream();
  int64_t id = Create(stream.get(), CreateRequest("k", "l", 5));
  Responses got;
  ASSERT_TRUE(PopUntil(stream.get(), &got, [&](const Responses& r) { return CountEvents(r, id) == 17; }));
  for (int i = 0; i < 5; ++i) writer_.Put("k9", "live");
  ASSERT_TRUE(PopUntil(stream.get(), &got, [&](const Responses& r) { return CountEvents(r, id) == 22; }));
  EXPECT_EQ(Describe(EventsOf(got, id)), Describe(Expected(history_.All(), {"k", "l", 5})));
}

TEST_F(HubTest, StartRevisionZeroMeansFromTheNextRevision) {
  writer_.Put("a", "old");
  auto stream = hub_.OpenStream();
  int64_t id = Create(stream.get(), CreateRequest("a"));
  writer_.Put("a", "new");
  Responses got;
  ASSERT_TRUE(PopUntil(stream.get(), &got, [&](const Responses& r) { return CountEvents(r, id) == 1; }));
  EXPECT_EQ(EventsOf(got, id)[0].kv().value(), "new");
}

TEST_F(HubTest, FutureStartRevisionWaitsForIt) {
  auto stream = hub_.OpenStream();
  int64_t id = Create(stream.get(), CreateRequest("a", "", 4));
  for (int i = 0; i < 5; ++i) writer_.Put("a", std::to_string(i));  // revs 2..6
  Responses got;
  ASSERT_TRUE(PopUntil(stream.get(), &got, [&](const Responses& r) { return CountEvents(r, id) == 3; }));
  EXPECT_EQ(Describe(EventsOf(got, id)), (std::vector<std::string>{"put a@4", "put a@5", "put a@6"}));
}

TEST_F(HubTest, FiltersDropPutsOrDeletes) {
  auto stream = hub_.OpenStream();
  auto no_put = CreateRequest("a");
  no_put.add_filters(etcdserverpb::WatchCreateRequest::NOPUT);
  auto no_delete = CreateRequest("a");
  no_delete.add_filters(etcdserverpb::WatchCreateRequest::NODELETE);
  int64_t deletes_only = Create(stream.get(), no_put);
  int64_t puts_only = Create(stream.get(), no_delete);
  writer_.Put("a", "1");
  writer_.Delete("a");
  writer_.Put("a", "2");
  Responses got;
  ASSERT_TRUE(PopUntil(stream.get(), &got, [&](const Responses& r) { return CountEvents(r, puts_only) == 2; }));
  DrainAvailable(stream.get(), &got);
  EXPECT_EQ(Describe(EventsOf(got, deletes_only)), (std::vector<std::string>{"del a@3"}));
  EXPECT_EQ(Describe(EventsOf(got, puts_only)), (std::vector<std::string>{"put a@2", "put a@4"}));
  for (const auto& r : got) EXPECT_GT(r.events_size() + r.created(), 0) << "no empty event responses";
}

TEST_F(HubTest, FiltersApplyToReplayedHistoryToo) {
  writer_.Put("a", "1");
  writer_.Delete("a");
  auto stream = hub_.OpenStream();
  auto request = CreateRequest("a", "", 1);
  request.add_filters(etcdserverpb::WatchCreateRequest::NOPUT);
  int64_t id = Create(stream.get(), request);
  Responses got;
  ASSERT_TRUE(PopUntil(stream.get(), &got, [&](const Responses& r) { return CountEvents(r, id) == 1; }));
  EXPECT_EQ(Describe(EventsOf(got, id)), (std::vector<std::string>{"del a@3"}));
}

TEST_F(HubTest, PrevKvOnlyWhenAsked) {
  writer_.Put("a", "first");
  auto stream = hub_.OpenStream();
  auto with = CreateRequest("a");
  with.set_prev_kv(true);
  int64_t with_id = Create(stream.get(), with);
  int64_t without_id = Create(stream.get(), CreateRequest("a"));
  writer_.Put("a", "second");
  writer_.Delete("a");
  Responses got;
  ASSERT_TRUE(PopUntil(stream.get(), &got, [&](const Responses& r) {
    return CountEvents(r, with_id) == 2 && CountEvents(r, without_id) == 2;
  }));
  auto with_events = EventsOf(got, with_id);
  EXPECT_EQ(with_events[0].prev_kv().value(), "first");
  EXPECT_EQ(with_events[1].prev_kv().value(), "second") << "a delete carries the deleted value as prev_kv";
  for (const auto& e : EventsOf(got, without_id)) EXPECT_FALSE(e.has_prev_kv());
}

TEST_F(HubTest, ClientChosenIdsDuplicatesAndAutoIds) {
  auto stream = hub_.OpenStream();
  auto chosen = CreateRequest("a");
  chosen.set_watch_id(1);
  EXPECT_EQ(Create(stream.get(), chosen), 1);
  EXPECT_EQ(Create(stream.get(), CreateRequest("a")), 0);
  EXPECT_EQ(Create(stream.get(), CreateRequest("a")), 2) << "auto ids skip ids in use";

  stream->Create(chosen);
  etcdserverpb::WatchResponse refused;
  ASSERT_TRUE(stream->Pop(&refused));
  EXPECT_TRUE(refused.created());
  EXPECT_TRUE(refused.canceled());
  EXPECT_EQ(refused.watch_id(), -1);
  EXPECT_EQ(refused.cancel_reason(), "mvcc: duplicate watch ID provided on the WatchStream");

  auto other = hub_.OpenStream();
  EXPECT_EQ(Create(other.get(), chosen), 1) << "ids are per stream";
}

TEST_F(HubTest, EmptyRangeIsRefused) {
  auto stream = hub_.OpenStream();
  stream->Create(CreateRequest("b", "a"));
  etcdserverpb::WatchResponse refused;
  ASSERT_TRUE(stream->Pop(&refused));
  EXPECT_TRUE(refused.created() && refused.canceled());
  EXPECT_EQ(refused.watch_id(), -1);
  EXPECT_EQ(refused.cancel_reason(), "mvcc: watcher range is empty");
  EXPECT_EQ(hub_.WatcherCount(), 0u);
}

TEST_F(HubTest, CancelAnswersAndStopsEvents) {
  auto stream = hub_.OpenStream();
  int64_t id = Create(stream.get(), CreateRequest("a"));
  int64_t other = Create(stream.get(), CreateRequest("a"));
  writer_.Put("a", "1");
  stream->Cancel(id);
  stream->Cancel(12345);  // unknown: ignored, as etcd does
  writer_.Put("a", "2");
  Responses got;
  ASSERT_TRUE(PopUntil(stream.get(), &got, [&](const Responses& r) { return CountEvents(r, other) == 2; }));
  DrainAvailable(stream.get(), &got);
  ASSERT_EQ(CountEvents(got, id), 1u);
  int canceled = 0;
  bool after_cancel = false;
  for (const auto& r : got) {
    if (r.watch_id() != id) continue;
    if (r.canceled()) {
      ++canceled;
      after_cancel = true;
      EXPECT_EQ(r.header().revision(), 2);
    } else {
      EXPECT_FALSE(after_cancel) << "no events after the cancel response";
    }
  }
  EXPECT_EQ(canceled, 1);
  EXPECT_EQ(hub_.WatcherCount(), 1u);
}

TEST_F(HubTest, WatchOnCompactedRevisionIsCreatedThenCancelledWithCompactRevision) {
  for (int i = 0; i < 10; ++i) writer_.Put("a", std::to_string(i));  // revs 2..11
  writer_.Compact(6);
  auto stream = hub_.OpenStream();
  int64_t id = Create(stream.get(), CreateRequest("a", "", 3));
  Responses got;
  ASSERT_TRUE(PopUntil(stream.get(), &got, [](const Responses& r) { return !r.empty(); }));
  EXPECT_EQ(got[0].watch_id(), id);
  EXPECT_TRUE(got[0].canceled());
  EXPECT_EQ(got[0].compact_revision(), 6);
  EXPECT_EQ(got[0].events_size(), 0);
  EXPECT_EQ(hub_.WatcherCount(), 0u);

  // At the compaction revision itself history is still complete.
  int64_t ok_id = Create(stream.get(), CreateRequest("a", "", 6));
  got.clear();
  ASSERT_TRUE(PopUntil(stream.get(), &got, [&](const Responses& r) { return CountEvents(r, ok_id) == 6; }));
}

// etcd 3.4 keeps the id of a watcher a compaction cancelled in use until the client cancels it: a create
// naming it is a duplicate, auto ids skip it, and the client's cancel is answered (once).
TEST_F(HubTest, CompactionCancelledIdStaysInUseUntilTheClientCancelsIt) {
  for (int i = 0; i < 10; ++i) writer_.Put("a", std::to_string(i));  // revs 2..11
  writer_.Compact(6);
  auto stream = hub_.OpenStream();
  auto chosen = CreateRequest("a", "", 3);
  chosen.set_watch_id(0);
  EXPECT_EQ(Create(stream.get(), chosen), 0);
  Responses got;
  ASSERT_TRUE(PopUntil(stream.get(), &got, [](const Responses& r) { return !r.empty(); }));
  ASSERT_EQ(got[0].compact_revision(), 6);

  auto again = CreateRequest("a");
  again.set_watch_id(0);  // 0 asks the server: it must not pick the compacted id
  EXPECT_EQ(Create(stream.get(), again), 1);
  auto named = CreateRequest("a", "", 3);
  named.set_watch_id(5);
  EXPECT_EQ(Create(stream.get(), named), 5);
  got.clear();
  ASSERT_TRUE(PopUntil(stream.get(), &got, [](const Responses& r) { return !r.empty(); }));
  ASSERT_EQ(got[0].compact_revision(), 6);

  stream->Create(named);
  etcdserverpb::WatchResponse refused;
  ASSERT_TRUE(stream->Pop(&refused));
  EXPECT_TRUE(refused.created() && refused.canceled());
  EXPECT_EQ(refused.watch_id(), -1);
  EXPECT_EQ(refused.cancel_reason(), "mvcc: duplicate watch ID provided on the WatchStream");

  stream->Cancel(5);
  etcdserverpb::WatchResponse canceled;
  ASSERT_TRUE(stream->Pop(&canceled));
  EXPECT_EQ(canceled.watch_id(), 5);
  EXPECT_TRUE(canceled.canceled());
  EXPECT_EQ(canceled.compact_revision(), 0);
  EXPECT_EQ(canceled.header().revision(), 11);
  stream->Cancel(5);  // now unknown: ignored
  EXPECT_FALSE(stream->Pop(&canceled));
  EXPECT_EQ(Create(stream.get(), CreateRequest("a")), 2);
  EXPECT_EQ(Create(stream.get(), named), 5) << "free again after the client's cancel";
}

// A parked watcher whose history is compacted before it catches up is cancelled the same way.
class SmallBufferHubTest : public HubTest {
 protected:
  static HubOptions Small() {
    HubOptions options;
    options.stream_buffer_bytes = 400;
    options.catchup_batch_events = 7;
    options.progress_notify_interval = absl::Hours(1);
    return options;
  }
  SmallBufferHubTest() : HubTest(Small()) {}
};

TEST_F(SmallBufferHubTest, ParkedWatcherIsCancelledWhenItsHistoryIsCompacted) {
  auto stream = hub_.OpenStream();
  int64_t id = Create(stream.get(), CreateRequest("a"));
  for (int i = 0; i < 50; ++i) writer_.Put("a", std::string(20, 'x'));  // revs 2..51, far past the buffer
  ASSERT_EQ(hub_.UnsyncedWatcherCount(), 1u) << "the non-reading watcher is parked, not waited for";
  writer_.Compact(40);
  Responses got;
  ASSERT_TRUE(PopUntil(stream.get(), &got, [](const Responses& r) { return !r.empty() && r.back().canceled(); }));
  EXPECT_EQ(got.back().watch_id(), id);
  EXPECT_EQ(got.back().compact_revision(), 40);
  auto events = EventsOf(got, id);
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].kv().mod_revision(), int64_t(i) + 2);
  EXPECT_EQ(hub_.WatcherCount(), 0u);
}

TEST_F(SmallBufferHubTest, SlowReaderIsParkedThenCaughtUpExactlyOnceInOrder) {
  auto slow = hub_.OpenStream();
  auto fast = hub_.OpenStream();
  int64_t slow_id = Create(slow.get(), CreateRequest("k", "l"));
  int64_t fast_id = Create(fast.get(), CreateRequest("k", "l"));
  Responses fast_got;
  for (int i = 0; i < 300; ++i) {
    writer_.Put("k" + std::to_string(i % 7), std::to_string(i));
    if (i % 3 == 0) writer_.Delete("k" + std::to_string(i % 5));
    DrainAvailable(fast.get(), &fast_got);
  }
  EXPECT_GE(hub_.UnsyncedWatcherCount(), 1u) << "the slow stream's watcher is parked";
  const auto expected = Describe(Expected(history_.All(), {"k", "l", 2}));
  ASSERT_TRUE(PopUntil(fast.get(), &fast_got,
                       [&](const Responses& r) { return CountEvents(r, fast_id) >= expected.size(); }));
  EXPECT_EQ(Describe(EventsOf(fast_got, fast_id)), expected);

  Responses slow_got;
  ASSERT_TRUE(PopUntil(slow.get(), &slow_got,
                       [&](const Responses& r) { return CountEvents(r, slow_id) >= expected.size(); }));
  EXPECT_EQ(Describe(EventsOf(slow_got, slow_id)), expected);
  // Back in sync: live events flow again.
  writer_.Put("k1", "after");
  ASSERT_TRUE(PopUntil(slow.get(), &slow_got,
                       [&](const Responses& r) { return CountEvents(r, slow_id) == expected.size() + 1; }));
  EXPECT_EQ(hub_.UnsyncedWatcherCount(), 0u);
  // Headers never run ahead of what was delivered.
  int64_t delivered = 0;
  for (const auto& r : slow_got) {
    for (const auto& e : r.events()) {
      EXPECT_GT(e.kv().mod_revision(), delivered);
      delivered = e.kv().mod_revision();
    }
    if (r.events_size() > 0) EXPECT_GE(r.header().revision(), delivered);
  }
}

TEST_F(SmallBufferHubTest, ManyWatchersRandomReadersConcurrentWriterExactlyOnce) {
  // Watchers come and go through synced -> parked -> catching up -> synced many times.
  constexpr int kStreams = 4;
  constexpr int kWatchersPerStream = 6;
  constexpr int kWrites = 600;
  std::vector<std::shared_ptr<WatchStream>> streams;
  std::vector<std::vector<std::pair<int64_t, WatchShape>>> watchers(kStreams);
  std::mt19937 rng(42);
  for (int i = 0; i < 30; ++i) writer_.Put("k" + std::to_string(i % 9), "pre");  // revs 2..31
  std::vector<Responses> got(kStreams);
  for (int s = 0; s < kStreams; ++s) {
    streams.push_back(hub_.OpenStream());
    for (int w = 0; w < kWatchersPerStream; ++w) {
      WatchShape shape;
      shape.key = (w % 3 == 0) ? "k1" : "k";
      shape.range_end = (w % 3 == 0) ? "" : "l";
      shape.start_revision = 2 + static_cast<int64_t>(rng() % 40);  // some past, some future
      shape.no_delete = (w % 4 == 1);
      auto request = CreateRequest(shape.key, shape.range_end, shape.start_revision);
      if (shape.no_delete) request.add_filters(etcdserverpb::WatchCreateRequest::NODELETE);
      watchers[s].push_back({CreateKeeping(streams[s].get(), request, &got[s]), shape});
    }
  }
  std::atomic<bool> writing{true};
  writer_.set_wait(false);  // as the member's writer: publications queue up and are fanned out together
  std::thread writer([&] {
    std::mt19937 wrng(7);
    for (int i = 0; i < kWrites; ++i) {
      std::string key = "k" + std::to_string(wrng() % 9);
      if (wrng() % 4 == 0) {
        writer_.Delete(key);
      } else if (wrng() % 5 == 0) {
        writer_.Apply({{Op::kPut, key, "t1"}, {Op::kPut, key + "x", "t2"}, {Op::kPut, "m", "t3"}});
      } else {
        writer_.Put(key, std::to_string(i));
      }
    }
    writing = false;
  });
  std::vector<std::thread> readers;
  for (int s = 0; s < kStreams; ++s) {
    readers.emplace_back([&, s] {
      std::mt19937 rrng(100 + s);
      etcdserverpb::WatchResponse r;
      while (writing) {
        for (int n = static_cast<int>(rrng() % 5); n > 0 && streams[s]->Pop(&r); --n) got[s].push_back(r);
        std::this_thread::sleep_for(std::chrono::microseconds(rrng() % 400));
      }
    });
  }
  writer.join();
  for (auto& t : readers) t.join();
  const auto log = history_.All();
  for (int s = 0; s < kStreams; ++s) {
    for (auto& [id, shape] : watchers[s]) {
      const auto expected = Describe(Expected(log, shape));
      ASSERT_TRUE(PopUntil(streams[s].get(), &got[s], [&, id = id](const Responses& r) {
        return CountEvents(r, id) >= expected.size();
      })) << "stream " << s << " watcher " << id;
      EXPECT_EQ(Describe(EventsOf(got[s], id)), expected) << "stream " << s << " watcher " << id;
    }
  }
}

TEST_F(HubTest, ProgressRequestAnswersWithMinusOneAndCurrentRevision) {
  auto stream = hub_.OpenStream();
  Create(stream.get(), CreateRequest("a"));
  writer_.Put("b", "1");
  writer_.Put("b", "2");
  stream->RequestProgress();
  etcdserverpb::WatchResponse progress;
  ASSERT_TRUE(stream->Pop(&progress));
  EXPECT_EQ(progress.watch_id(), -1);
  EXPECT_EQ(progress.header().revision(), 3);
  EXPECT_EQ(progress.events_size(), 0);
  EXPECT_FALSE(progress.created() || progress.canceled());
}

// Publish only queues the batch for the hub's fan-out thread. Batches queued together are fanned out as
// one, still in order and exactly once, and a progress request made after them is answered after them.
TEST_F(HubTest, QueuedPublicationsArriveInOrderBeforeALaterProgressAnswer) {
  auto stream = hub_.OpenStream();
  int64_t id = Create(stream.get(), CreateRequest("k", "l"));
  writer_.set_wait(false);
  std::vector<std::string> expected;
  int64_t last = 0;
  for (int i = 0; i < 300; ++i) {
    const std::string key = "k" + std::to_string(i % 7);
    last = writer_.Put(key, std::to_string(i));
    expected.push_back("put " + key + "@" + std::to_string(last));
  }
  stream->RequestProgress();
  Responses got;
  ASSERT_TRUE(PopUntil(stream.get(), &got, [](const Responses& r) { return !r.empty() && r.back().watch_id() == -1; }));
  EXPECT_EQ(Describe(EventsOf(got, id)), expected) << "every event before the progress answer, in order";
  EXPECT_EQ(got.back().header().revision(), last);
}

TEST_F(SmallBufferHubTest, ProgressRequestWaitsForCatchUp) {
  auto stream = hub_.OpenStream();
  int64_t id = Create(stream.get(), CreateRequest("a"));
  for (int i = 0; i < 40; ++i) writer_.Put("a", std::string(30, 'v'));  // parks the watcher
  ASSERT_EQ(hub_.UnsyncedWatcherCount(), 1u);
  stream->RequestProgress();
  Responses got;
  ASSERT_TRUE(PopUntil(stream.get(), &got, [](const Responses& r) { return !r.empty() && r.back().watch_id() == -1; }));
  EXPECT_EQ(CountEvents(got, id), 40u) << "the progress answer comes only after every event it vouches for";
  EXPECT_EQ(got.back().header().revision(), 41);
}

class ProgressNotifyHubTest : public HubTest {
 protected:
  static HubOptions Fast() {
    HubOptions options;
    options.progress_notify_interval = absl::Milliseconds(20);
    return options;
  }
  ProgressNotifyHubTest() : HubTest(Fast()) {}
};

TEST_F(ProgressNotifyHubTest, IdleWatcherWithProgressNotifyHearsTheRevision) {
  writer_.Put("other", "1");
  auto stream = hub_.OpenStream();
  auto request = CreateRequest("a");
  request.set_progress_notify(true);
  int64_t id = Create(stream.get(), request);
  int64_t silent = Create(stream.get(), CreateRequest("a2"));
  Responses got;
  ASSERT_TRUE(PopUntil(stream.get(), &got, [&](const Responses& r) { return !r.empty(); }));
  EXPECT_EQ(got[0].watch_id(), id);
  EXPECT_EQ(got[0].events_size(), 0);
  EXPECT_EQ(got[0].header().revision(), 2);
  for (const auto& r : got) EXPECT_NE(r.watch_id(), silent);
}

class FragmentHubTest : public HubTest {
 protected:
  static HubOptions Tiny() {
    HubOptions options;
    options.max_response_bytes = 300;
    return options;
  }
  FragmentHubTest() : HubTest(Tiny()) {}
};

TEST_F(FragmentHubTest, LargeResponsesAreSplitOnlyForWatchersThatAskForFragments) {
  auto stream = hub_.OpenStream();
  auto fragmented = CreateRequest("k", "l");
  fragmented.set_fragment(true);
  int64_t frag_id = Create(stream.get(), fragmented);
  int64_t whole_id = Create(stream.get(), CreateRequest("k", "l"));
  std::vector<Op> ops;
  for (int i = 0; i < 20; ++i) ops.push_back({Op::kPut, "k" + std::to_string(i), std::string(40, 'x')});
  writer_.Apply(ops);  // one revision, 20 events, ~1.5 KB
  Responses got;
  ASSERT_TRUE(PopUntil(stream.get(), &got, [&](const Responses& r) {
    return CountEvents(r, frag_id) == 20 && CountEvents(r, whole_id) == 20;
  }));
  int whole_responses = 0;
  std::vector<bool> fragment_flags;
  for (const auto& r : got) {
    if (r.watch_id() == whole_id) ++whole_responses;
    if (r.watch_id() == frag_id) {
      fragment_flags.push_back(r.fragment());
      EXPECT_EQ(r.header().revision(), 2);
    }
  }
  EXPECT_EQ(whole_responses, 1);
  ASSERT_GE(fragment_flags.size(), 3u);
  for (size_t i = 0; i + 1 < fragment_flags.size(); ++i) EXPECT_TRUE(fragment_flags[i]);
  EXPECT_FALSE(fragment_flags.back()) << "the last piece closes the fragmented response";
  EXPECT_EQ(Describe(EventsOf(got, frag_id)), Describe(EventsOf(got, whole_id)));
}

TEST_F(FragmentHubTest, ReplayedHistoryIsCutIntoResponsesNearTheLimitBetweenRevisions) {
  for (int i = 0; i < 20; ++i) writer_.Put("k", std::string(40, 'x'));  // revs 2..21, ~60-byte events
  auto stream = hub_.OpenStream();
  int64_t id = Create(stream.get(), CreateRequest("k", "", 2));
  Responses got;
  ASSERT_TRUE(PopUntil(stream.get(), &got, [&](const Responses& r) { return CountEvents(r, id) == 20; }));
  EXPECT_GE(got.size(), 4u) << "not one response of 20 events";
  for (const auto& r : got) {
    EXPECT_LT(r.ByteSizeLong(), 300u + 200u);
    EXPECT_FALSE(r.fragment()) << "cut between revisions: complete responses, not fragments";
    EXPECT_EQ(r.header().revision(), r.events(r.events_size() - 1).kv().mod_revision());
  }
  EXPECT_EQ(Describe(EventsOf(got, id)), Describe(Expected(history_.All(), {"k", "", 2})));
}

class SplitHistoryHubTest : public HubTest {
 protected:
  static HubOptions Batches() {
    HubOptions options;
    options.catchup_batch_events = 3;
    // Responses as small as possible: the outbox then never merges a watcher's queued responses, so
    // the test sees each catch-up batch's own cut.
    options.max_response_bytes = 1;
    return options;
  }
  SplitHistoryHubTest() : HubTest(Batches(), /*strict_history=*/true) {}
};

TEST_F(SplitHistoryHubTest, CatchUpInBatchesNeverEndsAResponseInsideARevision) {
  for (int rev = 0; rev < 30; ++rev) {
    std::vector<Op> ops;
    for (int i = 0; i <= rev % 5; ++i) ops.push_back({Op::kPut, "k" + std::to_string(i), std::to_string(rev)});
    writer_.Apply(ops);  // revisions of 1..5 events, with batches of 3
  }
  auto stream = hub_.OpenStream();
  int64_t id = Create(stream.get(), CreateRequest("k", "l", 1));
  const auto expected = Describe(Expected(history_.All(), {"k", "l", 1}));
  Responses got;
  ASSERT_TRUE(PopUntil(stream.get(), &got, [&](const Responses& r) { return CountEvents(r, id) >= expected.size(); }));
  EXPECT_EQ(Describe(EventsOf(got, id)), expected);
  EXPECT_GT(got.size(), 10u) << "history came in several batches";
  int64_t covered = 0;
  for (const auto& r : got) {
    ASSERT_GT(r.events_size(), 0);
    EXPECT_GT(r.events(0).kv().mod_revision(), covered) << "a revision continued in a later response";
    EXPECT_GE(r.header().revision(), r.events(r.events_size() - 1).kv().mod_revision());
    covered = r.header().revision();
  }
}

// The member's writer applies a batch without building its events when no watcher is synced (WantsEvents),
// then publishes the revision alone. A watcher created in between still gets the batch, from history.
TEST_F(HubTest, WatcherCreatedAfterTheWriterSkippedEventsGetsThemFromHistory) {
  ASSERT_FALSE(hub_.WantsEvents()) << "nobody watches yet";
  auto stream = hub_.OpenStream();
  const int64_t id = Create(stream.get(), CreateRequest("a"));  // from revision 2, synced at once
  EXPECT_TRUE(hub_.WantsEvents());
  history_.Commit({{Op::kPut, "a", "1"}});  // revision 2, applied without its events
  hub_.PublishWithoutEvents(history_.CurrentRevision());
  writer_.Put("a", "2");  // revision 3, published with its events
  Responses got;
  ASSERT_TRUE(PopUntil(stream.get(), &got, [&](const Responses& r) { return CountEvents(r, id) >= 2; }));
  DrainAvailable(stream.get(), &got);
  EXPECT_EQ(Describe(EventsOf(got, id)), (std::vector<std::string>{"put a@2", "put a@3"}));
  EXPECT_EQ(hub_.UnsyncedWatcherCount(), 0u) << "caught up and synced again";
}

TEST_F(HubTest, WatcherCreatedAfterASkippedBatchWasCommittedDoesNotGetItAgain) {
  ASSERT_FALSE(hub_.WantsEvents());
  history_.Commit({{Op::kPut, "a", "1"}});  // revision 2, committed without its events
  auto stream = hub_.OpenStream();
  const int64_t id = Create(stream.get(), CreateRequest("a"));  // from revision 3: the store is at 2
  hub_.PublishWithoutEvents(history_.CurrentRevision());
  EXPECT_EQ(hub_.UnsyncedWatcherCount(), 0u) << "it lacks nothing, so it stays synced";
  writer_.Put("a", "2");  // revision 3
  Responses got;
  ASSERT_TRUE(PopUntil(stream.get(), &got, [&](const Responses& r) { return CountEvents(r, id) >= 1; }));
  DrainAvailable(stream.get(), &got);
  EXPECT_EQ(Describe(EventsOf(got, id)), (std::vector<std::string>{"put a@3"}));
}

// Watchers come and go one at a time while a writer thread skips the events nobody is synced for: each
// watcher's events are exactly the history from its start, without a gap, until it is cancelled.
TEST_F(HubTest, WatchersComingAndGoingWhileTheWriterSkipsUnwatchedEventsMissNothing) {
  writer_.set_wait(false);
  writer_.set_skip_unwanted_events(true);
  writer_.set_apply_time(std::chrono::microseconds(50));  // watchers often arrive while a batch applies
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) writer_.Put("k" + std::to_string(i % 5), std::to_string(i));
  });
  auto stream = hub_.OpenStream();
  Responses got;
  std::vector<std::pair<int64_t, int64_t>> watched;  // watch id, first revision it watches
  for (int round = 0; round < 30; ++round) {
    stream->Create(CreateRequest("k", "l"));
    size_t seen = got.size();
    ASSERT_TRUE(PopUntil(stream.get(), &got, [&](const Responses& r) {
      for (; seen < r.size(); ++seen) {
        if (r[seen].created()) return true;
      }
      return false;
    }));
    const int64_t id = got[seen].watch_id();
    watched.emplace_back(id, got[seen].header().revision() + 1);
    ASSERT_TRUE(PopUntil(stream.get(), &got, [&](const Responses& r) { return CountEvents(r, id) >= 10; }));
    stream->Cancel(id);
    ASSERT_TRUE(PopUntil(stream.get(), &got, [&](const Responses& r) {
      return !r.empty() && r.back().watch_id() == id && r.back().canceled();
    }));
  }
  stop = true;
  writer.join();
  const auto log = history_.All();
  for (const auto& [id, from] : watched) {
    auto expected = Describe(Expected(log, {"k", "l", from}));
    const auto delivered = Describe(EventsOf(got, id));
    ASSERT_GE(expected.size(), delivered.size()) << "watch " << id;
    expected.resize(delivered.size());
    EXPECT_EQ(delivered, expected) << "watch " << id << " from revision " << from;
  }
}

TEST_F(HubTest, ClosingAStreamRemovesItsWatchers) {
  auto stream = hub_.OpenStream();
  Create(stream.get(), CreateRequest("a"));
  Create(stream.get(), CreateRequest("b", "", 1));
  EXPECT_EQ(hub_.WatcherCount(), 2u);
  stream->Close();
  EXPECT_EQ(hub_.WatcherCount(), 0u);
  writer_.Put("a", "1");  // nobody left to deliver to; must not crash
  etcdserverpb::WatchResponse r;
  EXPECT_FALSE(stream->Pop(&r));
  stream.reset();
  writer_.Put("a", "2");
}

}  // namespace
}  // namespace cairn::watch
