// PeerTransport between members in one process, each with its own grpc::Server on 127.0.0.1.
#include "server/peer/peer_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace cairn::peer {
namespace {

constexpr uint64_t kCluster = 0xc1;

// Polls `done` until it holds; fails the test after a generous bound (not a timing assertion: the
// bound only turns a hang into a failure).
bool Eventually(const std::function<bool()>& done) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// A TCP socket on 127.0.0.1 with a kernel-chosen port. Listening, it accepts connections at the
// TCP level but never speaks HTTP/2 (a hung peer); closed, the port is free for a later server.
class RawSocket {
 public:
  explicit RawSocket(bool listen_on_it) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    if (listen_on_it) listen(fd_, 16);
  }
  ~RawSocket() { Close(); }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

std::string MakeTempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "peer-test-XXXXXX").string();
  EXPECT_NE(mkdtemp(pattern.data()), nullptr);
  return pattern;
}

cairnpb::Message Append(uint64_t from, uint64_t to, uint64_t index, size_t payload = 0) {
  cairnpb::Message message;
  message.set_type(cairnpb::MSG_APPEND);
  message.set_from(from);
  message.set_to(to);
  message.set_term(3);
  message.set_index(index);
  if (payload > 0) {
    cairnpb::Entry* entry = message.add_entries();
    entry->set_index(index + 1);
    entry->set_data(std::string(payload, 'x'));
  }
  return message;
}

// One member: a transport, its peer listener, and what its callbacks saw.
class Member {
 public:
  explicit Member(uint64_t id, uint64_t cluster_id = kCluster,
                  std::function<void(PeerTransportOptions&)> tweak = nullptr, int port = 0)
      : id_(id), snapshot_dir_(MakeTempDir()) {
    PeerTransportOptions options;
    options.self_id = id;
    options.cluster_id = cluster_id;
    options.snapshot_dir = snapshot_dir_;
    options.on_message = [this](cairnpb::Message message) {
      if (on_message_hook_) on_message_hook_(message);
      absl::MutexLock lock(&mu_);
      received_.push_back(std::move(message));
    };
    options.on_unreachable = [this](uint64_t peer) {
      absl::MutexLock lock(&mu_);
      ++unreachable_[peer];
    };
    options.on_snapshot_status = [this](uint64_t peer, bool ok) {
      absl::MutexLock lock(&mu_);
      snapshot_status_.push_back({peer, ok});
    };
    if (tweak) tweak(options);
    transport_ = std::make_unique<PeerTransport>(std::move(options));

    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(), &port_);
    ConfigurePeerServer(builder);
    builder.RegisterService(transport_->service());
    server_ = builder.BuildAndStart();
    EXPECT_NE(server_, nullptr);
    EXPECT_GT(port_, 0);
  }

  ~Member() {
    Shutdown();
    std::filesystem::remove_all(snapshot_dir_);
  }

  void Shutdown() {
    if (server_ == nullptr) return;
    transport_->Stop();
    server_->Shutdown();
    server_->Wait();
    server_.reset();
  }

  uint64_t id() const { return id_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  PeerTransport& transport() { return *transport_; }
  const std::string& snapshot_dir() const { return snapshot_dir_; }
  // Runs on the gRPC thread before a message is recorded. Set before traffic starts.
  void set_on_message_hook(std::function<void(const cairnpb::Message&)> hook) { on_message_hook_ = std::move(hook); }

  std::vector<cairnpb::Message> Received() {
    absl::MutexLock lock(&mu_);
    return received_;
  }
  // Indexes of the messages from `from`, in arrival order; OpenStream's heartbeats are not counted.
  std::vector<uint64_t> ReceivedIndexes(uint64_t from) {
    std::vector<uint64_t> indexes;
    for (const cairnpb::Message& m : Received()) {
      if (m.from() == from && m.type() != cairnpb::MSG_HEARTBEAT) indexes.push_back(m.index());
    }
    return indexes;
  }
  // Makes sure the stream to `to` works before a test's counted traffic: sends one heartbeat, and
  // another only after the previous one was dropped with a broken stream. A broken stream reconnects
  // only for its next message (in a member, raft's next heartbeat), so a test that waited without
  // sending would wait forever. On success exactly one heartbeat went through.
  bool OpenStream(uint64_t to) {
    auto send_heartbeat = [&] {
      cairnpb::Message heartbeat;
      heartbeat.set_type(cairnpb::MSG_HEARTBEAT);
      heartbeat.set_from(id_);
      heartbeat.set_to(to);
      heartbeat.set_term(3);
      transport_->Send({heartbeat});
    };
    uint64_t dropped = StatsFor(to).messages_dropped;
    send_heartbeat();
    return Eventually([&] {
      const PeerStats stats = StatsFor(to);
      if (stats.connected) return true;
      if (stats.messages_dropped > dropped) {
        dropped = stats.messages_dropped;
        send_heartbeat();
      }
      return false;
    });
  }
  int Unreachable(uint64_t peer) {
    absl::MutexLock lock(&mu_);
    return unreachable_[peer];
  }
  std::vector<std::pair<uint64_t, bool>> SnapshotStatuses() {
    absl::MutexLock lock(&mu_);
    return snapshot_status_;
  }
  PeerStats StatsFor(uint64_t peer) {
    for (const PeerStats& stats : transport_->Stats().peers) {
      if (stats.id == peer) return stats;
    }
    return PeerStats{};
  }

 private:
  const uint64_t id_;
  const std::string snapshot_dir_;
  std::function<void(const cairnpb::Message&)> on_message_hook_;
  absl::Mutex mu_;
  std::vector<cairnpb::Message> received_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, int> unreachable_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<uint64_t, bool>> snapshot_status_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<PeerTransport> transport_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> out;
  for (uint64_t i = first; i <= last; ++i) out.push_back(i);
  return out;
}

bool StrictlyIncreasing(const std::vector<uint64_t>& values) {
  for (size_t i = 1; i < values.size(); ++i) {
    if (values[i] <= values[i - 1]) return false;
  }
  return true;
}

TEST(PeerTransportTest, MessagesArriveInOrderAndComplete) {
  Member a(1), b(2), c(3);
  for (Member* m : {&a, &b, &c}) {
    for (Member* peer : {&a, &b, &c}) {
      if (peer != m) m->transport().AddPeer(peer->id(), peer->address());
    }
  }
  constexpr uint64_t kCount = 2000;
  // Streams open first (the counted traffic must stay under the queue bound of a stream that has
  // not connected yet); counters are read against their values from then on.
  ASSERT_TRUE(a.OpenStream(2)) << a.StatsFor(2).last_error;
  ASSERT_TRUE(a.OpenStream(3)) << a.StatsFor(3).last_error;
  ASSERT_TRUE(c.OpenStream(2)) << c.StatsFor(2).last_error;
  const PeerStats to_b_before = a.StatsFor(2);
  const int unreachable_before = a.Unreachable(2);
  // Many Send calls, each mixing destinations, from two senders at once.
  std::thread from_c([&] {
    for (uint64_t i = 1; i <= kCount; ++i) c.transport().Send({Append(3, 2, i)});
  });
  // Joined however this test ends, so a failed assertion is reported instead of std::terminate.
  struct JoinAtExit {
    std::thread& thread;
    ~JoinAtExit() {
      if (thread.joinable()) thread.join();
    }
  } join_from_c{from_c};
  for (uint64_t i = 1; i <= kCount; i += 4) {
    std::vector<cairnpb::Message> batch;
    for (uint64_t j = i; j < i + 4; ++j) {
      batch.push_back(Append(1, 2, j, 100));
      batch.push_back(Append(1, 3, j));
    }
    a.transport().Send(std::move(batch));
  }
  from_c.join();
  ASSERT_TRUE(Eventually([&] { return b.ReceivedIndexes(1).size() == kCount && c.ReceivedIndexes(1).size() == kCount; }));
  ASSERT_TRUE(Eventually([&] { return b.ReceivedIndexes(3).size() == kCount; }));
  EXPECT_EQ(b.ReceivedIndexes(1), Range(1, kCount));
  EXPECT_EQ(c.ReceivedIndexes(1), Range(1, kCount));
  EXPECT_EQ(b.ReceivedIndexes(3), Range(1, kCount));
  for (const cairnpb::Message& m : b.Received()) {
    if (m.from() == 1 && m.type() == cairnpb::MSG_APPEND) {
      ASSERT_EQ(m.entries_size(), 1);
      EXPECT_EQ(m.entries(0).data().size(), 100u);
    }
  }
  const PeerStats to_b = a.StatsFor(2);
  EXPECT_EQ(to_b.messages_sent - to_b_before.messages_sent, kCount);
  EXPECT_EQ(to_b.messages_dropped, to_b_before.messages_dropped);
  // b counted every message from a it recorded (the appends and OpenStream's heartbeat).
  auto recorded_from_a = [&] {
    uint64_t n = 0;
    for (const cairnpb::Message& m : b.Received()) n += m.from() == 1;
    return n;
  };
  EXPECT_TRUE(Eventually([&] { return b.StatsFor(1).messages_received == recorded_from_a(); }))
      << b.StatsFor(1).messages_received << " counted, " << recorded_from_a() << " recorded";
  EXPECT_EQ(a.Unreachable(2), unreachable_before);
}

TEST(PeerTransportTest, MessagesForUnknownPeersAreDroppedAndCounted) {
  Member a(1);
  a.transport().Send({Append(1, 9, 1), Append(1, 9, 2)});
  EXPECT_EQ(a.transport().Stats().dropped_unknown_peer, 2u);
}

TEST(PeerTransportTest, PeerThatComesUpLaterReceivesLaterMessages) {
  RawSocket reserved(/*listen_on_it=*/false);
  const int port = reserved.port();
  reserved.Close();  // nothing listens there yet: connections are refused

  Member a(1);
  a.transport().AddPeer(2, "127.0.0.1:" + std::to_string(port));
  uint64_t next = 1;
  ASSERT_TRUE(Eventually([&] {
    a.transport().Send({Append(1, 2, next++)});
    return a.Unreachable(2) > 0;
  }));

  Member b(2, kCluster, nullptr, port);
  ASSERT_TRUE(Eventually([&] {
    a.transport().Send({Append(1, 2, next++)});
    return !b.ReceivedIndexes(1).empty();
  }));
  const uint64_t last = next;
  for (; next <= last + 50; ++next) a.transport().Send({Append(1, 2, next)});
  ASSERT_TRUE(Eventually([&] { return b.ReceivedIndexes(1).back() == last + 50; }));
  const std::vector<uint64_t> got = b.ReceivedIndexes(1);
  EXPECT_TRUE(StrictlyIncreasing(got));
  // Everything after the stream was up arrived.
  for (uint64_t i = last; i <= last + 50; ++i) EXPECT_TRUE(std::find(got.begin(), got.end(), i) != got.end()) << i;
  EXPECT_GT(a.StatsFor(2).messages_dropped, 0u);
}

TEST(PeerTransportTest, FullQueueDropsInsteadOfBlocking) {
  absl::Notification release;
  Member b(2);
  // b's raft driver is stuck: b stops reading, the connection's windows fill, a's writes block.
  b.set_on_message_hook([&](const cairnpb::Message&) { release.WaitForNotification(); });
  Member a(1, kCluster, [](PeerTransportOptions& options) {
    options.max_queued_messages = 32;
    options.disconnected_queue_limit = 32;
  });
  a.transport().AddPeer(2, b.address());
  uint64_t next = 1;
  ASSERT_TRUE(Eventually([&] {
    a.transport().Send({Append(1, 2, next++, 64 << 10)});
    return a.StatsFor(2).messages_dropped > 0;
  }));
  // Send keeps returning while the peer is stuck.
  for (int i = 0; i < 1000; ++i) a.transport().Send({Append(1, 2, next++, 64 << 10)});
  EXPECT_TRUE(Eventually([&] { return a.Unreachable(2) > 0; }));
  release.Notify();
  const uint64_t marker = next++;
  ASSERT_TRUE(Eventually([&] {
    a.transport().Send({Append(1, 2, marker)});
    auto got = b.ReceivedIndexes(1);
    return std::find(got.begin(), got.end(), marker) != got.end();
  }));
  auto got = b.ReceivedIndexes(1);
  got.erase(std::remove(got.begin(), got.end(), marker), got.end());
  EXPECT_TRUE(StrictlyIncreasing(got));
}

TEST(PeerTransportTest, StreamFromAnotherClusterIsRefused) {
  Member a(1, /*cluster_id=*/0xa);
  Member b(2, /*cluster_id=*/0xb);
  a.transport().AddPeer(2, b.address());
  uint64_t next = 1;
  ASSERT_TRUE(Eventually([&] {
    a.transport().Send({Append(1, 2, next++)});
    return !a.StatsFor(2).last_error.empty();
  }));
  EXPECT_NE(a.StatsFor(2).last_error.find("cluster ID mismatch"), std::string::npos) << a.StatsFor(2).last_error;
  EXPECT_TRUE(b.Received().empty());
  EXPECT_GT(b.transport().Stats().streams_refused, 0u);
  EXPECT_TRUE(Eventually([&] { return a.Unreachable(2) > 0; }));
}

// Waits for a forwarded call's answer.
template <typename Response>
class Answer {
 public:
  std::function<void(absl::StatusOr<Response>)> Callback() {
    return [this](absl::StatusOr<Response> answer) {
      result_ = std::move(answer);
      done_.Notify();
    };
  }
  absl::StatusOr<Response> Get() {
    done_.WaitForNotification();
    return result_;
  }

 private:
  absl::Notification done_;
  absl::StatusOr<Response> result_ = absl::UnknownError("no answer");
};

TEST(PeerTransportTest, LeaseCallsReachTheLeaderAndErrorsKeepEtcdText) {
  Member leader(1), follower(2);
  follower.transport().AddPeer(1, leader.address());
  leader.transport().SetLeaseHandlers(
      [](const etcdserverpb::LeaseKeepAliveRequest& request,
         std::function<void(absl::StatusOr<etcdserverpb::LeaseKeepAliveResponse>)> done) {
        if (request.id() != 7) {
          done(absl::NotFoundError("etcdserver: requested lease not found"));
          return;
        }
        etcdserverpb::LeaseKeepAliveResponse response;
        response.set_id(7);
        response.set_ttl(60);
        response.mutable_header()->set_member_id(1);
        // Answer from another thread, as a lessor waiting on the log would.
        std::thread([done, response] { done(response); }).detach();
      },
      [](const etcdserverpb::LeaseTimeToLiveRequest& request,
         std::function<void(absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse>)> done) {
        etcdserverpb::LeaseTimeToLiveResponse response;
        response.set_id(request.id());
        response.set_ttl(-1);
        if (request.keys()) response.add_keys("k1");
        done(response);
      });

  etcdserverpb::LeaseKeepAliveRequest renew;
  renew.set_id(7);
  Answer<etcdserverpb::LeaseKeepAliveResponse> renewed;
  follower.transport().ForwardLeaseRenew(1, renew, renewed.Callback());
  absl::StatusOr<etcdserverpb::LeaseKeepAliveResponse> got = renewed.Get();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->id(), 7);
  EXPECT_EQ(got->ttl(), 60);
  EXPECT_EQ(got->header().member_id(), 1u);

  renew.set_id(8);
  Answer<etcdserverpb::LeaseKeepAliveResponse> missing;
  follower.transport().ForwardLeaseRenew(1, renew, missing.Callback());
  got = missing.Get();
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(got.status().message(), "etcdserver: requested lease not found");

  etcdserverpb::LeaseTimeToLiveRequest ttl;
  ttl.set_id(9);
  ttl.set_keys(true);
  Answer<etcdserverpb::LeaseTimeToLiveResponse> remaining;
  follower.transport().ForwardLeaseTimeToLive(1, ttl, remaining.Callback());
  absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse> ttl_got = remaining.Get();
  ASSERT_TRUE(ttl_got.ok()) << ttl_got.status();
  EXPECT_EQ(ttl_got->id(), 9);
  EXPECT_EQ(ttl_got->ttl(), -1);
  ASSERT_EQ(ttl_got->keys_size(), 1);

  Answer<etcdserverpb::LeaseTimeToLiveResponse> unknown;
  follower.transport().ForwardLeaseTimeToLive(5, ttl, unknown.Callback());
  EXPECT_EQ(unknown.Get().status().code(), absl::StatusCode::kUnavailable);
}

// A follower asks the leader before proposing a membership change; the leader's refusal reaches
// the client with etcd's code and text.
TEST(PeerTransportTest, MembershipChecksReachTheLeaderWithItsVerdictUnchanged) {
  Member leader(1), follower(2);
  follower.transport().AddPeer(1, leader.address());
  leader.transport().SetMembershipCheckHandler(
      [](const cairnpb::MembershipChangeCheck& request,
         std::function<void(absl::StatusOr<cairnpb::MembershipChangeVerdict>)> done) {
        if (request.change().node_id() == 4 && request.strict()) {
          done(absl::UnavailableError("etcdserver: unhealthy cluster"));
          return;
        }
        done(cairnpb::MembershipChangeVerdict());
      });
  auto ask = [&](uint64_t to, uint64_t node, bool strict) {
    cairnpb::MembershipChangeCheck request;
    request.mutable_change()->set_type(cairnpb::CONF_CHANGE_REMOVE_NODE);
    request.mutable_change()->set_node_id(node);
    request.set_strict(strict);
    auto answer = std::make_shared<Answer<cairnpb::MembershipChangeVerdict>>();
    follower.transport().ForwardMembershipCheck(to, request, [callback = answer->Callback()](absl::Status s) {
      if (s.ok()) return callback(cairnpb::MembershipChangeVerdict());
      callback(s);
    });
    return answer->Get().status();
  };
  absl::Status refused = ask(1, 4, true);
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(refused.message(), "etcdserver: unhealthy cluster");
  EXPECT_TRUE(ask(1, 4, false).ok());
  EXPECT_TRUE(ask(1, 3, true).ok());
  EXPECT_EQ(ask(5, 3, true).code(), absl::StatusCode::kUnavailable);  // not a known peer
}

TEST(PeerTransportTest, LeaseCallsTimeOutAndAreRefusedAcrossClusters) {
  Member leader(1);
  Member follower(2, kCluster, [](PeerTransportOptions& options) { options.lease_call_timeout = absl::Milliseconds(200); });
  Member stranger(3, /*cluster_id=*/0xdead);
  follower.transport().AddPeer(1, leader.address());
  stranger.transport().AddPeer(1, leader.address());
  absl::Mutex mu;
  std::vector<std::function<void(absl::StatusOr<etcdserverpb::LeaseKeepAliveResponse>)>> parked;
  leader.transport().SetLeaseHandlers(
      [&](const etcdserverpb::LeaseKeepAliveRequest&,
          std::function<void(absl::StatusOr<etcdserverpb::LeaseKeepAliveResponse>)> done) {
        absl::MutexLock lock(&mu);
        parked.push_back(std::move(done));  // the leader is too slow to answer
      },
      nullptr);

  etcdserverpb::LeaseKeepAliveRequest renew;
  renew.set_id(7);
  Answer<etcdserverpb::LeaseKeepAliveResponse> late;
  follower.transport().ForwardLeaseRenew(1, renew, late.Callback());
  EXPECT_EQ(late.Get().status().code(), absl::StatusCode::kDeadlineExceeded);

  Answer<etcdserverpb::LeaseKeepAliveResponse> foreign;
  stranger.transport().ForwardLeaseRenew(1, renew, foreign.Callback());
  absl::Status refused = foreign.Get().status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("cluster ID mismatch"), absl::string_view::npos) << refused;

  absl::MutexLock lock(&mu);
  for (auto& done : parked) done(etcdserverpb::LeaseKeepAliveResponse());  // answers nobody waits for
}

std::string RandomBytes(size_t size) {
  std::mt19937_64 random(42);
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(random());
  return bytes;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

cairnpb::Message SnapshotMessage(uint64_t from, uint64_t to, uint64_t index) {
  cairnpb::Message message;
  message.set_type(cairnpb::MSG_SNAPSHOT);
  message.set_from(from);
  message.set_to(to);
  message.set_term(4);
  message.mutable_snapshot()->mutable_metadata()->set_index(index);
  message.mutable_snapshot()->mutable_metadata()->set_term(4);
  message.mutable_snapshot()->mutable_metadata()->mutable_conf_state()->add_voters(1);
  message.mutable_snapshot()->set_data("must not travel in the message");
  return message;
}

TEST(PeerTransportTest, SnapshotArrivesByteIdenticalAndSenderHearsOk) {
  Member a(1), b(2);
  a.transport().AddPeer(2, b.address());
  const std::string image = RandomBytes((5 << 20) + 12345);
  const std::string source_path = a.snapshot_dir() + "/image";
  {
    std::ofstream out(source_path, std::ios::binary);
    out.write(image.data(), static_cast<std::streamsize>(image.size()));
  }
  a.transport().SetSnapshotSource([&](const cairnpb::Message& message) -> absl::StatusOr<std::string> {
    EXPECT_EQ(message.snapshot().metadata().index(), 42u);
    return source_path;
  });
  absl::Mutex mu;
  cairnpb::Message installed;
  std::string installed_bytes;
  b.transport().SetSnapshotSink([&](const cairnpb::Message& message, const std::string& path) {
    absl::MutexLock lock(&mu);
    installed = message;
    installed_bytes = ReadFile(path);
    std::filesystem::remove(path);  // the sink owns the file
    return absl::OkStatus();
  });

  a.transport().Send({Append(1, 2, 1), SnapshotMessage(1, 2, 42), Append(1, 2, 2)});
  ASSERT_TRUE(Eventually([&] { return !a.SnapshotStatuses().empty(); }));
  EXPECT_EQ(a.SnapshotStatuses(), (std::vector<std::pair<uint64_t, bool>>{{2, true}}));
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(installed.type(), cairnpb::MSG_SNAPSHOT);
    EXPECT_EQ(installed.from(), 1u);
    EXPECT_EQ(installed.snapshot().metadata().index(), 42u);
    EXPECT_EQ(installed.snapshot().metadata().conf_state().voters_size(), 1);
    EXPECT_TRUE(installed.snapshot().data().empty());
    EXPECT_TRUE(installed_bytes == image) << "received " << installed_bytes.size() << " of " << image.size();
  }
  // The snapshot did not travel on the message stream; the appends did.
  ASSERT_TRUE(Eventually([&] { return b.ReceivedIndexes(1).size() == 2; }));
  for (const cairnpb::Message& m : b.Received()) EXPECT_EQ(m.type(), cairnpb::MSG_APPEND);
  EXPECT_EQ(a.StatsFor(2).snapshots_sent, 1u);
  EXPECT_EQ(b.transport().Stats().snapshots_received, 1u);
}

TEST(PeerTransportTest, RefusedSnapshotIsReportedAndItsFileRemoved) {
  Member a(1), b(2);
  a.transport().AddPeer(2, b.address());
  const std::string source_path = a.snapshot_dir() + "/image";
  {
    std::ofstream out(source_path, std::ios::binary);
    out << RandomBytes(3 << 20);
  }
  a.transport().SetSnapshotSource([&](const cairnpb::Message&) -> absl::StatusOr<std::string> { return source_path; });
  b.transport().SetSnapshotSink([](const cairnpb::Message&, const std::string&) {
    return absl::InternalError("store image does not open");
  });
  a.transport().Send({SnapshotMessage(1, 2, 42)});
  ASSERT_TRUE(Eventually([&] { return !a.SnapshotStatuses().empty(); }));
  EXPECT_EQ(a.SnapshotStatuses(), (std::vector<std::pair<uint64_t, bool>>{{2, false}}));
  ASSERT_TRUE(Eventually([&] { return b.transport().Stats().snapshots_receive_failed == 1; }));
  // The receiver's temp file is gone once the call has ended.
  EXPECT_TRUE(Eventually([&] { return std::filesystem::is_empty(b.snapshot_dir()); }));

  // A source that cannot produce an image reports failure too.
  a.transport().SetSnapshotSource(
      [](const cairnpb::Message&) -> absl::StatusOr<std::string> { return absl::InternalError("no image"); });
  a.transport().Send({SnapshotMessage(1, 2, 43)});
  ASSERT_TRUE(Eventually([&] { return a.SnapshotStatuses().size() == 2; }));
  EXPECT_FALSE(a.SnapshotStatuses()[1].second);
}

TEST(PeerTransportTest, StopReturnsWhilePeersAreUnreachableOrHung) {
  RawSocket hung(/*listen_on_it=*/true);  // accepts TCP, never answers HTTP/2
  RawSocket refused(/*listen_on_it=*/false);
  refused.Close();
  const std::string image_dir = MakeTempDir();
  const std::string image = image_dir + "/image";
  {
    std::ofstream out(image, std::ios::binary);
    out << RandomBytes(2 << 20);
  }
  {
    Member a(1);
    a.transport().AddPeer(2, hung.address());
    a.transport().AddPeer(3, refused.address());
    a.transport().SetSnapshotSource([&](const cairnpb::Message&) -> absl::StatusOr<std::string> { return image; });
    for (uint64_t i = 1; i <= 500; ++i) a.transport().Send({Append(1, 2, i), Append(1, 3, i)});
    a.transport().Send({SnapshotMessage(1, 2, 7), SnapshotMessage(1, 3, 7)});
    Answer<etcdserverpb::LeaseKeepAliveResponse> renewed;
    a.transport().ForwardLeaseRenew(2, etcdserverpb::LeaseKeepAliveRequest(), renewed.Callback());
    ASSERT_TRUE(Eventually([&] { return a.Unreachable(3) > 0; }));
    a.transport().Stop();  // must return although peer 2 never answers
    EXPECT_EQ(renewed.Get().status().code(), absl::StatusCode::kCancelled);
    a.transport().Stop();  // twice is fine
    a.transport().Send({Append(1, 2, 501)});  // ignored after Stop
  }
  std::filesystem::remove_all(image_dir);
}

TEST(PeerTransportTest, RemovedPeerGetsNothingMore) {
  Member a(1), b(2);
  a.transport().AddPeer(2, b.address());
  a.transport().Send({Append(1, 2, 1)});
  ASSERT_TRUE(Eventually([&] { return b.ReceivedIndexes(1).size() == 1; }));
  a.transport().RemovePeer(2);
  a.transport().Send({Append(1, 2, 2)});
  EXPECT_EQ(a.transport().Stats().dropped_unknown_peer, 1u);
  a.transport().AddPeer(2, b.address());  // back again: a fresh stream
  a.transport().AddPeer(1, a.address());  // itself: ignored
  a.transport().Send({Append(1, 2, 3)});
  ASSERT_TRUE(Eventually([&] { return b.ReceivedIndexes(1).size() == 2; }));
  EXPECT_EQ(b.ReceivedIndexes(1), (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(a.transport().Stats().peers.size(), 1u);
}

}  // namespace
}  // namespace cairn::peer

namespace cairn::peer {
namespace {

TEST(PeerTransportTest, HashKVAnswersFromTheSourceAndRefusesOtherClusters) {
  Member peer(1);
  const absl::Duration timeout = absl::Seconds(10);
  // No source yet: not served.
  auto unserved = FetchHashKV(peer.address(), kCluster, 5, timeout);
  EXPECT_EQ(unserved.status().code(), absl::StatusCode::kUnavailable) << unserved.status();

  peer.transport().SetHashKVSource([](int64_t revision) -> absl::StatusOr<cairnpb::PeerHashKVResponse> {
    if (revision > 9) return absl::OutOfRangeError("etcdserver: mvcc: required revision is a future revision");
    cairnpb::PeerHashKVResponse response;
    response.set_member_id(1);
    response.set_hash(4242);
    response.set_hash_revision(revision);
    response.set_compact_revision(-1);
    response.set_current_revision(9);
    return response;
  });
  auto answer = FetchHashKV(peer.address(), kCluster, 5, timeout);
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->hash(), 4242u);
  EXPECT_EQ(answer->hash_revision(), 5);
  EXPECT_EQ(answer->compact_revision(), -1);
  EXPECT_EQ(answer->current_revision(), 9);

  auto future = FetchHashKV(peer.address(), kCluster, 10, timeout);
  EXPECT_EQ(future.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(future.status().message(), "etcdserver: mvcc: required revision is a future revision");

  auto foreign = FetchHashKV(peer.address(), /*cluster_id=*/0xdead, 5, timeout);
  EXPECT_EQ(foreign.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(foreign.status().message().find("cluster ID mismatch"), absl::string_view::npos) << foreign.status();
}

TEST(PeerTransportTest, HashKVFromAPeerThatIsDownFailsWithoutWaitingForIt) {
  RawSocket closed(/*listen_on_it=*/false);  // bound, not listening: connections are refused
  auto answer = FetchHashKV(closed.address(), kCluster, 5, absl::Seconds(30));
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kUnavailable) << answer.status();
}

}  // namespace
}  // namespace cairn::peer
