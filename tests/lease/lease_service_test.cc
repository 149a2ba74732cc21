// The Lease gRPC service in-process on 127.0.0.1, over a real store: what etcd clients see for
// grant, revoke, keep-alive, time-to-live and list (responses and exact errors checked against etcd
// 3.4), keep-alive streams under load, shutdown with open streams, and the service-discovery
// scenario (instances whose keep-alives stop vanish; the others stay).
#include "server/lease/lease_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <set>
#include <thread>

#include "server/lease/lease_errors.h"
#include "tests/lease/service_fixture.h"

namespace cairn::lease {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeClock;
using testing::KeepAliveStream;
using testing::LeaseServiceTest;
using testing::StoreLog;

TEST_F(LeaseServiceTest, GrantPicksAPositiveIdAndRaisesTheTtlToTheMinimum) {
  etcdserverpb::LeaseGrantResponse response;
  ASSERT_TRUE(Grant(1, 0, &response).ok());
  EXPECT_GT(response.id(), 0);
  EXPECT_EQ(response.ttl(), 2);  // etcd 3.4 answers TTL 2 for a 1-second request
  EXPECT_TRUE(response.error().empty());
  ExpectHeader(response.header(), 1);  // a grant takes no revision
  EXPECT_TRUE(lessor_->Exists(response.id()));
  EXPECT_EQ(TimeToLive(response.id(), false).grantedttl(), 2);
}

TEST_F(LeaseServiceTest, GrantWithClientIdAndItsErrors) {
  etcdserverpb::LeaseGrantResponse response;
  ASSERT_TRUE(Grant(60, 0x1234, &response).ok());
  EXPECT_EQ(response.id(), 0x1234);
  EXPECT_EQ(response.ttl(), 60);

  grpc::Status dup = Grant(60, 0x1234, &response);
  EXPECT_EQ(dup.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(dup.error_message(), "etcdserver: lease already exists");

  grpc::Status huge = Grant(kMaxLeaseTtl + 1, 0, &response);
  EXPECT_EQ(huge.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(huge.error_message(), "etcdserver: too large lease TTL");

  // etcd accepts negative IDs a client picks.
  ASSERT_TRUE(Grant(5, -7, &response).ok());
  EXPECT_EQ(response.id(), -7);
  EXPECT_EQ(response.ttl(), 5);
}

TEST_F(LeaseServiceTest, GrantIsRefusedWhileTheSpaceAlarmIsRaisedButRevokeWorks) {
  const int64_t id = MustGrant(60);
  no_space_ = true;
  etcdserverpb::LeaseGrantResponse response;
  grpc::Status s = Grant(60, 0, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(s.error_message(), "etcdserver: mvcc: database space exceeded");
  etcdserverpb::LeaseRevokeResponse revoked;
  EXPECT_TRUE(Revoke(id, &revoked).ok());
}

TEST_F(LeaseServiceTest, PutWithUnknownLeaseIsRefused) {
  absl::Status s = log_->Put("k", "v", 999);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "etcdserver: requested lease not found");
}

TEST_F(LeaseServiceTest, RevokeDeletesAttachedKeysInOneRevision) {
  const int64_t id = MustGrant(60);
  const int64_t other = MustGrant(60);
  ASSERT_TRUE(log_->Put("/services/web/1", "a", id).ok());
  ASSERT_TRUE(log_->Put("/services/web/2", "b", id).ok());
  ASSERT_TRUE(log_->Put("/services/web/3", "c", other).ok());
  ASSERT_TRUE(log_->Put("/plain", "d", 0).ok());
  const int64_t before = log_->store()->CurrentRevision();

  etcdserverpb::LeaseRevokeResponse response;
  ASSERT_TRUE(Revoke(id, &response).ok());
  ExpectHeader(response.header(), before + 1);
  EXPECT_EQ(log_->store()->CurrentRevision(), before + 1);
  EXPECT_EQ(log_->Keys("/", "0"), (std::vector<std::string>{"/plain", "/services/web/3"}));
  EXPECT_FALSE(lessor_->Exists(id));
  EXPECT_EQ(TimeToLive(id, true).ttl(), -1);

  grpc::Status again = Revoke(id, &response);
  EXPECT_EQ(again.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(again.error_message(), "etcdserver: requested lease not found");
  grpc::Status zero = Revoke(0, &response);
  EXPECT_EQ(zero.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(LeaseServiceTest, TimeToLiveReportsRemainingGrantedAndKeys) {
  const int64_t id = MustGrant(60);
  ASSERT_TRUE(log_->Put("b", "1", id).ok());
  ASSERT_TRUE(log_->Put("a", "1", id).ok());
  clock_.Advance(milliseconds(10500));

  etcdserverpb::LeaseTimeToLiveResponse without = TimeToLive(id, false);
  EXPECT_EQ(without.id(), id);
  EXPECT_EQ(without.ttl(), 49);  // 60 s - 10.5 s, truncated as etcd does
  EXPECT_EQ(without.grantedttl(), 60);
  EXPECT_EQ(without.keys_size(), 0);
  ExpectHeader(without.header(), log_->store()->CurrentRevision());

  etcdserverpb::LeaseTimeToLiveResponse with = TimeToLive(id, true);
  ASSERT_EQ(with.keys_size(), 2);
  EXPECT_EQ(with.keys(0), "a");
  EXPECT_EQ(with.keys(1), "b");
}

TEST_F(LeaseServiceTest, TimeToLiveOfUnknownLeaseIsMinusOneNotAnError) {
  etcdserverpb::LeaseTimeToLiveResponse response = TimeToLive(99, true);
  EXPECT_EQ(response.id(), 99);
  EXPECT_EQ(response.ttl(), -1);
  EXPECT_EQ(response.grantedttl(), 0);
  EXPECT_EQ(response.keys_size(), 0);
  ExpectHeader(response.header(), 1);
}

TEST_F(LeaseServiceTest, LeasesListsEveryLiveLease) {
  std::set<int64_t> granted;
  for (int i = 0; i < 5; ++i) granted.insert(MustGrant(30 + i));
  etcdserverpb::LeaseRevokeResponse revoked;
  ASSERT_TRUE(Revoke(*granted.begin(), &revoked).ok());
  granted.erase(granted.begin());

  etcdserverpb::LeaseLeasesResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(stub_->LeaseLeases(&context, etcdserverpb::LeaseLeasesRequest(), &response).ok());
  std::set<int64_t> listed;
  for (const auto& status : response.leases()) listed.insert(status.id());
  EXPECT_EQ(listed, granted);
  ExpectHeader(response.header(), 1);
}

TEST_F(LeaseServiceTest, KeepAliveRenewsAndAnswersUnknownLeasesWithTtlZero) {
  const int64_t id = MustGrant(10);
  grpc::ClientContext context;
  std::unique_ptr<KeepAliveStream> stream = stub_->LeaseKeepAlive(&context);
  for (int round = 0; round < 5; ++round) {
    clock_.Advance(seconds(8));  // would have expired by now without the keep-alives
    ASSERT_TRUE(stream->Write(KeepAlive(id)));
    etcdserverpb::LeaseKeepAliveResponse response;
    ASSERT_TRUE(stream->Read(&response));
    EXPECT_EQ(response.id(), id);
    EXPECT_EQ(response.ttl(), 10);
    ExpectHeader(response.header(), 1);
    lessor_->RevokeExpired();
  }
  EXPECT_TRUE(lessor_->Exists(id));

  ASSERT_TRUE(stream->Write(KeepAlive(4242)));
  etcdserverpb::LeaseKeepAliveResponse unknown;
  ASSERT_TRUE(stream->Read(&unknown));
  EXPECT_EQ(unknown.id(), 4242);
  EXPECT_EQ(unknown.ttl(), 0);  // etcd's answer; clients turn it into "lease not found"
  ExpectHeader(unknown.header(), 1);

  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(LeaseServiceTest, KeepAliveForAnExpiredLeaseAnswersOnlyOnceItsKeysAreGone) {
  const int64_t expired = MustGrant(2);
  const int64_t live = MustGrant(60);
  ASSERT_TRUE(log_->Put("/services/db/1", "x", expired).ok());
  clock_.Advance(seconds(4));

  grpc::ClientContext context;
  std::unique_ptr<KeepAliveStream> stream = stub_->LeaseKeepAlive(&context);
  ASSERT_TRUE(stream->Write(KeepAlive(expired)));
  ASSERT_TRUE(stream->Write(KeepAlive(live)));  // waits behind the first: answers stay in order
  std::vector<etcdserverpb::LeaseKeepAliveResponse> got;
  std::vector<std::string> keys_when_answered;
  std::thread reader([&] {
    etcdserverpb::LeaseKeepAliveResponse response;
    while (got.size() < 2 && stream->Read(&response)) {
      if (got.empty()) keys_when_answered = log_->Keys("/services/", "/services0");
      got.push_back(response);
    }
  });
  std::this_thread::sleep_for(milliseconds(200));  // room for a wrong early answer to show up
  EXPECT_EQ(lessor_->RevokeExpired(), 1u);
  reader.join();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].id(), expired);
  EXPECT_EQ(got[0].ttl(), 0);
  EXPECT_TRUE(keys_when_answered.empty());
  EXPECT_EQ(got[1].id(), live);
  EXPECT_EQ(got[1].ttl(), 60);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(LeaseServiceTest, OneStreamCarriesManyPipelinedKeepAlives) {
  std::vector<int64_t> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(MustGrant(60));
  grpc::ClientContext context;
  std::unique_ptr<KeepAliveStream> stream = stub_->LeaseKeepAlive(&context);
  constexpr int kRequests = 5000;
  std::thread writer([&] {
    for (int i = 0; i < kRequests; ++i) {
      if (!stream->Write(KeepAlive(ids[i % ids.size()]))) return;
    }
    stream->WritesDone();
  });
  int answered = 0;
  etcdserverpb::LeaseKeepAliveResponse response;
  while (stream->Read(&response)) {
    ASSERT_EQ(response.id(), ids[answered % ids.size()]) << "answer " << answered << " out of order";
    ASSERT_EQ(response.ttl(), 60);
    ++answered;
  }
  writer.join();
  EXPECT_EQ(answered, kRequests);
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(lessor_->Stats().renewals, kRequests);
}

TEST_F(LeaseServiceTest, ShutdownFinishesOpenStreams) {
  const int64_t id = MustGrant(60);
  struct Client {
    grpc::ClientContext context;
    std::unique_ptr<KeepAliveStream> stream;
  };
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 8; ++i) {
    auto c = std::make_unique<Client>();
    c->stream = stub_->LeaseKeepAlive(&c->context);
    ASSERT_TRUE(c->stream->Write(KeepAlive(id)));
    etcdserverpb::LeaseKeepAliveResponse response;
    ASSERT_TRUE(c->stream->Read(&response));
    clients.push_back(std::move(c));
  }
  EXPECT_EQ(service_->OpenStreams(), 8u);
  service_->Shutdown();
  for (auto& c : clients) {
    etcdserverpb::LeaseKeepAliveResponse response;
    EXPECT_FALSE(c->stream->Read(&response));
    grpc::Status status = c->stream->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(status.error_message(), "etcdserver: server stopped");
  }
  // New streams are refused at once.
  grpc::ClientContext context;
  auto late = stub_->LeaseKeepAlive(&context);
  etcdserverpb::LeaseKeepAliveResponse response;
  EXPECT_FALSE(late->Read(&response));
  EXPECT_EQ(late->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  StopServer();
}

TEST_F(LeaseServiceTest, ServerStopsWithStreamsWaitingForARevoke) {
  const int64_t id = MustGrant(2);
  clock_.Advance(seconds(5));
  grpc::ClientContext context;
  std::unique_ptr<KeepAliveStream> stream = stub_->LeaseKeepAlive(&context);
  ASSERT_TRUE(stream->Write(KeepAlive(id)));  // waits for a revoke nobody proposes
  std::this_thread::sleep_for(milliseconds(50));
  StopServer();
  etcdserverpb::LeaseKeepAliveResponse response;
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_FALSE(stream->Finish().ok());
}

TEST_F(LeaseServiceTest, FollowerWithoutLeaderRefusesKeepAliveAndTimeToLive) {
  const int64_t id = MustGrant(60);
  lessor_->Demote();
  grpc::ClientContext context;
  std::unique_ptr<KeepAliveStream> stream = stub_->LeaseKeepAlive(&context);
  ASSERT_TRUE(stream->Write(KeepAlive(id)));
  etcdserverpb::LeaseKeepAliveResponse response;
  EXPECT_FALSE(stream->Read(&response));
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(status.error_message(), "etcdserver: no leader");

  grpc::Status ttl_status;
  TimeToLive(id, false, &ttl_status);
  EXPECT_EQ(ttl_status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ttl_status.error_message(), "etcdserver: no leader");
}

class FixedLeader final : public LeaderForwarder {
 public:
  void Renew(int64_t id, std::function<void(absl::StatusOr<int64_t>)> done) override {
    renewed.push_back(id);
    done(int64_t{42});
  }
  void TimeToLive(const etcdserverpb::LeaseTimeToLiveRequest& request,
                  std::function<void(absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse>)> done) override {
    etcdserverpb::LeaseTimeToLiveResponse response;
    response.set_id(request.id());
    response.set_ttl(41);
    response.set_grantedttl(42);
    done(response);
  }
  std::vector<int64_t> renewed;
};

TEST_F(LeaseServiceTest, FollowerForwardsKeepAliveAndTimeToLiveToTheLeader) {
  FixedLeader leader;
  service_->SetLeaderForwarder(&leader);
  lessor_->Demote();
  grpc::ClientContext context;
  std::unique_ptr<KeepAliveStream> stream = stub_->LeaseKeepAlive(&context);
  ASSERT_TRUE(stream->Write(KeepAlive(77)));
  etcdserverpb::LeaseKeepAliveResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.id(), 77);
  EXPECT_EQ(response.ttl(), 42);
  EXPECT_EQ(leader.renewed, std::vector<int64_t>{77});
  EXPECT_EQ(TimeToLive(77, false).ttl(), 41);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

// The service-discovery scenario on the real clock, scaled to a unit test: instances register
// under /services/<svc>/<id> with minimum-TTL leases and keep them alive; half of them stop.
TEST_F(LeaseServiceTest, InstancesWhoseKeepAlivesStopVanishAndTheOthersStay) {
  StopServer();
  StartServer(/*fake_clock=*/false, /*election_timeout=*/milliseconds(100));  // minimum TTL 1 s
  constexpr int kInstances = 200;
  std::vector<int64_t> leases;
  for (int i = 0; i < kInstances; ++i) {
    leases.push_back(MustGrant(1));
    ASSERT_TRUE(log_->Put("/services/web/" + std::to_string(i), "10.0.0." + std::to_string(i), leases.back()).ok());
  }
  grpc::ClientContext context;
  std::unique_ptr<KeepAliveStream> stream = stub_->LeaseKeepAlive(&context);
  std::atomic<int> answers{0};
  std::thread reader([&] {
    etcdserverpb::LeaseKeepAliveResponse response;
    while (stream->Read(&response)) answers++;
  });
  auto keep_alive = [&](bool only_even) {
    for (int i = 0; i < kInstances; ++i) {
      if (only_even && i % 2 == 1) continue;
      ASSERT_TRUE(stream->Write(KeepAlive(leases[i])));
    }
  };
  for (int round = 0; round < 4; ++round) {  // everyone alive for a while
    keep_alive(false);
    std::this_thread::sleep_for(milliseconds(250));
  }
  const auto stopped_at = std::chrono::steady_clock::now();
  bool odd_gone = false;
  while (!odd_gone && std::chrono::steady_clock::now() - stopped_at < seconds(30)) {
    keep_alive(true);
    std::this_thread::sleep_for(milliseconds(250));
    odd_gone = true;
    for (const std::string& key : log_->Keys("/services/web/", "/services/web0")) {
      if (std::stoi(key.substr(strlen("/services/web/"))) % 2 == 1) odd_gone = false;
    }
  }
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - stopped_at).count();
  std::printf("odd instances gone %.2f s after their keep-alives stopped (TTL 1 s)\n", took);
  EXPECT_TRUE(odd_gone);
  std::vector<std::string> left = log_->Keys("/services/web/", "/services/web0");
  EXPECT_EQ(left.size(), static_cast<size_t>(kInstances / 2));
  for (const std::string& key : left) EXPECT_EQ(std::stoi(key.substr(strlen("/services/web/"))) % 2, 0) << key;
  stream->WritesDone();
  reader.join();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_GT(answers.load(), 0);
}

}  // namespace
}  // namespace cairn::lease
