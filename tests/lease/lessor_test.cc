// The lessor on a hand-moved clock with a recording proposer: grant rules, renewal, expiry through
// proposed revokes (rate-limited, retried), and the extension a restart or election gives.
#include "server/lease/lessor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <thread>

#include "server/lease/lease_errors.h"
#include "tests/lease/lease_test_util.h"

namespace cairn::lease {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeClock;
using testing::FakeLeaseRecords;
using testing::RecordingProposer;

class LessorTest : public ::testing::Test {
 protected:
  LessorTest() { Reset(LessorOptions{}); }

  void Reset(LessorOptions options) {
    lessor_.reset();
    options.clock = &clock_;
    lessor_ = std::make_unique<Lessor>(options, proposer_.AsProposer());
    lessor_->Promote(seconds(0));  // a single member is always the leader
  }

  // Grants as the apply loop would report it.
  void Grant(int64_t id, int64_t ttl) { lessor_->OnGranted(id, ttl); }

  FakeClock clock_;
  RecordingProposer proposer_;
  std::unique_ptr<Lessor> lessor_;
};

TEST_F(LessorTest, MinimumTtlIsOneAndAHalfElectionTimeoutsRoundedUp) {
  EXPECT_EQ(lessor_->MinTtl(), 2);  // etcd's default: 1000 ms election timeout
  for (auto [election_ms, min_ttl] : std::vector<std::pair<int, int64_t>>{{100, 1}, {1000, 2}, {2000, 3}, {5000, 8}}) {
    LessorOptions options;
    options.election_timeout = milliseconds(election_ms);
    Lessor lessor(options, proposer_.AsProposer());
    EXPECT_EQ(lessor.MinTtl(), min_ttl) << election_ms;
  }
}

TEST_F(LessorTest, GrantTtlRaisesShortTtlsAndRefusesHugeOnes) {
  EXPECT_EQ(*lessor_->GrantTtl(1), 2);
  EXPECT_EQ(*lessor_->GrantTtl(0), 2);
  EXPECT_EQ(*lessor_->GrantTtl(-5), 2);
  EXPECT_EQ(*lessor_->GrantTtl(60), 60);
  EXPECT_EQ(*lessor_->GrantTtl(kMaxLeaseTtl), kMaxLeaseTtl);
  absl::StatusOr<int64_t> huge = lessor_->GrantTtl(kMaxLeaseTtl + 1);
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(huge.status().message(), "etcdserver: too large lease TTL");
}

TEST_F(LessorTest, PickedIdsArePositiveAndNotInUse) {
  for (int i = 0; i < 1000; ++i) {
    int64_t id = lessor_->PickUnusedId();
    ASSERT_GT(id, 0);
    ASSERT_FALSE(lessor_->Exists(id));
    Grant(id, 10);
  }
  EXPECT_EQ(lessor_->Leases().size(), 1000u);
}

TEST_F(LessorTest, RenewedLeaseOutlivesItsTtlAndAnUnrenewedOneIsRevoked) {
  Grant(1, 10);
  Grant(2, 10);
  std::vector<int64_t> revoked;
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(seconds(4));
    RenewResult r = lessor_->Renew(1);
    ASSERT_EQ(r.outcome, RenewOutcome::kRenewed);
    EXPECT_EQ(r.ttl, 10);
    lessor_->RevokeExpired();
    for (auto& p : proposer_.Take()) {
      revoked.push_back(p.request.lease_revoke().id());
      p.done(absl::OkStatus());
    }
  }
  // 20 s later: lease 2 expired at 10 s and was revoked; lease 1 lives on.
  EXPECT_EQ(revoked, std::vector<int64_t>{2});
  EXPECT_FALSE(lessor_->Exists(2));
  EXPECT_EQ(lessor_->Renew(1).outcome, RenewOutcome::kRenewed);
}

TEST_F(LessorTest, NothingIsRevokedBeforeItsDeadline) {
  Grant(7, 5);
  clock_.Advance(milliseconds(4999));
  EXPECT_EQ(lessor_->RevokeExpired(), 0u);
  clock_.Advance(milliseconds(1));
  EXPECT_EQ(lessor_->RevokeExpired(), 1u);
  auto proposals = proposer_.Take();
  ASSERT_EQ(proposals.size(), 1u);
  EXPECT_EQ(proposals[0].request.lease_revoke().id(), 7);
  EXPECT_EQ(proposals[0].request.proposal_id(), 0u);
}

TEST_F(LessorTest, AppliedRevokeForgetsTheLease) {
  Grant(7, 5);
  clock_.Advance(seconds(6));
  lessor_->RevokeExpired();
  auto proposals = proposer_.Take();
  ASSERT_EQ(proposals.size(), 1u);
  proposals[0].done(absl::OkStatus());
  EXPECT_FALSE(lessor_->Exists(7));
  EXPECT_EQ(lessor_->Renew(7).outcome, RenewOutcome::kNotFound);
  lessor_->OnRevoked(7);  // the applier reports it too: harmless
  EXPECT_FALSE(lessor_->Exists(7));
}

TEST_F(LessorTest, RenewUnknownLeaseIsNotFound) {
  EXPECT_EQ(lessor_->Renew(42).outcome, RenewOutcome::kNotFound);
  EXPECT_FALSE(lessor_->Lookup(42).has_value());
}

TEST_F(LessorTest, ExpiredLeaseCannotBeRenewedAndWaitersLearnWhenItIsGone) {
  Grant(3, 2);
  clock_.Advance(seconds(2));
  EXPECT_EQ(lessor_->Renew(3).outcome, RenewOutcome::kRevoking);  // even before the expiry pass ran
  std::vector<RenewOutcome> settled;
  lessor_->AwaitRevoke(3, [&](RenewResult r) { settled.push_back(r.outcome); });
  EXPECT_TRUE(settled.empty());
  lessor_->OnRevoked(3);
  EXPECT_EQ(settled, std::vector<RenewOutcome>{RenewOutcome::kNotFound});
  // Already gone: settled at once.
  lessor_->AwaitRevoke(3, [&](RenewResult r) { settled.push_back(r.outcome); });
  EXPECT_EQ(settled.size(), 2u);
  EXPECT_EQ(settled[1], RenewOutcome::kNotFound);
}

TEST_F(LessorTest, RevokesAreRateLimited) {
  LessorOptions options;
  options.revoke_rate = 1000;
  Reset(options);
  for (int64_t id = 1; id <= 2000; ++id) Grant(id, 10);
  clock_.Advance(seconds(11));
  EXPECT_EQ(lessor_->RevokeExpired(), 500u);  // half a second's worth at once
  EXPECT_EQ(lessor_->RevokeExpired(), 0u);
  clock_.Advance(milliseconds(100));
  EXPECT_EQ(lessor_->RevokeExpired(), 100u);
  clock_.Advance(seconds(10));  // the bucket holds no more than half a second
  EXPECT_EQ(lessor_->RevokeExpired(), 500u);
  std::vector<int64_t> ids = RecordingProposer::RevokedIds(proposer_.Take());
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::unique(ids.begin(), ids.end()), ids.end()) << "a lease was proposed twice";
}

TEST_F(LessorTest, FailedRevokeIsRetriedAfterTheRetryInterval) {
  LessorOptions options;
  options.revoke_retry = milliseconds(3000);
  Reset(options);
  Grant(5, 2);
  clock_.Advance(seconds(2));
  lessor_->RevokeExpired();
  auto first = proposer_.Take();
  ASSERT_EQ(first.size(), 1u);
  first[0].done(absl::UnavailableError("etcdserver: request timed out"));
  EXPECT_TRUE(lessor_->Exists(5));
  EXPECT_EQ(lessor_->Stats().revokes_failed, 1);

  clock_.Advance(milliseconds(2999));
  EXPECT_EQ(lessor_->RevokeExpired(), 0u);
  clock_.Advance(milliseconds(1));
  EXPECT_EQ(lessor_->RevokeExpired(), 1u);
  EXPECT_EQ(RecordingProposer::RevokedIds(proposer_.Take()), std::vector<int64_t>{5});
}

TEST_F(LessorTest, RevokeStillPendingIsProposedAgain) {
  Grant(5, 2);
  clock_.Advance(seconds(2));
  lessor_->RevokeExpired();
  auto first = proposer_.Take();  // never answered, as if lost with a leader
  ASSERT_EQ(first.size(), 1u);
  clock_.Advance(seconds(3));
  lessor_->RevokeExpired();
  EXPECT_EQ(RecordingProposer::RevokedIds(proposer_.Take()), std::vector<int64_t>{5});
  // A late answer for either proposal still settles it.
  first[0].done(absl::OkStatus());
  EXPECT_FALSE(lessor_->Exists(5));
}

TEST_F(LessorTest, RevokeTheStoreNoLongerKnowsForgetsTheLease) {
  Grant(5, 2);
  clock_.Advance(seconds(2));
  lessor_->RevokeExpired();
  auto proposals = proposer_.Take();
  ASSERT_EQ(proposals.size(), 1u);
  proposals[0].done(ErrLeaseNotFound());
  EXPECT_FALSE(lessor_->Exists(5));
}

TEST_F(LessorTest, RecoveredLeasesGetAFullTtlPlusTheExtensionFromPromotion) {
  FakeLeaseRecords records;
  records.leases = {{1, 10}, {2, 1}};
  LessorOptions options;
  options.clock = &clock_;
  Lessor restarted(options, proposer_.AsProposer());
  ASSERT_TRUE(restarted.Recover(records).ok());
  EXPECT_TRUE(restarted.Exists(1));
  EXPECT_EQ(restarted.Lookup(2)->granted_ttl, 2);  // the minimum applies to recovered leases too
  // Not primary yet: nothing expires however long it takes.
  clock_.Advance(seconds(100));
  EXPECT_EQ(restarted.RevokeExpired(), 0u);
  EXPECT_EQ(restarted.Renew(1).outcome, RenewOutcome::kNotPrimary);

  restarted.Promote(seconds(1));
  EXPECT_EQ(restarted.Lookup(1)->remaining_ttl, 11);
  clock_.Advance(milliseconds(10999));
  EXPECT_EQ(RecordingProposer::RevokedIds(proposer_.Take()), std::vector<int64_t>{});
  restarted.RevokeExpired();
  EXPECT_EQ(RecordingProposer::RevokedIds(proposer_.Take()), std::vector<int64_t>{2});
  clock_.Advance(milliseconds(1));
  restarted.RevokeExpired();
  EXPECT_EQ(RecordingProposer::RevokedIds(proposer_.Take()), std::vector<int64_t>{1});
}

TEST_F(LessorTest, PromotionSpreadsAMassExpiryOverTheRevokeRate) {
  LessorOptions options;
  options.revoke_rate = 100;  // at most 75 expiries in any second after promotion
  options.clock = &clock_;
  Lessor lessor(options, proposer_.AsProposer());
  for (int64_t id = 1; id <= 300; ++id) lessor.OnGranted(id, 10);
  lessor.Promote(seconds(0));
  std::map<int64_t, int> per_second;
  for (int64_t id = 1; id <= 300; ++id) per_second[lessor.Lookup(id)->remaining_ttl]++;
  EXPECT_EQ(per_second, (std::map<int64_t, int>{{10, 75}, {11, 75}, {12, 75}, {13, 75}}));
}

TEST_F(LessorTest, PromotionLeavesAFewLeasesAlone) {
  for (int64_t id = 1; id <= 100; ++id) Grant(id, 10);
  lessor_->Promote(seconds(2));
  for (int64_t id = 1; id <= 100; ++id) ASSERT_EQ(lessor_->Lookup(id)->remaining_ttl, 12);
}

TEST_F(LessorTest, DemotedLessorNeitherRenewsNorRevokesAndReleasesWaiters) {
  Grant(1, 2);
  Grant(2, 10);
  clock_.Advance(seconds(3));
  ASSERT_EQ(lessor_->Renew(1).outcome, RenewOutcome::kRevoking);
  std::vector<RenewOutcome> settled;
  lessor_->AwaitRevoke(1, [&](RenewResult r) { settled.push_back(r.outcome); });
  lessor_->Demote();
  EXPECT_EQ(settled, std::vector<RenewOutcome>{RenewOutcome::kNotPrimary});
  EXPECT_FALSE(lessor_->IsPrimary());
  EXPECT_EQ(lessor_->Renew(2).outcome, RenewOutcome::kNotPrimary);
  clock_.Advance(seconds(100));
  EXPECT_EQ(lessor_->RevokeExpired(), 0u);
  // Granted while a follower: known, but without a deadline.
  lessor_->OnGranted(3, 5);
  EXPECT_TRUE(lessor_->Exists(3));
  // Promoted again: the expired lease 1 lives again with a fresh TTL.
  lessor_->Promote(seconds(1));
  EXPECT_EQ(lessor_->Renew(1).outcome, RenewOutcome::kRenewed);
}

TEST_F(LessorTest, TimeToLiveTruncatesToWholeSeconds) {
  Grant(1, 10);
  clock_.Advance(milliseconds(2500));
  std::optional<LeaseInfo> info = lessor_->Lookup(1);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->granted_ttl, 10);
  EXPECT_EQ(info->remaining_ttl, 7);
  clock_.Advance(milliseconds(7400));
  EXPECT_EQ(lessor_->Lookup(1)->remaining_ttl, 0);
}

TEST_F(LessorTest, LeasesListsSoonestExpiryFirst) {
  Grant(1, 30);
  Grant(2, 10);
  Grant(3, 20);
  EXPECT_EQ(lessor_->Leases(), (std::vector<int64_t>{2, 3, 1}));
  lessor_->OnRevoked(3);
  EXPECT_EQ(lessor_->Leases(), (std::vector<int64_t>{2, 1}));
}

TEST_F(LessorTest, RenewAfterPromotionExtensionShortensTheDeadlineCorrectly) {
  Grant(1, 10);
  lessor_->Promote(seconds(5));  // deadline 15 s
  clock_.Advance(seconds(1));
  ASSERT_EQ(lessor_->Renew(1).outcome, RenewOutcome::kRenewed);  // deadline 11 s: earlier than queued
  clock_.Advance(seconds(10));
  EXPECT_EQ(lessor_->RevokeExpired(), 1u);
}

TEST_F(LessorTest, StopReleasesWaiters) {
  Grant(1, 2);
  clock_.Advance(seconds(2));
  std::vector<RenewOutcome> settled;
  lessor_->AwaitRevoke(1, [&](RenewResult r) { settled.push_back(r.outcome); });
  lessor_->Stop();
  EXPECT_EQ(settled, std::vector<RenewOutcome>{RenewOutcome::kNotPrimary});
}

TEST(LessorThreadTest, ExpiryThreadRevokesOnTheRealClock) {
  std::atomic<int> revoked{0};
  Lessor* self = nullptr;
  LessorOptions options;
  options.election_timeout = milliseconds(100);  // minimum TTL 1 s
  options.tick = milliseconds(10);
  Lessor lessor(options, [&](cairnpb::LogRequest request, google::protobuf::Message*, etcdserverpb::ResponseHeader*,
                             std::function<void(absl::Status)> done) {
    if (request.has_lease_revoke()) {
      self->OnRevoked(request.lease_revoke().id());
      revoked++;
    }
    done(absl::OkStatus());
  });
  self = &lessor;
  lessor.Promote(seconds(0));
  lessor.OnGranted(1, 1);
  lessor.Start();
  for (int i = 0; i < 300 && revoked.load() == 0; ++i) std::this_thread::sleep_for(milliseconds(10));
  EXPECT_EQ(revoked.load(), 1);
  EXPECT_FALSE(lessor.Exists(1));
  lessor.Stop();
}

// Lease checkpoints: (lease, remaining TTL) pairs of the LeaseCheckpoint proposals taken.
std::vector<std::pair<int64_t, int64_t>> Checkpoints(const std::vector<RecordingProposer::Proposal>& proposals) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const auto& p : proposals) {
    for (const auto& c : p.request.lease_checkpoint().checkpoints()) out.emplace_back(c.id(), c.remaining_ttl());
  }
  return out;
}

class LessorCheckpointTest : public LessorTest {
 protected:
  LessorCheckpointTest() {
    LessorOptions options;
    options.checkpoint_interval = seconds(60);
    Reset(options);
  }
};

TEST_F(LessorCheckpointTest, PassCheckpointsLeasesWithMoreThanAnIntervalLeft) {
  Grant(1, 600);
  Grant(2, 30);  // expires or is renewed before the next pass: nothing to record
  clock_.Advance(seconds(10));
  EXPECT_EQ(lessor_->ProposeCheckpoints(/*due=*/false), 0u);
  EXPECT_EQ(lessor_->ProposeCheckpoints(/*due=*/true), 1u);
  EXPECT_EQ(Checkpoints(proposer_.Take()), (std::vector<std::pair<int64_t, int64_t>>{{1, 590}}));
  EXPECT_EQ(lessor_->Stats().checkpoints_proposed, 1);
}

TEST_F(LessorCheckpointTest, ManyLeasesGoOutInEntriesOfAThousand) {
  for (int64_t id = 1; id <= 2500; ++id) Grant(id, 600);
  EXPECT_EQ(lessor_->ProposeCheckpoints(true), 2500u);
  auto proposals = proposer_.Take();
  ASSERT_EQ(proposals.size(), 3u);
  EXPECT_EQ(proposals[0].request.lease_checkpoint().checkpoints_size(), 1000);
  EXPECT_EQ(proposals[2].request.lease_checkpoint().checkpoints_size(), 500);
}

TEST_F(LessorCheckpointTest, ANewPrimaryStartsACheckpointedLeaseFromItsRemainingTtl) {
  Grant(1, 600);
  Grant(2, 600);
  lessor_->OnCheckpoint(1, 100);  // applied on every member
  lessor_->Demote();
  lessor_->Promote(seconds(1));
  EXPECT_EQ(lessor_->Lookup(1)->remaining_ttl, 101);
  EXPECT_EQ(lessor_->Lookup(2)->remaining_ttl, 601);
}

TEST_F(LessorCheckpointTest, RecoverUsesTheStoredCheckpoint) {
  FakeLeaseRecords records;
  records.leases = {{1, 600}, {2, 600}};
  records.remaining = {{1, 42}};
  ASSERT_TRUE(lessor_->Recover(records).ok());
  EXPECT_EQ(lessor_->Lookup(1)->remaining_ttl, 42);
  EXPECT_EQ(lessor_->Lookup(2)->remaining_ttl, 600);
}

TEST_F(LessorCheckpointTest, RenewingACheckpointedLeaseClearsItsCheckpoint) {
  Grant(1, 600);
  Grant(2, 600);
  lessor_->OnCheckpoint(1, 100);
  lessor_->OnCheckpoint(2, 100);
  EXPECT_EQ(lessor_->Renew(1).outcome, RenewOutcome::kRenewed);
  EXPECT_EQ(lessor_->Renew(1).outcome, RenewOutcome::kRenewed);  // cleared once
  EXPECT_EQ(lessor_->ProposeCheckpoints(/*due=*/false), 1u);
  EXPECT_EQ(Checkpoints(proposer_.Take()), (std::vector<std::pair<int64_t, int64_t>>{{1, 0}}));
  // A restart or election now gives lease 1 its full TTL, lease 2 what its checkpoint said.
  lessor_->Demote();
  lessor_->Promote(seconds(0));
  EXPECT_EQ(lessor_->Lookup(1)->remaining_ttl, 600);
  EXPECT_EQ(lessor_->Lookup(2)->remaining_ttl, 100);
}

TEST_F(LessorTest, WithoutCheckpointsStoredOnesAreIgnoredAndNoneAreProposed) {
  Grant(1, 600);
  lessor_->OnCheckpoint(1, 100);
  lessor_->Demote();
  lessor_->Promote(seconds(0));
  EXPECT_EQ(lessor_->Lookup(1)->remaining_ttl, 600);
  EXPECT_EQ(lessor_->ProposeCheckpoints(true), 0u);
  EXPECT_TRUE(proposer_.Take().empty());
}

}  // namespace
}  // namespace cairn::lease
