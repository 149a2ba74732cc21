// Election service behaviour over gRPC: leadership, hand-over on resign and lease end,
// Proclaim, Leader, Observe.
#include "tests/concurrency/fixture.h"

namespace cairn::concurrency::testing {
namespace {

class ElectionTest : public ConcurrencyTest {
 protected:
  // Reads Observe responses one at a time on the test thread.
  class Observer {
   public:
    Observer(v3electionpb::Election::Stub* stub, const std::string& name) {
      context_.set_deadline(std::chrono::system_clock::now() + kGiveUp);
      v3electionpb::LeaderRequest request;
      request.set_name(name);
      reader_ = stub->Observe(&context_, request);
    }
    ~Observer() {
      context_.TryCancel();
      reader_->Finish();
    }
    // The next announcement as "value"; "<end: message>" when the stream ended.
    std::string Next(mvccpb::KeyValue* kv = nullptr) {
      v3electionpb::LeaderResponse response;
      if (!reader_->Read(&response)) return "<end>";
      if (kv != nullptr) *kv = response.kv();
      return response.kv().value();
    }

   private:
    grpc::ClientContext context_;
    std::unique_ptr<grpc::ClientReader<v3electionpb::LeaderResponse>> reader_;
  };
};

TEST_P(ElectionTest, SoleCampaignerLeadsAndLeaderReportsItsValue) {
  const std::string name = Name();
  const int64_t lease = GrantLease(60);
  v3electionpb::CampaignResponse elected;
  ASSERT_OK(Campaign(name, lease, "alpha", &elected));
  EXPECT_EQ(elected.leader().name(), name);
  EXPECT_EQ(elected.leader().key(), KeyOf(name, lease));
  EXPECT_EQ(elected.leader().lease(), lease);
  EXPECT_GT(elected.leader().rev(), 0);
  EXPECT_EQ(elected.header().revision(), elected.leader().rev());

  v3electionpb::LeaderResponse leader;
  ASSERT_OK(Leader(name, &leader));
  EXPECT_EQ(leader.kv().key(), KeyOf(name, lease));
  EXPECT_EQ(leader.kv().value(), "alpha");
  EXPECT_EQ(leader.kv().create_revision(), elected.leader().rev());
  EXPECT_EQ(leader.kv().lease(), lease);
}

TEST_P(ElectionTest, LeaderWithoutCandidatesFailsLikeEtcd) {
  v3electionpb::LeaderResponse leader;
  grpc::Status status = Leader(Name(), &leader);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(status.error_message(), "election: no leader");
}

TEST_P(ElectionTest, ResignHandsLeadershipToTheNextCampaigner) {
  const std::string name = Name();
  const int64_t lease_a = GrantLease(60);
  const int64_t lease_b = GrantLease(60);
  v3electionpb::CampaignResponse a;
  ASSERT_OK(Campaign(name, lease_a, "a", &a));
  auto b = PendingCampaign(name, lease_b, "b");
  ASSERT_TRUE(WaitUntil([&] { return KeyExists(KeyOf(name, lease_b)); }));
  EXPECT_FALSE(b->done()) << "b was elected while a leads";

  ASSERT_OK(Resign(a.leader()));
  ASSERT_OK(b->Wait());
  EXPECT_EQ(b->response().leader().key(), KeyOf(name, lease_b));
  v3electionpb::LeaderResponse leader;
  ASSERT_OK(Leader(name, &leader));
  EXPECT_EQ(leader.kv().value(), "b");
}

TEST_P(ElectionTest, RevokedLeaderLeaseHandsLeadershipToTheNextCampaigner) {
  const std::string name = Name();
  const int64_t lease_a = GrantLease(60);
  const int64_t lease_b = GrantLease(60);
  v3electionpb::CampaignResponse a;
  ASSERT_OK(Campaign(name, lease_a, "a", &a));
  auto b = PendingCampaign(name, lease_b, "b");
  ASSERT_TRUE(WaitUntil([&] { return KeyExists(KeyOf(name, lease_b)); }));
  RevokeLease(lease_a);
  ASSERT_OK(b->Wait());
  v3electionpb::LeaderResponse leader;
  ASSERT_OK(Leader(name, &leader));
  EXPECT_EQ(leader.kv().value(), "b");
}

// The leader's lease is never kept alive: when its TTL runs out, the waiting campaigner leads.
TEST_P(ElectionTest, ExpiredLeaderLeaseHandsLeadershipToTheNextCampaigner) {
  const std::string name = Name();
  const int64_t lease_a = GrantLease(2);
  const int64_t lease_b = GrantLease(60);
  v3electionpb::CampaignResponse a;
  ASSERT_OK(Campaign(name, lease_a, "a", &a));
  auto b = PendingCampaign(name, lease_b, "b");
  grpc::Status status = b->Wait();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(KeyExists(KeyOf(name, lease_a)));
  v3electionpb::LeaderResponse leader;
  ASSERT_OK(Leader(name, &leader));
  EXPECT_EQ(leader.kv().value(), "b");
}

TEST_P(ElectionTest, ProclaimChangesTheLeadersValue) {
  const std::string name = Name();
  const int64_t lease = GrantLease(60);
  v3electionpb::CampaignResponse a;
  ASSERT_OK(Campaign(name, lease, "v1", &a));
  ASSERT_OK(Proclaim(a.leader(), "v2"));
  v3electionpb::LeaderResponse leader;
  ASSERT_OK(Leader(name, &leader));
  EXPECT_EQ(leader.kv().value(), "v2");
  EXPECT_EQ(leader.kv().create_revision(), a.leader().rev());
}

TEST_P(ElectionTest, ProclaimAfterResigningFailsLikeEtcd) {
  const std::string name = Name();
  const int64_t lease = GrantLease(60);
  v3electionpb::CampaignResponse a;
  ASSERT_OK(Campaign(name, lease, "v1", &a));
  ASSERT_OK(Resign(a.leader()));
  grpc::Status status = Proclaim(a.leader(), "v2");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(status.error_message(), "election: not leader");
  EXPECT_FALSE(KeyExists(a.leader().key()));
  EXPECT_TRUE(Resign(a.leader()).ok()) << "resigning twice is harmless";
}

TEST_P(ElectionTest, ProclaimAndResignNeedTheLeaderField) {
  grpc::ClientContext proclaim_context;
  v3electionpb::ProclaimRequest proclaim;
  proclaim.set_value("x");
  v3electionpb::ProclaimResponse proclaimed;
  grpc::Status status = election_->Proclaim(&proclaim_context, proclaim, &proclaimed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(status.error_message(), "\"leader\" field must be provided");

  grpc::ClientContext resign_context;
  v3electionpb::ResignRequest resign;
  v3electionpb::ResignResponse resigned;
  status = election_->Resign(&resign_context, resign, &resigned);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(status.error_message(), "\"leader\" field must be provided");
}

TEST_P(ElectionTest, CampaigningAgainWithTheSameLeaseUpdatesTheValue) {
  const std::string name = Name();
  const int64_t lease = GrantLease(60);
  v3electionpb::CampaignResponse first, second;
  ASSERT_OK(Campaign(name, lease, "v1", &first));
  ASSERT_OK(Campaign(name, lease, "v2", &second));
  EXPECT_EQ(second.leader().key(), first.leader().key());
  EXPECT_EQ(second.leader().rev(), first.leader().rev());
  EXPECT_EQ(Get(first.leader().key()), "v2");
}

TEST_P(ElectionTest, CancelledCampaignLeavesNoKeyBehind) {
  const std::string name = Name();
  const int64_t lease_a = GrantLease(60);
  const int64_t lease_b = GrantLease(60);
  v3electionpb::CampaignResponse a;
  ASSERT_OK(Campaign(name, lease_a, "a", &a));
  auto b = PendingCampaign(name, lease_b, "b");
  ASSERT_TRUE(WaitUntil([&] { return KeyExists(KeyOf(name, lease_b)); }));
  b->Cancel();
  EXPECT_EQ(b->Wait().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitUntil([&] { return !KeyExists(KeyOf(name, lease_b)); }));
}

TEST_P(ElectionTest, ObserveSeesEachLeaderAndValueInOrder) {
  const std::string name = Name();
  const int64_t lease_a = GrantLease(60);
  const int64_t lease_b = GrantLease(60);
  v3electionpb::CampaignResponse a;
  ASSERT_OK(Campaign(name, lease_a, "a1", &a));

  Observer observer(election_.get(), name);
  mvccpb::KeyValue kv;
  EXPECT_EQ(observer.Next(&kv), "a1");
  EXPECT_EQ(kv.key(), KeyOf(name, lease_a));

  ASSERT_OK(Proclaim(a.leader(), "a2"));
  EXPECT_EQ(observer.Next(), "a2");

  auto b = PendingCampaign(name, lease_b, "b1");
  ASSERT_TRUE(WaitUntil([&] { return KeyExists(KeyOf(name, lease_b)); }));
  ASSERT_OK(Resign(a.leader()));
  EXPECT_EQ(observer.Next(&kv), "b1");
  EXPECT_EQ(kv.key(), KeyOf(name, lease_b));
  ASSERT_OK(b->Wait());

  // Leadership ending with the lease is observed too.
  const int64_t lease_c = GrantLease(60);
  auto c = PendingCampaign(name, lease_c, "c1");
  ASSERT_TRUE(WaitUntil([&] { return KeyExists(KeyOf(name, lease_c)); }));
  RevokeLease(lease_b);
  EXPECT_EQ(observer.Next(), "c1");
  ASSERT_OK(c->Wait());
}

TEST_P(ElectionTest, ObserveWaitsForTheFirstCandidate) {
  const std::string name = Name();
  Observer observer(election_.get(), name);
  const int64_t lease = GrantLease(60);
  v3electionpb::CampaignResponse a;
  ASSERT_OK(Campaign(name, lease, "first", &a));
  mvccpb::KeyValue kv;
  EXPECT_EQ(observer.Next(&kv), "first");
  EXPECT_EQ(kv.key(), KeyOf(name, lease));
}

INSTANTIATE_TEST_SUITE_P(Targets, ElectionTest,
                         AllTargets(),
                         TargetName);

}  // namespace
}  // namespace cairn::concurrency::testing
