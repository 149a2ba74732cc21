// Leader election rules: §5.2 (election), §5.4.1 (election restriction), thesis §9.6 (PreVote)
// and §6.2 (CheckQuorum and leader leases against disruptive members).
#include <gtest/gtest.h>

#include "tests/raft/test_cluster.h"

namespace cairn::raft {
namespace {

using testing::TestCluster;

TEST(ElectionTest, SingleMemberElectsItselfAndCommitsNoOp) {
  TestCluster c({1});
  c.Elect(1);
  EXPECT_EQ(c.raft(1).role(), Role::kLeader);
  EXPECT_EQ(c.raft(1).term(), 1u);
  ASSERT_EQ(c.applied(1).size(), 1u);
  EXPECT_TRUE(c.applied(1)[0].data().empty());  // the leader's no-op
}

TEST(ElectionTest, ThreeMembersAgreeOnOneLeader) {
  TestCluster c({1, 2, 3});
  c.Elect(1);
  EXPECT_EQ(c.Leader(), 1u);
  for (uint64_t id : {2, 3}) {
    EXPECT_EQ(c.raft(id).role(), Role::kFollower);
    EXPECT_EQ(c.raft(id).lead(), 1u);
    EXPECT_EQ(c.raft(id).term(), 1u);
    EXPECT_EQ(c.applied(id).size(), 1u);  // the no-op committed everywhere
  }
}

TEST(ElectionTest, ElectionTimeoutStartsCampaign) {
  TestCluster c({1, 2, 3});
  c.Tick(1, 2 * 10);  // past any randomized timeout in [10, 20)
  c.Stabilize();
  EXPECT_EQ(c.Leader(), 1u);
}

TEST(ElectionTest, RandomizedTimeoutsStayInRange) {
  TestCluster c({1, 2, 3});
  std::set<int> seen;
  for (int i = 0; i < 50; ++i) {
    c.raft(1).BecomeFollower(c.raft(1).term() + 1, 0);
    const int t = c.raft(1).randomized_election_timeout();
    EXPECT_GE(t, 10);
    EXPECT_LT(t, 20);
    seen.insert(t);
  }
  EXPECT_GT(seen.size(), 1u);
}

TEST(ElectionTest, CandidateWithStaleLogCannotWin) {
  // §5.4.1: voters refuse candidates whose log is less up to date than theirs.
  TestCluster c({1, 2, 3}, {{1, {1}}, {2, {1, 1}}, {3, {1, 1}}}, {{1, 1}, {2, 1}, {3, 1}});
  c.Elect(1);
  EXPECT_NE(c.raft(1).role(), Role::kLeader);
  c.Elect(2);
  EXPECT_EQ(c.Leader(), 2u);
}

TEST(ElectionTest, AtMostOneVotePerTerm) {
  TestCluster c({1, 2, 3}, [](Config& cfg) { cfg.pre_vote = false; });
  Raft& r = c.raft(1);
  auto vote = [&](uint64_t from) {
    cairnpb::Message m;
    m.set_type(cairnpb::MSG_VOTE);
    m.set_from(from);
    m.set_to(1);
    m.set_term(5);
    (void)r.Step(m);
    auto out = r.TakeMessages();
    return out.at(0).reject();
  };
  EXPECT_FALSE(vote(2));  // granted
  EXPECT_TRUE(vote(3));   // same term, different candidate: refused
  EXPECT_FALSE(vote(2));  // asking again gets the same answer
}

// The persist-before-send contract relies on this: the Ready that carries a vote also carries the
// hard state recording it, flagged for fsync, so the caller can make it durable before sending.
TEST(ElectionTest, VoteTravelsWithTheHardStateThatRecordsIt) {
  TestCluster c({1, 2, 3}, [](Config& cfg) { cfg.pre_vote = false; });
  cairnpb::Message vote;
  vote.set_type(cairnpb::MSG_VOTE);
  vote.set_from(2);
  vote.set_to(1);
  vote.set_term(3);
  ASSERT_TRUE(c.node(1).Step(vote).ok());
  Ready rd = c.node(1).GetReady();
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->term(), 3u);
  EXPECT_EQ(rd.hard_state->vote(), 2u);
  EXPECT_TRUE(rd.must_sync);
  ASSERT_EQ(rd.messages.size(), 1u);
  EXPECT_EQ(rd.messages[0].type(), cairnpb::MSG_VOTE_RESPONSE);
  EXPECT_FALSE(rd.messages[0].reject());
  c.node(1).Advance(rd);
  EXPECT_FALSE(c.node(1).HasReady());
}

TEST(ElectionTest, PreVoteKeepsPartitionedMemberFromDisruptingCluster) {
  TestCluster c({1, 2, 3});
  c.Elect(1);
  c.Isolate(3);
  for (int i = 0; i < 100; ++i) {
    c.Tick(3);
    c.Stabilize();
  }
  EXPECT_EQ(c.raft(3).term(), 1u);  // pre-votes never won, so its term never moved
  c.Heal();
  c.TickAll(1);
  c.Stabilize();
  EXPECT_EQ(c.Leader(), 1u);
  EXPECT_EQ(c.raft(1).term(), 1u);
  EXPECT_EQ(c.raft(3).lead(), 1u);
}

TEST(ElectionTest, WithoutPreVoteRejoiningMemberForcesNewElection) {
  // The contrast case that motivates PreVote.
  TestCluster c({1, 2, 3}, [](Config& cfg) {
    cfg.pre_vote = false;
    cfg.check_quorum = false;
  });
  c.Elect(1);
  c.Isolate(3);
  for (int i = 0; i < 100; ++i) {
    c.Tick(3);
    c.Stabilize();
  }
  EXPECT_GT(c.raft(3).term(), 2u);
  c.Heal();
  for (int i = 0; i < 40; ++i) {
    c.TickAll(1);
    c.Stabilize();
  }
  EXPECT_GT(c.raft(1).term(), 2u);  // the healthy leader was deposed
}

TEST(ElectionTest, CheckQuorumLeaderStepsDownWhenCutOff) {
  TestCluster c({1, 2, 3});
  c.Elect(1);
  c.Isolate(1);
  // The followers answered during the first election timeout; after the second, in which it
  // heard from nobody, the leader gives up.
  c.Tick(1, 10);
  EXPECT_EQ(c.raft(1).role(), Role::kLeader);
  c.Tick(1, 10);
  EXPECT_EQ(c.raft(1).role(), Role::kFollower);
  EXPECT_EQ(c.raft(1).lead(), 0u);
}

TEST(ElectionTest, CheckQuorumLeaderStaysWithQuorum) {
  TestCluster c({1, 2, 3});
  c.Elect(1);
  c.Isolate(3);
  for (int i = 0; i < 50; ++i) {
    c.Tick(1);
    c.Stabilize();
  }
  EXPECT_EQ(c.Leader(), 1u);
  EXPECT_EQ(c.raft(1).term(), 1u);
}

TEST(ElectionTest, FollowerInLeaseIgnoresCandidate) {
  // 3 cannot hear the leader, but 2 can: 2 must not help 3 depose a working leader.
  TestCluster c({1, 2, 3});
  c.Elect(1);
  c.Cut(1, 3);
  for (int i = 0; i < 60; ++i) {
    c.TickAll(1);
    c.Stabilize();
  }
  EXPECT_EQ(c.Leader(), 1u);
  EXPECT_EQ(c.raft(1).term(), 1u);
  EXPECT_EQ(c.raft(2).term(), 1u);
}

TEST(ElectionTest, NewLeaderElectedAfterLeaderFails) {
  TestCluster c({1, 2, 3});
  c.Elect(1);
  c.Isolate(1);
  for (int i = 0; i < 60 && (c.Leader() == 1 || c.Leader() == 0); ++i) {
    c.Tick(2);
    c.Tick(3);
    c.Stabilize();
  }
  const uint64_t leader = c.Leader();
  EXPECT_TRUE(leader == 2 || leader == 3);
  EXPECT_EQ(c.raft(leader).term(), 2u);
}

}  // namespace
}  // namespace cairn::raft
