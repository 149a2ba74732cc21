// Outbox: the per-stream queue's flow control and consumer wake-ups.
#include "server/watch/outbox.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

namespace cairn::watch {
namespace {

OutboxItem Control(int64_t watch_id, size_t bytes) {
  OutboxItem item;
  item.watch_id = watch_id;
  item.control = std::make_unique<etcdserverpb::WatchResponse>();
  item.control->set_watch_id(watch_id);
  item.bytes = bytes;
  return item;
}

class CountingSink : public OutputSink {
 public:
  void OnOutputReady() override { ++calls; }
  int calls = 0;
};

TEST(OutboxTest, RefusesPastTheBufferButAlwaysTakesOneItem) {
  Outbox outbox({/*buffer_bytes=*/100, /*max_response_bytes=*/1000, nullptr}, nullptr);
  bool kick = false;
  OutboxItem big = Control(1, 500);
  EXPECT_TRUE(outbox.TryPush(big, &kick)) << "an empty outbox takes anything";
  OutboxItem small = Control(2, 10);
  EXPECT_FALSE(outbox.TryPush(small, &kick));
  outbox.Push(std::move(small), &kick);  // control responses ignore the limit
  etcdserverpb::WatchResponse r;
  ASSERT_TRUE(outbox.Pop(&r));
  EXPECT_EQ(r.watch_id(), 1);
  ASSERT_TRUE(outbox.Pop(&r));
  EXPECT_EQ(r.watch_id(), 2);
  EXPECT_FALSE(outbox.Pop(&r));
}

OutboxItem Events(int64_t watch_id, std::shared_ptr<const EncodedBatch> batch, std::vector<EventRun> runs,
                  int64_t revision) {
  OutboxItem item;
  item.watch_id = watch_id;
  for (const EventRun& run : runs) item.AddEvents(batch, run.begin, run.end);
  item.header_revision = revision;
  item.bytes = 10;
  return item;
}

std::shared_ptr<const EncodedBatch> Batch(const std::vector<std::string>& keys, int64_t rev) {
  std::vector<mvccpb::Event> events;
  for (const auto& key : keys) {
    mvccpb::Event e;
    e.mutable_kv()->set_key(key);
    e.mutable_kv()->set_mod_revision(rev);
    events.push_back(e);
  }
  return EncodedBatch::Encode(events, {/*with_prev_kv=*/true, /*without_prev_kv=*/true});
}

TEST(OutboxTest, AWatchersQueuedEventsLeaveInOneResponseInOrderButNotPastItsCancel) {
  Outbox outbox({/*buffer_bytes=*/1000, /*max_response_bytes=*/1000, nullptr}, nullptr);
  bool kick = false;
  auto b2 = Batch({"a"}, 2), b3 = Batch({"b"}, 3), b4 = Batch({"c"}, 4);
  outbox.Push(Events(1, b2, {{0, 1}}, 2), &kick);
  outbox.Push(Events(2, b2, {{0, 1}}, 2), &kick);
  outbox.Push(Events(1, b3, {{0, 1}}, 3), &kick);
  outbox.Push(Control(1, 10), &kick);  // e.g. the watcher's cancel
  outbox.Push(Events(1, b4, {{0, 1}}, 4), &kick);
  etcdserverpb::WatchResponse r;
  ASSERT_TRUE(outbox.Pop(&r));
  EXPECT_EQ(r.watch_id(), 1);
  ASSERT_EQ(r.events_size(), 2);
  EXPECT_EQ(r.events(0).kv().key(), "a");
  EXPECT_EQ(r.events(1).kv().key(), "b");
  EXPECT_EQ(r.header().revision(), 3);
  ASSERT_TRUE(outbox.Pop(&r));
  EXPECT_EQ(r.watch_id(), 2);
  ASSERT_TRUE(outbox.Pop(&r));
  EXPECT_EQ(r.watch_id(), 1);
  EXPECT_EQ(r.events_size(), 0) << "the control response";
  ASSERT_TRUE(outbox.Pop(&r));
  EXPECT_EQ(r.events(0).kv().key(), "c");
  EXPECT_FALSE(outbox.Pop(&r));
}

TEST(OutboxTest, KicksOnlyAnIdleConsumerAndNeverAfterClose) {
  Outbox outbox({100, 1000, nullptr}, nullptr);
  CountingSink sink;
  outbox.SetSink(&sink);
  bool kick = false;
  outbox.Push(Control(1, 1), &kick);
  EXPECT_TRUE(kick);
  outbox.Kick();
  outbox.Push(Control(2, 1), &kick);
  EXPECT_FALSE(kick) << "the consumer is already busy draining";
  etcdserverpb::WatchResponse r;
  while (outbox.Pop(&r)) {
  }
  outbox.Push(Control(3, 1), &kick);
  EXPECT_TRUE(kick) << "the consumer went idle when Pop came back empty";
  outbox.Close();
  outbox.Kick();
  EXPECT_EQ(sink.calls, 1);
  outbox.Push(Control(4, 1), &kick);
  EXPECT_FALSE(kick);
  EXPECT_FALSE(outbox.Pop(&r));
}

TEST(OutboxTest, CallsBackWhenDrainedBelowHalfAfterSayingFull) {
  int room_calls = 0;
  Outbox outbox({100, 1000, nullptr}, [&] { ++room_calls; });
  bool kick = false;
  for (int i = 0; i < 4; ++i) outbox.Push(Control(i, 30), &kick);
  EXPECT_FALSE(outbox.HasRoom());
  etcdserverpb::WatchResponse r;
  ASSERT_TRUE(outbox.Pop(&r));  // 90 left
  ASSERT_TRUE(outbox.Pop(&r));  // 60 left
  EXPECT_EQ(room_calls, 0);
  ASSERT_TRUE(outbox.Pop(&r));  // 30 left: below half
  EXPECT_EQ(room_calls, 1);
  EXPECT_TRUE(outbox.HasRoom());
}

TEST(OutboxTest, BuildsEventResponsesFromSharedBatchWithHeaderAndPrevKvChoice) {
  Outbox outbox({1000, 1000, [](etcdserverpb::ResponseHeader* h) { h->set_member_id(9); }}, nullptr);
  std::vector<mvccpb::Event> events(3);
  for (int i = 0; i < 3; ++i) {
    events[i].mutable_kv()->set_key("k" + std::to_string(i));
    events[i].mutable_kv()->set_mod_revision(5);
    events[i].mutable_prev_kv()->set_key("k" + std::to_string(i));
  }
  auto batch = EncodedBatch::Encode(events, {/*with_prev_kv=*/true, /*without_prev_kv=*/true});
  OutboxItem item;
  item.watch_id = 4;
  item.header_revision = 5;
  item.AddEvents(batch, 0, 1);
  item.AddEvents(batch, 2, 3);
  bool kick = false;
  outbox.Push(std::move(item), &kick);
  etcdserverpb::WatchResponse r;
  ASSERT_TRUE(outbox.Pop(&r));
  EXPECT_EQ(r.watch_id(), 4);
  EXPECT_EQ(r.header().revision(), 5);
  EXPECT_EQ(r.header().member_id(), 9u);
  ASSERT_EQ(r.events_size(), 2);
  EXPECT_EQ(r.events(1).kv().key(), "k2");
  EXPECT_FALSE(r.events(0).has_prev_kv());
  EXPECT_EQ(batch->EventBytes(0, /*prev_kv=*/true), events[0].ByteSizeLong()) << "the shared batch keeps prev_kv";
}

TEST(OutboxTest, PushAllRefusesAWatchersLaterPiecesOnceOneIsRefused) {
  Outbox outbox({/*buffer_bytes=*/100, /*max_response_bytes=*/1000, nullptr}, nullptr);
  auto b = Batch({"a", "b"}, 2);
  std::vector<OutboxItem> items;
  items.push_back(Events(1, b, {{0, 1}}, 2));  // 10 bytes each (see Events)
  items.push_back(Events(2, b, {{0, 1}}, 2));
  items[1].bytes = 95;                          // does not fit after the first
  items.push_back(Events(2, b, {{1, 2}}, 2));  // would fit, but must not overtake watcher 2's refused piece
  items.push_back(Events(3, b, {{0, 1}}, 2));
  std::vector<uint8_t> accepted;
  bool kick = false;
  outbox.TryPushAll(items, &accepted, &kick);
  EXPECT_TRUE(kick);
  EXPECT_EQ(accepted, (std::vector<uint8_t>{1, 0, 0, 1}));
  etcdserverpb::WatchResponse r;
  ASSERT_TRUE(outbox.Pop(&r));
  EXPECT_EQ(r.watch_id(), 1);
  ASSERT_TRUE(outbox.Pop(&r));
  EXPECT_EQ(r.watch_id(), 3);
  EXPECT_FALSE(outbox.Pop(&r));
}

TEST(OutboxTest, AfterABigRoundTheNextRoundOfEventsWaitsForTheScheduledWake) {
  Outbox::Options options{/*buffer_bytes=*/1 << 20, /*max_response_bytes=*/1 << 20, nullptr};
  options.min_round_interval = std::chrono::milliseconds(500);  // far longer than this test takes to pop
  options.paced_round_responses = 2;
  options.min_quiet = std::chrono::hours(1);  // only the interval releases the round here
  Outbox outbox(options, nullptr);
  CountingSink sink;
  outbox.SetSink(&sink);
  std::vector<std::chrono::steady_clock::time_point> wakes;
  outbox.SetWakeScheduler([&](std::chrono::steady_clock::time_point when) { wakes.push_back(when); });

  bool kick = false;
  auto b1 = Batch({"a"}, 2), b2 = Batch({"b"}, 3);
  for (int64_t id : {1, 2, 3}) outbox.Push(Events(id, b1, {{0, 1}}, 2), &kick);
  etcdserverpb::WatchResponse r;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(outbox.Pop(&r)) << "the first round goes at once";
  EXPECT_FALSE(outbox.Pop(&r));

  outbox.Push(Events(1, b2, {{0, 1}}, 3), &kick);
  EXPECT_TRUE(kick);
  EXPECT_FALSE(outbox.Pop(&r)) << "three responses made a big round: the next one waits";
  ASSERT_EQ(wakes.size(), 1u);
  outbox.Push(Control(5, 10), &kick);
  EXPECT_FALSE(kick) << "the scheduled wake-up will kick the consumer";
  EXPECT_FALSE(outbox.Pop(&r)) << "a control response stays behind the events queued before it";
  EXPECT_EQ(wakes.size(), 1u) << "one wake-up is scheduled, not one per try";

  std::this_thread::sleep_until(wakes[0]);
  outbox.Wake();
  EXPECT_EQ(sink.calls, 1);
  ASSERT_TRUE(outbox.Pop(&r));
  EXPECT_EQ(r.events_size(), 1);
  EXPECT_EQ(r.events(0).kv().key(), "b");
  ASSERT_TRUE(outbox.Pop(&r));
  EXPECT_EQ(r.watch_id(), 5);
  EXPECT_FALSE(outbox.Pop(&r));

  outbox.Push(Events(2, b2, {{0, 1}}, 3), &kick);
  EXPECT_TRUE(outbox.Pop(&r)) << "the previous round was small: no waiting";
  EXPECT_EQ(wakes.size(), 1u);
}

TEST(OutboxTest, AHeldRoundStartsOnceThePushesStop) {
  Outbox::Options options{1 << 20, 1 << 20, nullptr};
  options.min_round_interval = std::chrono::hours(1);
  options.paced_round_responses = 1;
  options.min_quiet = std::chrono::milliseconds(300);  // far longer than this test takes to pop
  Outbox outbox(options, nullptr);
  std::vector<std::chrono::steady_clock::time_point> wakes;
  outbox.SetWakeScheduler([&](std::chrono::steady_clock::time_point when) { wakes.push_back(when); });
  bool kick = false;
  auto b1 = Batch({"a"}, 2), b2 = Batch({"b"}, 3);
  outbox.Push(Events(1, b1, {{0, 1}}, 2), &kick);
  etcdserverpb::WatchResponse r;
  ASSERT_TRUE(outbox.Pop(&r));
  outbox.Push(Events(1, b2, {{0, 1}}, 3), &kick);
  EXPECT_FALSE(outbox.Pop(&r)) << "held: the interval has not passed and pushes just happened";
  ASSERT_EQ(wakes.size(), 1u);
  EXPECT_LT(wakes[0], std::chrono::steady_clock::now() + std::chrono::minutes(1)) << "woken for quiet, not the hour";
  std::this_thread::sleep_until(wakes[0]);
  outbox.Wake();
  ASSERT_TRUE(outbox.Pop(&r)) << "no push since: the burst is over";
  EXPECT_EQ(r.events(0).kv().key(), "b");
}

TEST(OutboxTest, ARoundIsNotHeldOnceHalfTheBufferIsQueued) {
  Outbox::Options options{/*buffer_bytes=*/100, 1 << 20, nullptr};
  options.min_round_interval = std::chrono::hours(1);
  options.paced_round_responses = 1;
  options.min_quiet = std::chrono::hours(1);
  Outbox outbox(options, nullptr);
  int wakes = 0;
  outbox.SetWakeScheduler([&](std::chrono::steady_clock::time_point) { ++wakes; });
  bool kick = false;
  auto b = Batch({"a"}, 2);
  outbox.Push(Events(1, b, {{0, 1}}, 2), &kick);
  etcdserverpb::WatchResponse r;
  ASSERT_TRUE(outbox.Pop(&r));
  OutboxItem big = Events(1, b, {{0, 1}}, 3);
  big.bytes = 60;
  outbox.Push(std::move(big), &kick);
  EXPECT_TRUE(outbox.Pop(&r)) << "holding more would park watchers, not batch them";
  EXPECT_EQ(wakes, 0);
}

TEST(OutboxTest, ControlResponsesAreNotHeldByPacing) {
  Outbox::Options options{1 << 20, 1 << 20, nullptr};
  options.min_round_interval = std::chrono::hours(1);
  options.paced_round_responses = 1;
  Outbox outbox(options, nullptr);
  int wakes = 0;
  outbox.SetWakeScheduler([&](std::chrono::steady_clock::time_point) { ++wakes; });
  bool kick = false;
  auto b = Batch({"a"}, 2);
  outbox.Push(Events(1, b, {{0, 1}}, 2), &kick);
  etcdserverpb::WatchResponse r;
  ASSERT_TRUE(outbox.Pop(&r));
  outbox.Push(Control(1, 10), &kick);
  ASSERT_TRUE(outbox.Pop(&r)) << "created/canceled/progress answers are not paced";
  EXPECT_EQ(wakes, 0);
}

}  // namespace
}  // namespace cairn::watch

namespace cairn::watch {
namespace {

// A round of at least `paced_round_responses` responses holds the next one for an hour: only what the
// round in progress has is ready.
Outbox::Options HeldRoundOptions(size_t paced_round_responses) {
  Outbox::Options options{1 << 20, 1 << 20, nullptr};
  options.min_round_interval = std::chrono::hours(1);
  options.paced_round_responses = paced_round_responses;
  options.min_quiet = std::chrono::hours(1);
  return options;
}

// The hint lets the stream's transport gather responses into one socket write; it must never promise a
// response that the next Pop would not give at once, or the gathered ones would wait unflushed.
TEST(OutboxTest, MoreReadyOnlyWhenTheNextPopGivesAResponseAtOnce) {
  Outbox outbox(HeldRoundOptions(2), nullptr);
  outbox.SetWakeScheduler([](std::chrono::steady_clock::time_point) {});
  bool kick = false;
  auto b1 = Batch({"a"}, 2), b2 = Batch({"b"}, 3);
  for (int64_t id : {1, 2, 3}) outbox.Push(Events(id, b1, {{0, 1}}, 2), &kick);
  outbox.Push(Control(4, 10), &kick);
  WireResponse r;
  bool more = false;
  ASSERT_TRUE(outbox.Pop(&r, &more));
  EXPECT_TRUE(more) << "two more responses of the round are queued";
  ASSERT_TRUE(outbox.Pop(&r, &more));
  EXPECT_TRUE(more);
  ASSERT_TRUE(outbox.Pop(&r, &more));
  EXPECT_TRUE(more) << "a control response is never held";
  ASSERT_TRUE(outbox.Pop(&r, &more));
  EXPECT_FALSE(more) << "nothing left";

  outbox.Push(Events(1, b2, {{0, 1}}, 3), &kick);
  outbox.Push(Events(2, b2, {{0, 1}}, 3), &kick);
  EXPECT_FALSE(outbox.Pop(&r, &more)) << "the round was big: the next one is held";
  EXPECT_FALSE(more);
}

// A stream's first response is a control one ("created"), and gRPC holds a buffered first write until
// something flushes it: a watch created and cancelled at once (compacted start revision) must not wait.
TEST(OutboxTest, AControlResponseIsNeverHeldBackEvenWhenMoreFollows) {
  Outbox::Options options{1 << 20, 1 << 20, nullptr};
  Outbox outbox(options, nullptr);
  bool kick = false;
  outbox.Push(Control(1, 5), &kick);
  outbox.Push(Control(1, 5), &kick);
  WireResponse r;
  bool more = true;
  ASSERT_TRUE(outbox.Pop(&r, &more));
  EXPECT_FALSE(more);
  ASSERT_TRUE(outbox.Pop(&r, &more));
  EXPECT_FALSE(more);
}

TEST(OutboxTest, MoreReadyIsFalseWhenOnlyAHeldRoundFollows) {
  Outbox outbox(HeldRoundOptions(1), nullptr);
  outbox.SetWakeScheduler([](std::chrono::steady_clock::time_point) {});
  bool kick = false;
  auto b1 = Batch({"a"}, 2), b2 = Batch({"b"}, 3);
  outbox.Push(Events(1, b1, {{0, 1}}, 2), &kick);
  WireResponse r;
  bool more = true;
  ASSERT_TRUE(outbox.Pop(&r, &more));
  EXPECT_FALSE(more);
  // Pushed after the round began: it belongs to the next round, which pacing holds.
  outbox.Push(Events(2, b2, {{0, 1}}, 3), &kick);
  outbox.Push(Events(3, b2, {{0, 1}}, 3), &kick);
  EXPECT_FALSE(outbox.Pop(&r, &more));
}

}  // namespace
}  // namespace cairn::watch
