// Log replication and commitment: §5.3 (log matching, conflict repair — Figure 7), §5.4.2
// (commit only current-term entries by counting — Figure 8), flow control and snapshots (§7).
#include <gtest/gtest.h>

#include "tests/raft/test_cluster.h"

namespace cairn::raft {
namespace {

using testing::TestCluster;

std::vector<uint64_t> StoredTerms(MemoryStorage& s) {
  std::vector<uint64_t> terms;
  for (uint64_t i = *s.FirstIndex(); i <= *s.LastIndex(); ++i) terms.push_back(*s.Term(i));
  return terms;
}

// Figure 7: a leader for term 8 and six possible follower logs. Whatever the follower holds, the
// leader's log replaces it, and fast backtracking keeps the number of round trips small.
TEST(ReplicationTest, Figure7FollowersConvergeOnLeaderLog) {
  const std::vector<uint64_t> leader_log = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6};
  const std::vector<std::vector<uint64_t>> followers = {
      {1, 1, 1, 4, 4, 5, 5, 6, 6},           // (a) missing one entry
      {1, 1, 1, 4},                          // (b) missing many
      {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6},     // (c) one extra uncommitted entry
      {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7},  // (d) extra entries from term 7
      {1, 1, 1, 4, 4, 4, 4},                 // (e) conflicting term-4 entries
      {1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3},     // (f) a leader of terms 2-3 that never committed
  };
  for (size_t f = 0; f < followers.size(); ++f) {
    SCOPED_TRACE("follower (" + std::string(1, static_cast<char>('a' + f)) + ")");
    TestCluster c({1, 2}, {{1, leader_log}, {2, followers[f]}}, {{1, 7}, {2, 7}});
    Raft& leader = c.raft(1);
    leader.BecomeCandidate();  // term 8
    leader.BecomeLeader();
    ASSERT_EQ(leader.term(), 8u);
    ASSERT_TRUE(c.node(1).Propose("x").ok());
    c.Stabilize();
    std::vector<uint64_t> expected = leader_log;
    expected.push_back(8);  // no-op
    expected.push_back(8);  // "x"
    EXPECT_EQ(StoredTerms(c.storage(2)), expected);
    EXPECT_EQ(StoredTerms(c.storage(1)), expected);
    EXPECT_EQ(c.raft(2).log().committed(), 12u);
    // One probe per distinct conflicting term, not one per entry.
    EXPECT_LE(c.messages_delivered(), 14u);
  }
}

// Figure 8: an entry from an earlier term stored on a majority is not yet committed; only once an
// entry of the leader's own term reaches a majority are both committed.
TEST(ReplicationTest, Figure8OldTermEntryNotCommittedByCounting) {
  TestCluster c({1, 2, 3, 4, 5},
                {{1, {1, 2}}, {2, {1, 2}}, {3, {1}}, {4, {1}}, {5, {1, 3}}},
                {{1, 3}, {2, 3}, {3, 3}, {4, 3}, {5, 3}});
  Raft& s1 = c.raft(1);
  s1.BecomeCandidate();  // term 4
  s1.BecomeLeader();     // appends its no-op at index 3
  (void)s1.TakeMessages();
  auto ack = [&](uint64_t from, uint64_t index) {
    cairnpb::Message m;
    m.set_type(cairnpb::MSG_APPEND_RESPONSE);
    m.set_from(from);
    m.set_to(1);
    m.set_term(4);
    m.set_index(index);
    (void)s1.Step(m);
  };
  // Index 2 (term 2) now lives on S1, S2, S3: a majority of five.
  ack(2, 2);
  ack(3, 2);
  EXPECT_EQ(s1.log().committed(), 0u) << "term-2 entry must not be committed by counting";
  // S5 (last term 3) could still be elected and overwrite index 2, which is why.
  EXPECT_TRUE(c.raft(2).log().IsUpToDate(2, 3));
  ack(2, 3);
  ack(3, 3);
  EXPECT_EQ(s1.log().committed(), 3u);  // the term-4 entry commits, and index 2 with it
}

TEST(ReplicationTest, NoCommitWithoutQuorum) {
  TestCluster c({1, 2, 3});
  c.Elect(1);
  const uint64_t before = c.raft(1).log().committed();
  c.Isolate(1);
  ASSERT_TRUE(c.node(1).Propose("x").ok());
  c.Stabilize();
  EXPECT_EQ(c.raft(1).log().committed(), before);
  c.Heal();
  c.TickAll(1);
  c.Stabilize();
  EXPECT_EQ(c.raft(1).log().committed(), before + 1);
  EXPECT_EQ(c.applied(3).back().data(), "x");
}

TEST(ReplicationTest, ProposalWithoutLeaderFailsFast) {
  TestCluster c({1, 2, 3});
  absl::Status s = c.node(1).Propose("x");
  EXPECT_TRUE(IsProposalDropped(s)) << s;
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  // A pre-candidate has no leader either.
  c.Isolate(1);
  c.Tick(1, 20);
  ASSERT_NE(c.raft(1).role(), Role::kFollower);
  EXPECT_TRUE(IsProposalDropped(c.node(1).Propose("x")));
  EXPECT_TRUE(IsProposalDropped(c.node(1).ReadIndex("r")));
}

TEST(ReplicationTest, FollowerForwardsProposalToLeader) {
  TestCluster c({1, 2, 3});
  c.Elect(1);
  ASSERT_TRUE(c.node(2).Propose("from-2").ok());
  c.Stabilize();
  for (uint64_t id : {1, 2, 3}) EXPECT_EQ(c.applied(id).back().data(), "from-2");
}

int AppendsTo(TestCluster& c, uint64_t to, size_t* largest = nullptr) {
  int n = 0;
  for (const auto& m : c.pending()) {
    if (m.type() == cairnpb::MSG_APPEND && m.to() == to) {
      ++n;
      if (largest) *largest = std::max<size_t>(*largest, m.entries_size());
    }
  }
  return n;
}

TEST(ReplicationTest, ProposalsBetweenReadysTravelInOneAppend) {
  TestCluster c({1, 2, 3});
  c.Elect(1);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(c.node(1).Propose("p" + std::to_string(i)).ok());
  c.ProcessReadys();
  size_t largest = 0;
  EXPECT_EQ(AppendsTo(c, 2, &largest), 1);
  EXPECT_EQ(largest, 6u);
  c.Stabilize();
  EXPECT_EQ(c.applied(2).size(), 7u);
}

TEST(ReplicationTest, InflightWindowBoundsUnacknowledgedAppendsAndBatchesTheRest) {
  TestCluster c({1, 2, 3}, [](Config& cfg) { cfg.max_inflight_msgs = 2; });
  c.Elect(1);
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(c.node(1).Propose("p" + std::to_string(i)).ok());
    c.ProcessReadys();  // one Ready per proposal: each would go out on its own
  }
  EXPECT_EQ(AppendsTo(c, 2), 2);  // the window is full; the other 4 proposals wait
  // Deliver the appends and their acknowledgements by hand, then look at the next append.
  for (int hop = 0; hop < 2; ++hop) {
    auto batch = std::move(c.pending());
    c.pending().clear();
    for (const auto& m : batch) (void)c.node(m.to()).Step(m);
    c.ProcessReadys();
  }
  size_t largest = 0;
  AppendsTo(c, 2, &largest);
  EXPECT_EQ(largest, 4u);  // the waiting proposals travel together
  c.Stabilize();
  EXPECT_EQ(c.applied(2).size(), 7u);
}

TEST(ReplicationTest, LaggingFollowerCatchesUpFromSnapshot) {
  TestCluster c({1, 2, 3});
  c.Elect(1);
  c.Isolate(3);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(c.node(1).Propose("v" + std::to_string(i)).ok());
    c.Stabilize();
  }
  const uint64_t applied = c.applied(1).back().index();
  ASSERT_TRUE(c.storage(1).CreateSnapshot(applied, testing::Voters({1, 2, 3}), "image").ok());
  ASSERT_TRUE(c.storage(1).Compact(applied).ok());
  c.Heal();
  for (int i = 0; i < 3; ++i) {
    c.TickAll(1);
    c.Stabilize();
  }
  auto snap = c.storage(3).GetSnapshot();
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->metadata().index(), applied);
  EXPECT_EQ(snap->data(), "image");
  EXPECT_EQ(*c.storage(3).LastIndex(), *c.storage(1).LastIndex());
  // Replication continues normally afterwards.
  ASSERT_TRUE(c.node(1).Propose("after").ok());
  c.Stabilize();
  EXPECT_EQ(c.applied(3).back().data(), "after");
}

TEST(ReplicationTest, LostSnapshotIsRetriedAfterReport) {
  TestCluster c({1, 2, 3});
  c.Elect(1);
  c.Isolate(3);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(c.node(1).Propose("v" + std::to_string(i)).ok());
    c.Stabilize();
  }
  const uint64_t applied = c.applied(1).back().index();
  ASSERT_TRUE(c.storage(1).CreateSnapshot(applied, testing::Voters({1, 2, 3}), "image").ok());
  ASSERT_TRUE(c.storage(1).Compact(applied).ok());
  c.Heal();
  c.DropType(cairnpb::MSG_SNAPSHOT);
  for (int i = 0; i < 3; ++i) {
    c.TickAll(1);
    c.Stabilize();
  }
  ASSERT_EQ(c.node(1).Status().progress.at(3).state, ProgressState::kSnapshot);
  c.node(1).ReportSnapshot(3, false);  // the transport tells raft the snapshot was lost
  EXPECT_EQ(c.node(1).Status().progress.at(3).state, ProgressState::kProbe);
  c.Heal();
  for (int i = 0; i < 3; ++i) {
    c.TickAll(1);
    c.Stabilize();
  }
  EXPECT_EQ(*c.storage(3).LastIndex(), *c.storage(1).LastIndex());
  ASSERT_TRUE(c.node(1).Propose("after").ok());
  c.Stabilize();
  EXPECT_EQ(c.node(1).Status().progress.at(3).state, ProgressState::kReplicate);
  EXPECT_EQ(c.applied(3).back().data(), "after");
}

TEST(ReplicationTest, UnreachableFollowerFallsBackToProbing) {
  TestCluster c({1, 2, 3});
  c.Elect(1);
  ASSERT_EQ(c.node(1).Status().progress.at(2).state, ProgressState::kReplicate);
  c.node(1).ReportUnreachable(2);
  EXPECT_EQ(c.node(1).Status().progress.at(2).state, ProgressState::kProbe);
  ASSERT_TRUE(c.node(1).Propose("x").ok());
  c.Stabilize();
  EXPECT_EQ(c.node(1).Status().progress.at(2).state, ProgressState::kReplicate);
}

TEST(ReplicationTest, RestartKeepsPersistedStateAndSkipsApplied) {
  TestCluster c({1});
  c.Elect(1);
  ASSERT_TRUE(c.node(1).Propose("a").ok());
  c.Stabilize();
  Config cfg;
  cfg.id = 1;
  cfg.storage = &c.storage(1);
  cfg.applied = 2;
  auto restarted = RawNode::Create(cfg);
  ASSERT_TRUE(restarted.ok());
  EXPECT_EQ((*restarted)->raft().term(), 1u);
  EXPECT_EQ((*restarted)->raft().log().committed(), 2u);
  EXPECT_FALSE((*restarted)->raft().log().HasNextCommittedEntries());
}

}  // namespace
}  // namespace cairn::raft
