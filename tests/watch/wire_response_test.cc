// The pre-encoded response path: what the outbox writes must be, byte for byte, the WatchResponse the
// protobuf path would have built (events, prev_kv choice, header, watch_id, fragments), so every etcd client
// decodes it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server/watch/encoded_events.h"
#include "server/watch/outbox.h"
#include "server/watch/wire_response.h"

namespace cairn::watch {
namespace {

mvccpb::Event MakeEvent(const std::string& key, int64_t rev, bool is_delete, size_t value_bytes, bool prev) {
  mvccpb::Event e;
  if (is_delete) e.set_type(mvccpb::Event::DELETE);
  auto* kv = e.mutable_kv();
  kv->set_key(key);
  kv->set_mod_revision(rev);
  if (!is_delete) {
    kv->set_create_revision(rev - 1);
    kv->set_version(3);
    kv->set_value(std::string(value_bytes, 'v'));
    kv->set_lease(0x1234);
  }
  if (prev) {
    auto* p = e.mutable_prev_kv();
    p->set_key(key);
    p->set_value(std::string(value_bytes / 2 + 1, 'p'));
    p->set_mod_revision(rev - 1);
  }
  return e;
}

// A mix: puts and deletes, with and without prev_kv, an empty value, values past 127 bytes (two-byte lengths).
std::vector<mvccpb::Event> MixedEvents(int64_t rev) {
  return {MakeEvent("a", rev, false, 10, true), MakeEvent("b", rev, true, 0, true),
          MakeEvent("c", rev, false, 0, false), MakeEvent("d", rev + 1, false, 300, true),
          MakeEvent(std::string(1, '\0'), rev + 1, true, 0, false)};
}

void Stamp(etcdserverpb::ResponseHeader* h) {
  h->set_cluster_id(0xdeadbeefcafef00dULL);
  h->set_member_id(77);
  h->set_raft_term(3);
}

std::string EntryOf(mvccpb::Event event, bool prev_kv) {
  if (!prev_kv) event.clear_prev_kv();
  etcdserverpb::WatchResponse r;
  *r.add_events() = event;
  return r.SerializeAsString();  // exactly one `events` entry: tag, length, message
}

// What the protobuf path built for one watcher's events (as the outbox did before pre-encoding).
etcdserverpb::WatchResponse Reference(int64_t watch_id, int64_t revision, const std::vector<mvccpb::Event>& events,
                                      bool prev_kv) {
  etcdserverpb::WatchResponse r;
  r.set_watch_id(watch_id);
  for (const auto& e : events) {
    mvccpb::Event* copy = r.add_events();
    *copy = e;
    if (!prev_kv) copy->clear_prev_kv();
  }
  Stamp(r.mutable_header());
  r.mutable_header()->set_revision(revision);
  return r;
}

TEST(EncodedBatchTest, EachEntryIsTheProtobufEncodingInBothVariants) {
  const std::vector<mvccpb::Event> events = MixedEvents(10);
  auto batch = EncodedBatch::Encode(events, {/*with_prev_kv=*/true, /*without_prev_kv=*/true});
  ASSERT_EQ(batch->size(), events.size());
  for (bool prev_kv : {false, true}) {
    std::string all;
    for (uint32_t i = 0; i < events.size(); ++i) {
      const grpc::Slice one = batch->Span(i, i + 1, prev_kv);
      const std::string want = EntryOf(events[i], prev_kv);
      EXPECT_EQ(std::string(reinterpret_cast<const char*>(one.begin()), one.size()), want)
          << "event " << i << " prev_kv " << prev_kv;
      EXPECT_EQ(batch->EntryBytes(i, prev_kv), want.size());
      mvccpb::Event copy = events[i];
      if (!prev_kv) copy.clear_prev_kv();
      EXPECT_EQ(batch->EventBytes(i, prev_kv), copy.ByteSizeLong());
      all += want;
    }
    const grpc::Slice span = batch->Span(0, static_cast<uint32_t>(events.size()), prev_kv);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(span.begin()), span.size()), all);
  }
  EXPECT_EQ(batch->revision(3), 11);
}

TEST(EncodedBatchTest, WithoutAnyPrevKvBothVariantsAreTheSameBytes) {
  std::vector<mvccpb::Event> events = {MakeEvent("x", 4, false, 8, false), MakeEvent("y", 4, true, 0, false)};
  auto batch = EncodedBatch::Encode(events, {/*with_prev_kv=*/true, /*without_prev_kv=*/false});
  for (bool prev_kv : {false, true}) {
    const grpc::Slice span = batch->Span(0, 2, prev_kv);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(span.begin()), span.size()),
              EntryOf(events[0], true) + EntryOf(events[1], true));
  }
}

TEST(WireResponseTest, PrefixAndEntriesAreTheSerializedMessage) {
  const std::vector<mvccpb::Event> events = MixedEvents(20);
  auto batch = EncodedBatch::Encode(events, {true, true});
  for (int64_t watch_id : {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{1} << 40}) {
    for (bool prev_kv : {false, true}) {
      etcdserverpb::ResponseHeader header;
      Stamp(&header);
      header.set_revision(21);
      WireResponse wire = WireResponse::WithPrefix(header, watch_id, /*fragment=*/false);
      wire.Append(batch->Span(0, 2, prev_kv));
      wire.Append(batch->Span(3, 5, prev_kv));
      const std::vector<mvccpb::Event> picked = {events[0], events[1], events[3], events[4]};
      EXPECT_EQ(wire.Flatten(), Reference(watch_id, 21, picked, prev_kv).SerializeAsString())
          << "watch_id " << watch_id << " prev_kv " << prev_kv;
      EXPECT_EQ(wire.bytes(), wire.Flatten().size());
    }
  }
  etcdserverpb::ResponseHeader empty;
  etcdserverpb::WatchResponse want;
  want.mutable_header();
  want.set_watch_id(5);
  want.set_fragment(true);
  EXPECT_EQ(WireResponse::WithPrefix(empty, 5, true).Flatten(), want.SerializeAsString());
}

TEST(WireResponseTest, GrpcSerializationSendsTheSameBytes) {
  auto batch = EncodedBatch::Encode(MixedEvents(3), {true, true});
  etcdserverpb::ResponseHeader header;
  header.set_revision(4);
  WireResponse wire = WireResponse::WithPrefix(header, 9, false);
  wire.Append(batch->Span(0, 5, true));
  grpc::ByteBuffer buffer;
  bool own = false;
  ASSERT_TRUE(grpc::SerializationTraits<WireResponse>::Serialize(wire, &buffer, &own).ok());
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(buffer.Dump(&slices).ok());
  std::string sent;
  for (const auto& s : slices) sent.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_EQ(sent, wire.Flatten());

  WireResponse back;
  ASSERT_TRUE(grpc::SerializationTraits<WireResponse>::Deserialize(&buffer, &back).ok());
  EXPECT_EQ(back.Flatten(), sent);
}

OutboxItem Item(int64_t watch_id, const std::shared_ptr<const EncodedBatch>& batch, std::vector<EventRun> runs,
                int64_t revision, bool prev_kv, bool fragment) {
  OutboxItem item;
  item.watch_id = watch_id;
  item.header_revision = revision;
  for (const auto& run : runs) item.AddEvents(batch, run.begin, run.end);
  item.with_prev_kv = prev_kv;
  item.fragment = fragment;
  for (const auto& run : runs) item.bytes += batch->SpanBytes(run.begin, run.end, prev_kv);
  return item;
}

TEST(OutboxWireTest, MergedResponseAcrossBatchesIsWhatTheProtobufPathBuilt) {
  Outbox outbox({/*buffer_bytes=*/1 << 20, /*max_response_bytes=*/1 << 20, Stamp}, nullptr);
  const std::vector<mvccpb::Event> first = MixedEvents(30), second = MixedEvents(32);
  for (bool prev_kv : {false, true}) {
    auto b1 = EncodedBatch::Encode(first, {true, true});
    auto b2 = EncodedBatch::Encode(second, {true, true});
    bool kick = false;
    outbox.Push(Item(7, b1, {{0, 1}, {3, 5}}, 31, prev_kv, false), &kick);
    outbox.Push(Item(7, b2, {{1, 3}}, 33, prev_kv, false), &kick);
    WireResponse wire;
    ASSERT_TRUE(outbox.Pop(&wire));
    const std::vector<mvccpb::Event> want = {first[0], first[3], first[4], second[1], second[2]};
    EXPECT_EQ(wire.Flatten(), Reference(7, 33, want, prev_kv).SerializeAsString()) << "prev_kv " << prev_kv;
    EXPECT_FALSE(outbox.Pop(&wire));
  }
}

TEST(OutboxWireTest, LargeSpansAreSharedAndSmallOnesCopiedIntoTheSameBytes) {
  Outbox outbox({1 << 20, 1 << 20, Stamp}, nullptr);
  const std::vector<mvccpb::Event> big = {MakeEvent("big", 40, false, 3000, true)};
  const std::vector<mvccpb::Event> small = MixedEvents(41);
  auto b_big = EncodedBatch::Encode(big, {true, true});
  auto b_small = EncodedBatch::Encode(small, {true, true});
  for (bool prev_kv : {false, true}) {
    bool kick = false;
    OutboxItem item;
    item.watch_id = 8;
    item.header_revision = 42;
    item.with_prev_kv = prev_kv;
    item.AddEvents(b_big, 0, 1);    // first span large: the prefix gets a buffer of its own
    item.AddEvents(b_small, 0, 2);  // small spans copied together
    item.AddEvents(b_small, 3, 5);
    item.AddEvents(b_big, 0, 1);    // large again, shared
    outbox.Push(std::move(item), &kick);
    WireResponse wire;
    ASSERT_TRUE(outbox.Pop(&wire));
    const std::vector<mvccpb::Event> want = {big[0], small[0], small[1], small[3], small[4], big[0]};
    EXPECT_EQ(wire.Flatten(), Reference(8, 42, want, prev_kv).SerializeAsString()) << "prev_kv " << prev_kv;
    EXPECT_EQ(wire.slices().size(), 4u) << "prefix, big, copied smalls, big";
  }
}

TEST(OutboxWireTest, ControlResponseIsStampedAndSerialized) {
  Outbox outbox({1 << 20, 1 << 20, Stamp}, nullptr);
  OutboxItem item;
  item.watch_id = 3;
  item.header_revision = 12;
  item.control = std::make_unique<etcdserverpb::WatchResponse>();
  item.control->set_watch_id(3);
  item.control->set_canceled(true);
  item.control->set_compact_revision(9);
  item.control->set_cancel_reason("why");
  bool kick = false;
  outbox.Push(std::move(item), &kick);
  etcdserverpb::WatchResponse want;
  want.set_watch_id(3);
  want.set_canceled(true);
  want.set_compact_revision(9);
  want.set_cancel_reason("why");
  Stamp(want.mutable_header());
  want.mutable_header()->set_revision(12);
  WireResponse wire;
  ASSERT_TRUE(outbox.Pop(&wire));
  EXPECT_EQ(wire.Flatten(), want.SerializeAsString());
}

// The protobuf path's fragmenting, as it was: pieces cut before an event that would reach the limit
// (each event counted as its size plus 6), all but the last marked fragment.
std::vector<etcdserverpb::WatchResponse> ReferenceFragments(const etcdserverpb::WatchResponse& whole, size_t max) {
  etcdserverpb::WatchResponse shell = whole;
  shell.clear_events();
  shell.set_fragment(true);
  const size_t shell_bytes = shell.ByteSizeLong();
  std::vector<etcdserverpb::WatchResponse> pieces;
  etcdserverpb::WatchResponse piece = shell;
  size_t piece_bytes = shell_bytes;
  for (const auto& event : whole.events()) {
    const size_t event_bytes = event.ByteSizeLong() + 6;
    if (piece.events_size() > 0 && piece_bytes + event_bytes >= max) {
      pieces.push_back(piece);
      piece = shell;
      piece_bytes = shell_bytes;
    }
    *piece.add_events() = event;
    piece_bytes += event_bytes;
  }
  piece.set_fragment(false);
  pieces.push_back(piece);
  return pieces;
}

TEST(OutboxWireTest, FragmentsAreTheProtobufPathsPieces) {
  constexpr size_t kMax = 600;
  std::vector<mvccpb::Event> events;
  for (int i = 0; i < 12; ++i) events.push_back(MakeEvent("key" + std::to_string(i), 50 + i / 3, i % 4 == 3, 150, i % 2));
  auto batch = EncodedBatch::Encode(events, {true, true});
  for (bool prev_kv : {false, true}) {
    Outbox outbox({1 << 20, kMax, Stamp}, nullptr);
    bool kick = false;
    outbox.Push(Item(2, batch, {{0, 5}, {6, 12}}, 53, prev_kv, /*fragment=*/true), &kick);
    std::vector<mvccpb::Event> picked(events.begin(), events.begin() + 5);
    picked.insert(picked.end(), events.begin() + 6, events.end());
    const auto want = ReferenceFragments(Reference(2, 53, picked, prev_kv), kMax);
    ASSERT_GE(want.size(), 3u) << "the test must actually fragment";
    for (size_t p = 0; p < want.size(); ++p) {
      WireResponse wire;
      ASSERT_TRUE(outbox.Pop(&wire)) << "piece " << p;
      EXPECT_EQ(wire.Flatten(), want[p].SerializeAsString()) << "piece " << p << " prev_kv " << prev_kv;
    }
    WireResponse none;
    EXPECT_FALSE(outbox.Pop(&none));
  }
}

TEST(OutboxWireTest, WatchersThatDidNotAskForFragmentsGetOneResponse) {
  std::vector<mvccpb::Event> events;
  for (int i = 0; i < 10; ++i) events.push_back(MakeEvent("k" + std::to_string(i), 5, false, 200, false));
  auto batch = EncodedBatch::Encode(events, {true, true});
  Outbox outbox({1 << 20, 500, Stamp}, nullptr);
  bool kick = false;
  outbox.Push(Item(1, batch, {{0, 10}}, 5, false, /*fragment=*/false), &kick);
  WireResponse wire;
  ASSERT_TRUE(outbox.Pop(&wire));
  EXPECT_EQ(wire.Flatten(), Reference(1, 5, events, false).SerializeAsString());
}

}  // namespace
}  // namespace cairn::watch
