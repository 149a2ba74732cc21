// The Watch gRPC service end to end over loopback: an in-process server with the hub, an in-memory history
// and a test writer publishing as the store's writer thread will.
#include "server/watch/watch_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "tests/watch/fake_history.h"
#include "tests/watch/test_util.h"

namespace cairn::watch {
namespace {

using etcdserverpb::WatchRequest;
using etcdserverpb::WatchResponse;
using testing::CountEvents;
using testing::CreateRequest;
using testing::Describe;
using testing::EventsOf;
using testing::Expected;
using testing::FakeHistory;
using testing::Responses;
using testing::TestWriter;

using ClientStream = grpc::ClientReaderWriter<WatchRequest, WatchResponse>;

// One client-side Watch call.
struct Client {
  grpc::ClientContext context;
  std::unique_ptr<ClientStream> stream;

  bool Send(const etcdserverpb::WatchCreateRequest& create) {
    WatchRequest request;
    *request.mutable_create_request() = create;
    return stream->Write(request);
  }
  // Reads until `done` holds or the stream ends; false if it ended first.
  bool ReadUntil(Responses* got, const std::function<bool(const Responses&)>& done) {
    while (!done(*got)) {
      WatchResponse response;
      if (!stream->Read(&response)) return false;
      got->push_back(std::move(response));
    }
    return true;
  }
  int64_t Watch(const etcdserverpb::WatchCreateRequest& create, Responses* got) {
    EXPECT_TRUE(Send(create));
    const size_t before = got->size();
    EXPECT_TRUE(ReadUntil(got, [&](const Responses& r) {
      for (size_t i = before; i < r.size(); ++i) {
        if (r[i].created()) return true;
      }
      return false;
    }));
    for (size_t i = before; i < got->size(); ++i) {
      if ((*got)[i].created()) return (*got)[i].watch_id();
    }
    return -1;
  }
};

class WatchServiceTest : public ::testing::Test {
 protected:
  void Start(HubOptions options = {}) {
    hub_ = std::make_unique<WatchHub>(
        &history_, [](etcdserverpb::ResponseHeader* h) { h->set_cluster_id(17); }, options);
    writer_ = std::make_unique<TestWriter>(&history_, hub_.get());
    service_ = std::make_unique<WatchService>(hub_.get());
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port_, 0);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials());
    stub_ = etcdserverpb::Watch::NewStub(channel_);
  }

  void SetUp() override { Start(); }

  void TearDown() override { Stop(); }

  void Stop() {
    if (server_ == nullptr) return;
    service_->Shutdown();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server_->Wait();
    server_.reset();
    service_.reset();
    hub_->Shutdown();
  }

  std::unique_ptr<Client> Connect() {
    auto client = std::make_unique<Client>();
    client->stream = stub_->Watch(&client->context);
    return client;
  }

  FakeHistory history_;
  std::unique_ptr<WatchHub> hub_;
  std::unique_ptr<TestWriter> writer_;
  std::unique_ptr<WatchService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<etcdserverpb::Watch::Stub> stub_;
};

TEST_F(WatchServiceTest, WatchFromPastRevisionReplaysHistoryThenContinuesLive) {
  for (int i = 0; i < 20; ++i) writer_->Put("svc/" + std::to_string(i % 4), std::to_string(i));  // revs 2..21
  auto client = Connect();
  Responses got;
  int64_t id = client->Watch(CreateRequest("svc/", "svc0", 5), &got);
  ASSERT_EQ(id, 0);
  EXPECT_EQ(got[0].header().revision(), 21);
  EXPECT_EQ(got[0].header().cluster_id(), 17u);
  ASSERT_TRUE(client->ReadUntil(&got, [&](const Responses& r) { return CountEvents(r, id) == 17; }));
  for (int i = 0; i < 10; ++i) writer_->Put("svc/live", std::to_string(i));
  ASSERT_TRUE(client->ReadUntil(&got, [&](const Responses& r) { return CountEvents(r, id) == 27; }));
  EXPECT_EQ(Describe(EventsOf(got, id)), Describe(Expected(history_.All(), {"svc/", "svc0", 5})));
}

TEST_F(WatchServiceTest, CancelAndProgressRequests) {
  writer_->Put("a", "1");
  auto client = Connect();
  Responses got;
  int64_t first = client->Watch(CreateRequest("a"), &got);
  int64_t second = client->Watch(CreateRequest("a"), &got);
  WatchRequest cancel;
  cancel.mutable_cancel_request()->set_watch_id(first);
  ASSERT_TRUE(client->stream->Write(cancel));
  ASSERT_TRUE(client->ReadUntil(&got, [](const Responses& r) { return r.back().canceled(); }));
  EXPECT_EQ(got.back().watch_id(), first);
  writer_->Put("a", "2");
  ASSERT_TRUE(client->ReadUntil(&got, [&](const Responses& r) { return CountEvents(r, second) == 1; }));
  EXPECT_EQ(CountEvents(got, first), 0u);
  WatchRequest progress;
  progress.mutable_progress_request();
  ASSERT_TRUE(client->stream->Write(progress));
  ASSERT_TRUE(client->ReadUntil(&got, [](const Responses& r) { return r.back().watch_id() == -1; }));
  EXPECT_EQ(got.back().header().revision(), 3);
}

TEST_F(WatchServiceTest, ThousandWatchersOnOnePrefixAcrossTenStreamsGetEveryEventInOrder) {
  Stop();
  HubOptions options;
  options.stream_buffer_bytes = 256 << 10;  // small enough that watchers park and catch up along the way
  Start(options);
  constexpr int kStreams = 10;
  constexpr int kWatchersPerStream = 100;
  constexpr int kEvents = 1000;
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<Responses> got(kStreams);
  std::vector<std::vector<int64_t>> ids(kStreams);
  for (int s = 0; s < kStreams; ++s) {
    clients.push_back(Connect());
    for (int w = 0; w < kWatchersPerStream; ++w) ids[s].push_back(clients[s]->Watch(CreateRequest("svc/", "svc0"), &got[s]));
  }
  ASSERT_EQ(hub_->WatcherCount(), size_t{kStreams * kWatchersPerStream});

  std::vector<std::thread> readers;
  std::vector<char> complete(kStreams, 0);
  for (int s = 0; s < kStreams; ++s) {
    readers.emplace_back([&, s] {
      size_t counted = 0;  // responses already summed into `total`
      size_t total = 0;
      complete[s] = clients[s]->ReadUntil(&got[s], [&](const Responses& r) {
        for (; counted < r.size(); ++counted) total += r[counted].events_size();
        return total >= size_t{kWatchersPerStream} * kEvents;
      });
    });
  }
  for (int i = 0; i < kEvents; ++i) writer_->Put("svc/" + std::to_string(i % 37), std::to_string(i));
  for (auto& t : readers) t.join();

  const auto expected = Describe(Expected(history_.All(), {"svc/", "svc0", 2}));
  ASSERT_EQ(expected.size(), size_t{kEvents});
  for (int s = 0; s < kStreams; ++s) {
    ASSERT_TRUE(complete[s]) << "stream " << s << " ended early";
    for (int64_t id : ids[s]) {
      ASSERT_EQ(Describe(EventsOf(got[s], id)), expected) << "stream " << s << " watcher " << id;
    }
  }
}

TEST_F(WatchServiceTest, NeverReadingStreamDelaysNeitherPutsNorOtherWatchers) {
  Stop();
  HubOptions options;
  options.stream_buffer_bytes = 256 << 10;
  Start(options);
  constexpr int kPuts = 4000;
  const std::string value(4096, 'v');  // ~16 MB in all: far more than gRPC's windows and the outbox hold

  auto stuck = Connect();
  Responses stuck_got;
  int64_t stuck_id = stuck->Watch(CreateRequest("k/", "k0"), &stuck_got);
  auto reader = Connect();
  Responses reader_got;
  int64_t reader_id = reader->Watch(CreateRequest("k/", "k0"), &reader_got);

  auto reading = std::async(std::launch::async, [&] {
    return reader->ReadUntil(&reader_got, [&](const Responses& r) { return CountEvents(r, reader_id) >= kPuts; });
  });
  auto writing = std::async(std::launch::async, [&] {
    for (int i = 0; i < kPuts; ++i) writer_->Put("k/" + std::to_string(i % 50), value);
  });
  // A blocked Publish would never get here; the generous bound only keeps a broken build from hanging.
  ASSERT_EQ(writing.wait_for(std::chrono::seconds(120)), std::future_status::ready) << "puts were held back";
  ASSERT_EQ(reading.wait_for(std::chrono::seconds(120)), std::future_status::ready);
  ASSERT_TRUE(reading.get());
  const auto expected = Describe(Expected(history_.All(), {"k/", "k0", 2}));
  EXPECT_EQ(Describe(EventsOf(reader_got, reader_id)), expected);
  EXPECT_EQ(hub_->UnsyncedWatcherCount(), 1u) << "the stuck watcher is parked, not waited for";

  // Once it reads, it gets everything, in order, exactly once.
  ASSERT_TRUE(stuck->ReadUntil(&stuck_got, [&](const Responses& r) { return CountEvents(r, stuck_id) >= kPuts; }));
  EXPECT_EQ(Describe(EventsOf(stuck_got, stuck_id)), expected);
  writer_->Put("k/after", "1");
  ASSERT_TRUE(stuck->ReadUntil(&stuck_got, [&](const Responses& r) { return CountEvents(r, stuck_id) > kPuts; }));
}

TEST_F(WatchServiceTest, HalfClosedStreamKeepsReceivingEvents) {
  auto client = Connect();
  Responses got;
  int64_t id = client->Watch(CreateRequest("a"), &got);
  ASSERT_TRUE(client->stream->WritesDone());
  writer_->Put("a", "1");
  ASSERT_TRUE(client->ReadUntil(&got, [&](const Responses& r) { return CountEvents(r, id) == 1; }));
}

TEST_F(WatchServiceTest, ClientCancelRemovesTheStreamsWatchers) {
  auto client = Connect();
  Responses got;
  client->Watch(CreateRequest("a"), &got);
  client->Watch(CreateRequest("b", "", 1), &got);
  ASSERT_EQ(hub_->WatcherCount(), 2u);
  client->context.TryCancel();
  WatchResponse ignored;
  while (client->stream->Read(&ignored)) {
  }
  EXPECT_EQ(client->stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  const auto give_up = std::chrono::steady_clock::now() + testing::kGiveUp;
  while ((hub_->WatcherCount() != 0 || service_->OpenStreams() != 0) && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(hub_->WatcherCount(), 0u);
  EXPECT_EQ(service_->OpenStreams(), 0u);
}

TEST_F(WatchServiceTest, ShutdownFinishesOpenStreamsEvenWithUnreadBacklog) {
  auto idle = Connect();
  auto stuck = Connect();
  Responses got;
  idle->Watch(CreateRequest("a"), &got);
  stuck->Watch(CreateRequest("k/", "k0"), &got);
  const std::string value(8192, 'v');
  for (int i = 0; i < 1500; ++i) writer_->Put("k/" + std::to_string(i), value);  // ~12 MB nobody reads
  Stop();
  WatchResponse ignored;
  while (idle->stream->Read(&ignored)) {
  }
  grpc::Status idle_status = idle->stream->Finish();
  EXPECT_EQ(idle_status.error_code(), grpc::StatusCode::UNAVAILABLE) << idle_status.error_message();
  EXPECT_EQ(idle_status.error_message(), "etcdserver: server stopped");
  while (stuck->stream->Read(&ignored)) {
  }
  EXPECT_FALSE(stuck->stream->Finish().ok());
  EXPECT_EQ(hub_->WatcherCount(), 0u);
}

TEST_F(WatchServiceTest, NewStreamsAfterShutdownAreRefused) {
  service_->Shutdown();
  auto client = Connect();
  WatchRequest request;
  *request.mutable_create_request() = CreateRequest("a");
  client->stream->Write(request);
  WatchResponse ignored;
  EXPECT_FALSE(client->stream->Read(&ignored));
  EXPECT_EQ(client->stream->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace cairn::watch
