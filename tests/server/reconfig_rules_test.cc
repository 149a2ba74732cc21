// The membership-change safety rules (--strict-reconfig-check) as etcd 3.4 applies them.
#include "server/reconfig_rules.h"

#include <gtest/gtest.h>

#include <string>

namespace cairn::server {
namespace {

using namespace std::chrono_literals;

constexpr uint64_t kLeader = 1;
const ReconfigClock::time_point kNow = ReconfigClock::time_point() + 1h;

constexpr char kNotEnoughStarted[] = "etcdserver: re-configuration failed due to not enough started members";
constexpr char kUnhealthy[] = "etcdserver: unhealthy cluster";
constexpr char kLearnerNotReady[] = "etcdserver: can only promote a learner member which is in sync with leader";

// Members 1..n; `started` of them (from 1) have published a name.
cairnpb::Membership Cluster(int voters, int started, int learners = 0) {
  cairnpb::Membership membership;
  for (int i = 1; i <= voters + learners; ++i) {
    cairnpb::MemberRecord* m = membership.add_members();
    m->set_id(i);
    if (i <= started) m->set_name("m" + std::to_string(i));
    m->set_is_learner(i > voters);
    if (i > voters) {
      membership.mutable_conf_state()->add_learners(i);
    } else {
      membership.mutable_conf_state()->add_voters(i);
    }
  }
  return membership;
}

// The leader's view: every listed peer heard just now, in contact for `for_how_long`.
PeerView LeaderView(std::initializer_list<uint64_t> peers, ReconfigClock::duration for_how_long = 1min) {
  PeerView view;
  view.is_leader = true;
  for (uint64_t id : peers) view.contact[id] = PeerContact{kNow - for_how_long, kNow - 50ms};
  return view;
}

cairnpb::ConfChange Change(cairnpb::ConfChangeType type, uint64_t id) {
  cairnpb::ConfChange change;
  change.set_type(type);
  change.set_node_id(id);
  return change;
}
cairnpb::ConfChange AddVoter(uint64_t id = 99) { return Change(cairnpb::CONF_CHANGE_ADD_NODE, id); }
cairnpb::ConfChange AddLearner(uint64_t id = 99) { return Change(cairnpb::CONF_CHANGE_ADD_LEARNER_NODE, id); }
cairnpb::ConfChange Remove(uint64_t id) { return Change(cairnpb::CONF_CHANGE_REMOVE_NODE, id); }
cairnpb::ConfChange Promote(uint64_t id) { return Change(cairnpb::CONF_CHANGE_ADD_NODE, id); }

absl::Status Check(const cairnpb::Membership& membership, const cairnpb::ConfChange& change, const PeerView& view,
                   bool strict = true) {
  ReconfigPolicy policy;
  policy.strict = strict;
  return CheckMembershipChange(membership, change, kLeader, view, kNow, policy);
}

void ExpectRefused(const absl::Status& s, absl::StatusCode code, const char* text) {
  EXPECT_EQ(s.code(), code) << s;
  EXPECT_EQ(s.message(), text);
}

TEST(ReconfigRules, ConnectedSinceNeedsRecentContactThatBeganEarlyEnough) {
  PeerView view;
  view.contact[2] = PeerContact{kNow - 10s, kNow - 200ms};
  view.contact[3] = PeerContact{kNow - 10s, kNow - 2s};  // silent longer than the election timeout
  view.contact[4] = PeerContact{kNow - 3s, kNow - 100ms};  // back for only 3 s
  EXPECT_TRUE(ConnectedSince(view, 2, kNow - 5s, kNow, 1000ms));
  EXPECT_FALSE(ConnectedSince(view, 3, kNow - 5s, kNow, 1000ms));
  EXPECT_FALSE(ConnectedSince(view, 4, kNow - 5s, kNow, 1000ms));
  EXPECT_TRUE(ConnectedSince(view, 4, kNow, kNow, 1000ms));
  EXPECT_FALSE(ConnectedSince(view, 5, kNow, kNow, 1000ms));  // never heard
}

TEST(ReconfigRules, AddingAVoterNeedsEnoughStartedMembers) {
  // Three voters, one added but never started: a fourth would need 3 started of 4.
  ExpectRefused(Check(Cluster(3, 2), AddVoter(), LeaderView({2, 3})), absl::StatusCode::kUnknown,
                kNotEnoughStarted);
  EXPECT_TRUE(Check(Cluster(3, 3), AddVoter(), LeaderView({2, 3})).ok());
  // Two started voters may add a third: 2 started of 3.
  EXPECT_TRUE(Check(Cluster(2, 2), AddVoter(), LeaderView({2})).ok());
  // One started of two voters, adding a third needs 2 started.
  ExpectRefused(Check(Cluster(2, 1), AddVoter(), LeaderView({2})), absl::StatusCode::kUnknown,
                kNotEnoughStarted);
}

TEST(ReconfigRules, ALoneMemberMayAlwaysAddASecondVoter) {
  EXPECT_TRUE(Check(Cluster(1, 1), AddVoter(), LeaderView({})).ok());
}

TEST(ReconfigRules, AddingAVoterNeedsEveryVoterConnectedForTheHealthInterval) {
  ExpectRefused(Check(Cluster(3, 3), AddVoter(), LeaderView({2})), absl::StatusCode::kUnavailable, kUnhealthy);
  ExpectRefused(Check(Cluster(3, 3), AddVoter(), LeaderView({2, 3}, 2s)), absl::StatusCode::kUnavailable,
                kUnhealthy);
  PeerView silent = LeaderView({2, 3});
  silent.contact[3].last_heard = kNow - 3s;
  ExpectRefused(Check(Cluster(3, 3), AddVoter(), silent), absl::StatusCode::kUnavailable, kUnhealthy);
  // Learners are not part of the quorum.
  EXPECT_TRUE(Check(Cluster(3, 3, 1), AddVoter(), LeaderView({2, 3})).ok());
}

TEST(ReconfigRules, AddingALearnerSkipsTheStartedRuleButNeedsEveryVoterConnected) {
  // As etcd 3.4: started members do not matter for a learner, live voters do.
  EXPECT_TRUE(Check(Cluster(3, 1), AddLearner(), LeaderView({2, 3})).ok());
  ExpectRefused(Check(Cluster(3, 3), AddLearner(), LeaderView({2})), absl::StatusCode::kUnavailable, kUnhealthy);
  ExpectRefused(Check(Cluster(3, 3), AddLearner(), LeaderView({2, 3}, 2s)), absl::StatusCode::kUnavailable,
                kUnhealthy);
  EXPECT_TRUE(Check(Cluster(3, 3), AddLearner(), LeaderView({2}), /*strict=*/false).ok());
}

TEST(ReconfigRules, RemovingNeedsEnoughStartedMembersAmongThoseThatStay) {
  // Voters 1, 2 started, 3 not: removing 2 leaves 1 started of 2.
  ExpectRefused(Check(Cluster(3, 2), Remove(2), LeaderView({2})), absl::StatusCode::kUnknown,
                kNotEnoughStarted);
  // Removing the one that never started is fine.
  EXPECT_TRUE(Check(Cluster(3, 2), Remove(3), LeaderView({2})).ok());
}

TEST(ReconfigRules, RemovingALearnerIsAlwaysAllowed) {
  EXPECT_TRUE(Check(Cluster(1, 1, 1), Remove(2), LeaderView({})).ok());
  EXPECT_TRUE(Check(Cluster(3, 1, 1), Remove(4), PeerView{}).ok());
}

TEST(ReconfigRules, RemovingAMemberOutOfContactIsAllowed) {
  // Member 3 is down: removing it costs the live quorum nothing.
  EXPECT_TRUE(Check(Cluster(3, 3), Remove(3), LeaderView({2})).ok());
  PeerView lost = LeaderView({2, 3});
  lost.contact[3].last_heard = kNow - 5s;
  EXPECT_TRUE(Check(Cluster(3, 3), Remove(3), lost).ok());
}

TEST(ReconfigRules, RemovingALiveMemberMustLeaveALiveQuorum) {
  // 3 voters, 3 down: removing live 2 leaves the leader alone of {1, 3}.
  ExpectRefused(Check(Cluster(3, 3), Remove(2), LeaderView({2})), absl::StatusCode::kUnavailable, kUnhealthy);
  EXPECT_TRUE(Check(Cluster(3, 3), Remove(2), LeaderView({2, 3})).ok());
  // 5 voters with one down: removing a live one leaves 3 live of 4.
  EXPECT_TRUE(Check(Cluster(5, 5), Remove(2), LeaderView({2, 3, 4})).ok());
  // ... with two down it leaves 2 of 4.
  ExpectRefused(Check(Cluster(5, 5), Remove(2), LeaderView({2, 3})), absl::StatusCode::kUnavailable, kUnhealthy);
  // A member back for less than the health interval does not count as live yet.
  ExpectRefused(Check(Cluster(3, 3), Remove(2), LeaderView({2, 3}, 2s)), absl::StatusCode::kUnavailable,
                kUnhealthy);
}

TEST(ReconfigRules, TheLeaderMayRemoveItselfWhenTheOthersStayLive) {
  EXPECT_TRUE(Check(Cluster(3, 3), Remove(kLeader), LeaderView({2, 3})).ok());
  ExpectRefused(Check(Cluster(3, 3), Remove(kLeader), LeaderView({2})), absl::StatusCode::kUnavailable, kUnhealthy);
}

TEST(ReconfigRules, PromotingALearnerNeedsItInSyncWithTheLeader) {
  PeerView view = LeaderView({2, 3, 4});
  view.leader_match = 1000;
  view.match = {{1, 1000}, {2, 1000}, {3, 1000}, {4, 899}};
  ExpectRefused(Check(Cluster(3, 3, 1), Promote(4), view), absl::StatusCode::kFailedPrecondition, kLearnerNotReady);
  view.match[4] = 900;
  EXPECT_TRUE(Check(Cluster(3, 3, 1), Promote(4), view).ok());
}

TEST(ReconfigRules, ALearnerMissingFromTheLeadersProgressIsNotInSync) {
  PeerView view = LeaderView({2, 3});
  view.leader_match = 1000;
  view.match = {{1, 1000}, {2, 1000}, {3, 1000}};
  ExpectRefused(Check(Cluster(3, 3, 1), Promote(4), view), absl::StatusCode::kFailedPrecondition, kLearnerNotReady);
}

TEST(ReconfigRules, TheLearnerInSyncRuleHoldsWithoutStrictChecks) {
  PeerView view = LeaderView({2});
  view.leader_match = 50;
  view.match = {{1, 50}, {2, 0}};
  ExpectRefused(Check(Cluster(1, 1, 1), Promote(2), view, /*strict=*/false), absl::StatusCode::kFailedPrecondition,
                kLearnerNotReady);
}

TEST(ReconfigRules, PromotingNeedsEnoughStartedMembersCountingTheLearner) {
  PeerView view = LeaderView({2, 3});
  view.leader_match = 10;
  view.match = {{1, 10}, {2, 10}, {3, 10}, {4, 10}};
  // 3 voters, one started (the leader): with the learner, 2 started of 4.
  ExpectRefused(Check(Cluster(3, 1, 1), Promote(4), view), absl::StatusCode::kUnknown, kNotEnoughStarted);
  EXPECT_TRUE(Check(Cluster(3, 1, 1), Promote(4), view, /*strict=*/false).ok());
  EXPECT_TRUE(Check(Cluster(3, 2, 1), Promote(4), view).ok());
}

TEST(ReconfigRules, PromotingAVoterRunsThePromoteChecksFirst) {
  PeerView view = LeaderView({2, 3});
  view.leader_match = 1000;
  view.match = {{1, 1000}, {2, 1000}, {3, 10}};
  ExpectRefused(Check(Cluster(3, 3), Promote(2), view), absl::StatusCode::kFailedPrecondition,
                "etcdserver: can only promote a learner member");
  ExpectRefused(Check(Cluster(3, 3), Promote(3), view), absl::StatusCode::kFailedPrecondition, kLearnerNotReady);
}

TEST(ReconfigRules, PromotingIsAnsweredOnlyByTheLeader) {
  PeerView follower;
  ExpectRefused(Check(Cluster(3, 3, 1), Promote(4), follower), absl::StatusCode::kFailedPrecondition,
                "etcdserver: not leader");
}

TEST(ReconfigRules, StrictChecksOffAllowAddingAndRemovingAnything) {
  EXPECT_TRUE(Check(Cluster(3, 2), AddVoter(), LeaderView({}), /*strict=*/false).ok());
  EXPECT_TRUE(Check(Cluster(3, 3), Remove(2), LeaderView({2}), /*strict=*/false).ok());
  EXPECT_TRUE(Check(Cluster(3, 3), Remove(2), PeerView{}, /*strict=*/false).ok());
}

TEST(ReconfigRules, ConnectivityIsJudgedOnlyOnTheLeader) {
  ExpectRefused(Check(Cluster(3, 3), AddVoter(), PeerView{}), absl::StatusCode::kFailedPrecondition,
                "etcdserver: not leader");
  ExpectRefused(Check(Cluster(3, 3), Remove(2), PeerView{}), absl::StatusCode::kFailedPrecondition,
                "etcdserver: not leader");
}

TEST(ReconfigRules, UpdatesAndUnknownMembersPass) {
  EXPECT_TRUE(Check(Cluster(3, 1), Change(cairnpb::CONF_CHANGE_UPDATE_NODE, 2), PeerView{}).ok());
  EXPECT_TRUE(Check(Cluster(3, 1), Remove(42), PeerView{}).ok());
}

}  // namespace
}  // namespace cairn::server
