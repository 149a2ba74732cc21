// Membership changes one member at a time (thesis §4.1), learners, and leadership transfer
// (thesis §3.10).
#include <gtest/gtest.h>

#include "tests/raft/test_cluster.h"

namespace cairn::raft {
namespace {

using testing::TestCluster;

cairnpb::ConfChange Change(cairnpb::ConfChangeType type, uint64_t id) {
  cairnpb::ConfChange cc;
  cc.set_type(type);
  cc.set_node_id(id);
  return cc;
}

TEST(MembershipTest, LearnerReceivesLogButNeitherVotesNorCampaigns) {
  TestCluster c({1, 2, 3});
  c.Elect(1);
  cairnpb::ConfState cs = testing::Voters({1, 2, 3});
  cs.add_learners(4);
  c.AddMember(4, cs);
  ASSERT_TRUE(c.node(1).ProposeConfChange(Change(cairnpb::CONF_CHANGE_ADD_LEARNER_NODE, 4)).ok());
  c.Stabilize();
  EXPECT_TRUE(c.raft(1).tracker().IsLearner(4));
  EXPECT_EQ(c.raft(1).tracker().voters().size(), 3u);
  ASSERT_TRUE(c.node(1).Propose("x").ok());
  c.Stabilize();
  EXPECT_EQ(c.applied(4).back().data(), "x");
  // A learner never starts an election, however long it waits.
  c.Isolate(4);
  c.Tick(4, 100);
  c.Stabilize();
  EXPECT_EQ(c.raft(4).role(), Role::kFollower);
  EXPECT_EQ(c.raft(4).term(), 1u);
}

TEST(MembershipTest, LearnerCanBePromoted) {
  TestCluster c({1, 2, 3});
  c.Elect(1);
  cairnpb::ConfState cs = testing::Voters({1, 2, 3});
  cs.add_learners(4);
  c.AddMember(4, cs);
  ASSERT_TRUE(c.node(1).ProposeConfChange(Change(cairnpb::CONF_CHANGE_ADD_LEARNER_NODE, 4)).ok());
  c.Stabilize();
  ASSERT_TRUE(c.node(1).ProposeConfChange(Change(cairnpb::CONF_CHANGE_ADD_NODE, 4)).ok());
  c.Stabilize();
  EXPECT_TRUE(c.raft(1).tracker().IsVoter(4));
  EXPECT_TRUE(c.raft(4).tracker().IsVoter(4));
  EXPECT_EQ(c.raft(1).tracker().Quorum(), 3u);
  // With four voters, losing two blocks commits.
  c.Isolate(3);
  c.Isolate(4);
  const uint64_t before = c.raft(1).log().committed();
  ASSERT_TRUE(c.node(1).Propose("y").ok());
  c.Stabilize();
  EXPECT_EQ(c.raft(1).log().committed(), before);
}

TEST(MembershipTest, RemovedMemberNoLongerCountsForQuorum) {
  TestCluster c({1, 2, 3});
  c.Elect(1);
  ASSERT_TRUE(c.node(1).ProposeConfChange(Change(cairnpb::CONF_CHANGE_REMOVE_NODE, 3)).ok());
  c.Stabilize();
  EXPECT_EQ(c.raft(1).tracker().voters(), (std::set<uint64_t>{1, 2}));
  c.Isolate(3);
  ASSERT_TRUE(c.node(1).Propose("x").ok());
  c.Stabilize();
  EXPECT_EQ(c.applied(2).back().data(), "x");
}

TEST(MembershipTest, UpdateNodeIsCommittedButLeavesTheConfigurationAlone) {
  TestCluster c({1, 2, 3});
  c.Elect(1);
  ASSERT_TRUE(c.node(1).ProposeConfChange(Change(cairnpb::CONF_CHANGE_UPDATE_NODE, 3)).ok());
  c.Stabilize();
  for (uint64_t id : {1, 2, 3}) {
    EXPECT_EQ(c.raft(id).tracker().voters(), (std::set<uint64_t>{1, 2, 3})) << id;
    EXPECT_TRUE(c.raft(id).tracker().learners().empty()) << id;
  }
  // It was a change like the others: the next one is accepted once it is applied.
  ASSERT_TRUE(c.node(1).ProposeConfChange(Change(cairnpb::CONF_CHANGE_REMOVE_NODE, 3)).ok());
  c.Stabilize();
  EXPECT_EQ(c.raft(1).tracker().voters(), (std::set<uint64_t>{1, 2}));
}

TEST(MembershipTest, OnlyOneChangeAtATime) {
  TestCluster c({1, 2, 3});
  c.Elect(1);
  ASSERT_TRUE(c.node(1).ProposeConfChange(Change(cairnpb::CONF_CHANGE_REMOVE_NODE, 3)).ok());
  absl::Status second = c.node(1).ProposeConfChange(Change(cairnpb::CONF_CHANGE_REMOVE_NODE, 2));
  EXPECT_EQ(second.code(), absl::StatusCode::kFailedPrecondition) << second;
  c.Stabilize();
  EXPECT_TRUE(c.node(1).ProposeConfChange(Change(cairnpb::CONF_CHANGE_ADD_NODE, 3)).ok());
}

TEST(MembershipTest, NewLeaderAcceptsChangesOnlyAfterItsNoOpCommits) {
  TestCluster c({1, 2, 3});
  c.DropType(cairnpb::MSG_APPEND);
  c.Elect(1);
  absl::Status s = c.node(1).ProposeConfChange(Change(cairnpb::CONF_CHANGE_REMOVE_NODE, 3));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
}

TEST(MembershipTest, RemovedLeaderStepsDownAndOthersElect) {
  TestCluster c({1, 2, 3});
  c.Elect(1);
  ASSERT_TRUE(c.node(1).ProposeConfChange(Change(cairnpb::CONF_CHANGE_REMOVE_NODE, 1)).ok());
  c.Stabilize();
  EXPECT_NE(c.raft(1).role(), Role::kLeader);
  for (int i = 0; i < 60 && c.Leader() == 0; ++i) {
    c.Tick(2);
    c.Tick(3);
    c.Stabilize();
  }
  EXPECT_TRUE(c.Leader() == 2 || c.Leader() == 3);
}

TEST(MembershipTest, MemberAddedLaterLearnsFoundingMembershipFromTheLog) {
  auto c = TestCluster::WithLogBootstrap({1, 2, 3});
  EXPECT_EQ(c->raft(1).tracker().voters(), (std::set<uint64_t>{1, 2, 3}));
  c->Elect(1);
  ASSERT_EQ(c->Leader(), 1u);
  c->AddMember(4, cairnpb::ConfState());  // empty storage: knows nothing yet
  ASSERT_TRUE(c->node(1).ProposeConfChange(Change(cairnpb::CONF_CHANGE_ADD_LEARNER_NODE, 4)).ok());
  c->Stabilize();
  ASSERT_TRUE(c->node(1).ProposeConfChange(Change(cairnpb::CONF_CHANGE_ADD_NODE, 4)).ok());
  c->Stabilize();
  EXPECT_EQ(c->raft(4).tracker().voters(), (std::set<uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(c->applied(4).size(), c->applied(1).size());
  // It can now lead the group it joined.
  c->node(1).TransferLeadership(4);
  c->Stabilize();
  EXPECT_EQ(c->Leader(), 4u);
}

TEST(MembershipTest, NoCampaignBeforeBootstrapMembershipIsApplied) {
  MemoryStorage storage;
  const BootstrapState boot = BootstrapLog({1, 2, 3});
  ASSERT_TRUE(storage.Append(boot.entries).ok());
  storage.SetHardState(boot.hard_state);
  Config cfg;
  cfg.id = 1;
  cfg.storage = &storage;
  auto node = RawNode::Create(cfg);
  ASSERT_TRUE(node.ok());
  (*node)->Campaign();
  EXPECT_EQ((*node)->raft().role(), Role::kFollower);
  Ready rd = (*node)->GetReady();
  ASSERT_EQ(rd.committed_entries.size(), 3u);
  for (const auto& e : rd.committed_entries) {
    cairnpb::ConfChange cc;
    ASSERT_TRUE(cc.ParseFromString(e.data()));
    (*node)->ApplyConfChange(cc);
  }
  (*node)->Advance(rd);
  (*node)->Campaign();
  EXPECT_EQ((*node)->raft().role(), Role::kPreCandidate);
}

TEST(MembershipTest, MemberRemovedWhileCampaigningDoesNotBecomeLeader) {
  TestCluster c({1, 2, 3}, [](Config& cfg) { cfg.pre_vote = false; });
  c.node(3).Campaign();
  ASSERT_EQ(c.raft(3).role(), Role::kCandidate);
  c.node(3).ApplyConfChange(Change(cairnpb::CONF_CHANGE_REMOVE_NODE, 3));
  c.Stabilize();  // the vote grants arrive after the removal
  EXPECT_NE(c.raft(3).role(), Role::kLeader);
}

TEST(TransferTest, LeadershipMovesToNamedMember) {
  TestCluster c({1, 2, 3});
  c.Elect(1);
  c.node(1).TransferLeadership(2);
  c.Stabilize();
  EXPECT_EQ(c.Leader(), 2u);
  EXPECT_EQ(c.raft(2).term(), 2u);
  EXPECT_EQ(c.raft(1).lead(), 2u);
}

TEST(TransferTest, LaggingTransfereeIsCaughtUpFirst) {
  TestCluster c({1, 2, 3});
  c.Elect(1);
  c.Isolate(3);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(c.node(1).Propose("v").ok());
  c.Stabilize();
  c.Heal();
  c.node(2).TransferLeadership(3);  // asked on a follower: forwarded to the leader
  c.Stabilize();
  EXPECT_EQ(c.Leader(), 3u);
  EXPECT_EQ(*c.storage(3).LastIndex(), *c.storage(1).LastIndex());
}

TEST(TransferTest, ProposalsRefusedWhileTransferringThenAbortedAfterTimeout) {
  TestCluster c({1, 2, 3});
  c.Elect(1);
  c.Isolate(2);
  c.node(1).TransferLeadership(2);
  c.Stabilize();
  EXPECT_EQ(c.raft(1).lead_transferee(), 2u);
  EXPECT_TRUE(IsProposalDropped(c.node(1).Propose("x")));
  for (int i = 0; i < 10; ++i) {
    c.Tick(1);
    c.Tick(3);
    c.Stabilize();
  }
  EXPECT_EQ(c.raft(1).lead_transferee(), 0u);
  EXPECT_TRUE(c.node(1).Propose("x").ok());
}

TEST(TransferTest, LearnerCannotBecomeLeader) {
  TestCluster c({1, 2, 3});
  c.Elect(1);
  cairnpb::ConfState cs = testing::Voters({1, 2, 3});
  cs.add_learners(4);
  c.AddMember(4, cs);
  ASSERT_TRUE(c.node(1).ProposeConfChange(Change(cairnpb::CONF_CHANGE_ADD_LEARNER_NODE, 4)).ok());
  c.Stabilize();
  c.node(1).TransferLeadership(4);
  c.Stabilize();
  EXPECT_EQ(c.Leader(), 1u);
  EXPECT_EQ(c.raft(1).lead_transferee(), 0u);
}

}  // namespace
}  // namespace cairn::raft
