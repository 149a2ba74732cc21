// The corruption checks' decisions (server/corruption_rules.h) on made-up hashes.
#include "server/corruption_rules.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace cairn::server {
namespace {

constexpr uint64_t kSelf = 0xa1;
constexpr uint64_t kPeerB = 0xb2;
constexpr uint64_t kPeerC = 0xc3;

PeerHashAnswer Answer(uint64_t id, uint32_t hash, int64_t revision, int64_t compact, int64_t current = 0) {
  PeerHashAnswer a;
  a.member_id = id;
  a.answered = true;
  a.hash = hash;
  a.hash_revision = revision;
  a.compact_revision = compact;
  a.current_revision = current == 0 ? revision : current;
  return a;
}

PeerHashAnswer NoAnswer(uint64_t id, std::string why) {
  PeerHashAnswer a;
  a.member_id = id;
  a.error = std::move(why);
  return a;
}

// ---- start-up check ----

TEST(InitialCheck, PeersAgreeingPasses) {
  const HashSample local{111, 20, 5};
  std::vector<std::string> skipped;
  EXPECT_TRUE(DecideInitialCheck(kSelf, local, {Answer(kPeerB, 111, 20, 5), Answer(kPeerC, 111, 20, 5, 25)},
                                 &skipped)
                  .ok());
  EXPECT_TRUE(skipped.empty());
}

TEST(InitialCheck, MismatchAtSameCompactionFailsNamingPeerAndBothHashes) {
  const HashSample local{111, 20, 5};
  absl::Status s = DecideInitialCheck(kSelf, local, {Answer(kPeerB, 111, 20, 5), Answer(kPeerC, 999, 20, 5)}, nullptr);
  ASSERT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  const std::string text(s.message());
  EXPECT_NE(text.find("member a1 found data inconsistency with peers"), std::string::npos) << text;
  EXPECT_NE(text.find("peer c3 has hash 999, this member 111"), std::string::npos) << text;
  EXPECT_EQ(text.find("peer b2"), std::string::npos) << text;  // b2 agrees
}

TEST(InitialCheck, DifferentCompactionIsSkippedNotFailed) {
  const HashSample local{111, 20, 5};
  std::vector<std::string> skipped;
  EXPECT_TRUE(DecideInitialCheck(kSelf, local, {Answer(kPeerB, 999, 20, 8)}, &skipped).ok());
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find("b2"), std::string::npos);
}

TEST(InitialCheck, UnreachableOrBehindPeersAreSkipped) {
  const HashSample local{111, 20, -1};
  std::vector<std::string> skipped;
  EXPECT_TRUE(DecideInitialCheck(kSelf, local,
                                 {NoAnswer(kPeerB, "connection refused"),
                                  NoAnswer(kPeerC, "etcdserver: mvcc: required revision is a future revision")},
                                 &skipped)
                  .ok());
  EXPECT_EQ(skipped.size(), 2u);
}

TEST(InitialCheck, AnswerAtAnotherRevisionIsNotCompared) {
  const HashSample local{111, 20, -1};
  EXPECT_TRUE(DecideInitialCheck(kSelf, local, {Answer(kPeerB, 999, 21, -1)}, nullptr).ok());
}

TEST(InitialCheck, OneBadPeerAmongGoodOnesStillFails) {
  const HashSample local{111, 20, -1};
  EXPECT_FALSE(DecideInitialCheck(kSelf, local, {NoAnswer(kPeerB, "down"), Answer(kPeerC, 5, 20, -1)}, nullptr).ok());
}

// ---- periodic check (leader) ----

TEST(PeriodicCheck, AgreeingPeersRaiseNothing) {
  const HashSample h{111, 20, 5};
  PeriodicVerdict v = DecidePeriodicCheck(kSelf, h, h, {Answer(kPeerB, 111, 20, 5), Answer(kPeerC, 111, 20, 5)});
  EXPECT_FALSE(v.corrupt);
  EXPECT_EQ(v.peers_checked, 2);
}

TEST(PeriodicCheck, FollowerWithOtherHashAtSameCompactionIsTheCorruptOne) {
  const HashSample h{111, 20, 5};
  PeriodicVerdict v = DecidePeriodicCheck(kSelf, h, h, {Answer(kPeerB, 111, 20, 5), Answer(kPeerC, 999, 20, 5)});
  ASSERT_TRUE(v.corrupt);
  EXPECT_EQ(v.member_id, kPeerC);
}

TEST(PeriodicCheck, WritesDuringTheCheckAreNoMismatch) {
  // The leader moved on between its two hashes; the peers hashed the first revision.
  const HashSample before{111, 20, 5}, after{222, 27, 5};
  PeriodicVerdict v = DecidePeriodicCheck(kSelf, before, after,
                                          {Answer(kPeerB, 111, 20, 5, 26), Answer(kPeerC, 111, 20, 5, 27)});
  EXPECT_FALSE(v.corrupt) << v.reason;
}

TEST(PeriodicCheck, FollowersBehindAreNotJudged) {
  const HashSample h{111, 20, 5};
  PeriodicVerdict v = DecidePeriodicCheck(
      kSelf, h, h, {NoAnswer(kPeerB, "etcdserver: mvcc: required revision is a future revision"),
                    NoAnswer(kPeerC, "unavailable")});
  EXPECT_FALSE(v.corrupt);
  EXPECT_EQ(v.peers_checked, 0);
}

TEST(PeriodicCheck, DifferentHashUnderDifferentCompactionIsNotJudged) {
  // The follower applied a compaction the leader's first hash predates (leader compacted since).
  const HashSample before{111, 20, 5}, after{333, 20, 10};
  PeriodicVerdict v = DecidePeriodicCheck(kSelf, before, after, {Answer(kPeerB, 444, 20, 10)});
  EXPECT_FALSE(v.corrupt) << v.reason;
}

TEST(PeriodicCheck, FollowerAheadOfTheLeaderIsCorrupt) {
  const HashSample h{111, 20, 5};
  PeriodicVerdict v = DecidePeriodicCheck(kSelf, h, h, {Answer(kPeerB, 111, 20, 5, 21)});
  ASSERT_TRUE(v.corrupt);
  EXPECT_EQ(v.member_id, kPeerB);
}

TEST(PeriodicCheck, FollowerCompactedBeyondTheLeaderIsCorrupt) {
  const HashSample h{111, 20, 5};
  PeriodicVerdict v = DecidePeriodicCheck(kSelf, h, h, {Answer(kPeerB, 555, 20, 9)});
  ASSERT_TRUE(v.corrupt);
  EXPECT_EQ(v.member_id, kPeerB);
}

TEST(PeriodicCheck, LeaderWhoseOwnHashChangedAtTheSameRevisionIsCorrupt) {
  const HashSample before{111, 20, 5}, after{112, 20, 5};
  PeriodicVerdict v = DecidePeriodicCheck(kSelf, before, after, {Answer(kPeerB, 111, 20, 5)});
  ASSERT_TRUE(v.corrupt);
  EXPECT_EQ(v.member_id, kSelf);
}

TEST(PeriodicCheck, OneAlarmPerCheckForTheFirstFinding) {
  const HashSample h{111, 20, 5};
  PeriodicVerdict v = DecidePeriodicCheck(kSelf, h, h, {Answer(kPeerB, 1, 20, 5), Answer(kPeerC, 2, 20, 5)});
  ASSERT_TRUE(v.corrupt);
  EXPECT_EQ(v.member_id, kPeerB);
  EXPECT_EQ(v.peers_checked, 2);
}

}  // namespace
}  // namespace cairn::server
