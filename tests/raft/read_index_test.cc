// ReadIndex (thesis §6.4): reads are served at an index the leader confirmed with a quorum, and
// only after the leader committed an entry of its own term.
#include <gtest/gtest.h>

#include "tests/raft/test_cluster.h"

namespace cairn::raft {
namespace {

using testing::TestCluster;

TEST(ReadIndexTest, LeaderAnswersAfterQuorumConfirmsLeadership) {
  TestCluster c({1, 2, 3});
  c.Elect(1);
  ASSERT_TRUE(c.node(1).Propose("x").ok());
  c.Stabilize();
  ASSERT_TRUE(c.node(1).ReadIndex("r1").ok());
  c.ProcessReadys();
  EXPECT_TRUE(c.reads(1).empty());  // not before the heartbeat round
  c.Stabilize();
  ASSERT_EQ(c.reads(1).size(), 1u);
  EXPECT_EQ(c.reads(1)[0].context, "r1");
  EXPECT_EQ(c.reads(1)[0].index, c.raft(1).log().committed());
}

TEST(ReadIndexTest, FollowerAsksTheLeader) {
  TestCluster c({1, 2, 3});
  c.Elect(1);
  ASSERT_TRUE(c.node(1).Propose("x").ok());
  c.Stabilize();
  ASSERT_TRUE(c.node(2).ReadIndex("r2").ok());
  c.Stabilize();
  ASSERT_EQ(c.reads(2).size(), 1u);
  EXPECT_EQ(c.reads(2)[0].context, "r2");
  EXPECT_EQ(c.reads(2)[0].index, c.raft(1).log().committed());
}

TEST(ReadIndexTest, LeaderWithoutQuorumNeverAnswers) {
  TestCluster c({1, 2, 3});
  c.Elect(1);
  c.Isolate(1);
  ASSERT_TRUE(c.node(1).ReadIndex("r").ok());
  c.Stabilize();
  EXPECT_TRUE(c.reads(1).empty());
}

TEST(ReadIndexTest, NewLeaderServesReadsOnlyAfterCommittingInItsTerm) {
  TestCluster c({1, 2, 3});
  c.DropType(cairnpb::MSG_APPEND);  // the new leader's no-op cannot replicate yet
  c.Elect(1);
  ASSERT_EQ(c.Leader(), 1u);
  ASSERT_FALSE(c.raft(1).CommittedInCurrentTerm());
  ASSERT_TRUE(c.node(1).ReadIndex("early").ok());
  c.TickAll(1);  // heartbeats get answered, but that is not enough
  c.Stabilize();
  EXPECT_TRUE(c.reads(1).empty());
  c.Heal();
  c.TickAll(1);
  c.Stabilize();
  ASSERT_EQ(c.reads(1).size(), 1u);
  EXPECT_EQ(c.reads(1)[0].context, "early");
  EXPECT_GE(c.reads(1)[0].index, 1u);  // covers the no-op, hence all earlier terms' writes
}

TEST(ReadIndexTest, DeposedLeaderDoesNotServeStaleReads) {
  TestCluster c({1, 2, 3});
  c.Elect(1);
  c.Isolate(1);
  // 2 and 3 elect a new leader and commit a write the old leader never sees.
  for (int i = 0; i < 60 && (c.Leader() == 1 || c.Leader() == 0); ++i) {
    c.Tick(2);
    c.Tick(3);
    c.Stabilize();
  }
  const uint64_t leader = c.Leader();
  ASSERT_TRUE(leader == 2 || leader == 3);
  ASSERT_TRUE(c.node(leader).Propose("new").ok());
  c.Stabilize();
  const uint64_t write_index = c.raft(leader).log().committed();
  ASSERT_EQ(c.raft(1).role(), Role::kLeader);  // still believes it leads
  ASSERT_TRUE(c.node(1).ReadIndex("stale?").ok());
  c.Stabilize();
  c.Heal();
  c.TickAll(1);
  c.Stabilize();
  for (const auto& r : c.reads(1)) EXPECT_GE(r.index, write_index) << r.context;
  EXPECT_NE(c.raft(1).role(), Role::kLeader);
  // The new leader serves reads that include the write.
  ASSERT_TRUE(c.node(leader).ReadIndex("fresh").ok());
  c.Stabilize();
  ASSERT_FALSE(c.reads(leader).empty());
  EXPECT_GE(c.reads(leader).back().index, write_index);
}

TEST(ReadIndexTest, SingleMemberAnswersAtOnce) {
  TestCluster c({1});
  c.Elect(1);
  ASSERT_TRUE(c.node(1).ReadIndex("solo").ok());
  c.ProcessReadys();
  ASSERT_EQ(c.reads(1).size(), 1u);
  EXPECT_EQ(c.reads(1)[0].index, 1u);
}

}  // namespace
}  // namespace cairn::raft
