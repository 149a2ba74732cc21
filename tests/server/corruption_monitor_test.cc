// CorruptionMonitor::CheckOnce (server/corruption_check.h) with fake hooks: what it compares, in
// which order, and when it proposes the alarm.
#include "server/corruption_check.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace cairn::server {
namespace {

constexpr uint64_t kSelf = 1, kPeer = 2;

struct Fake {
  std::vector<HashSample> local;  // successive LocalHash answers
  size_t local_calls = 0;
  std::vector<PeerHashAnswer> peers;
  int64_t asked_revision = 0;
  std::vector<std::string> order;
  absl::Status barrier = absl::OkStatus();
  bool already_raised = false;
  std::vector<uint64_t> raised;

  CorruptionMonitorHooks Hooks() {
    CorruptionMonitorHooks h;
    h.self_id = kSelf;
    h.is_leader = [] { return true; };
    h.membership = [] { return cairnpb::Membership(); };
    h.local_hash = [this]() -> absl::StatusOr<HashSample> {
      order.push_back("hash");
      return local.at(std::min(local_calls++, local.size() - 1));
    };
    h.ask_peers = [this](const cairnpb::Membership&, int64_t revision) {
      order.push_back("peers");
      asked_revision = revision;
      return peers;
    };
    h.read_barrier = [this] {
      order.push_back("barrier");
      return barrier;
    };
    h.corrupt_raised = [this](uint64_t) { return already_raised; };
    h.raise_corrupt = [this](uint64_t member) {
      raised.push_back(member);
      return absl::OkStatus();
    };
    h.log = [](const std::string&) {};
    return h;
  }
};

PeerHashAnswer Peer(uint32_t hash, int64_t revision, int64_t current) {
  PeerHashAnswer a;
  a.member_id = kPeer;
  a.answered = true;
  a.hash = hash;
  a.hash_revision = revision;
  a.compact_revision = -1;
  a.current_revision = current;
  return a;
}

TEST(CorruptionMonitor, AsksPeersAtItsRevisionAndHashesAgainAfterABarrier) {
  Fake fake;
  fake.local = {{7, 30, -1}, {8, 33, -1}};  // writes landed during the check
  fake.peers = {Peer(7, 30, 33)};
  CorruptionMonitor monitor(std::chrono::hours(1), fake.Hooks());
  EXPECT_TRUE(monitor.CheckOnce().ok());
  EXPECT_EQ(fake.asked_revision, 30);
  EXPECT_EQ(fake.order, (std::vector<std::string>{"hash", "peers", "barrier", "hash"}));
  EXPECT_TRUE(fake.raised.empty());
}

TEST(CorruptionMonitor, RaisesForTheDivergedPeerOnceUntilTheAlarmIsThere) {
  Fake fake;
  fake.local = {{7, 30, -1}};
  fake.peers = {Peer(99, 30, 30)};
  CorruptionMonitor monitor(std::chrono::hours(1), fake.Hooks());
  EXPECT_TRUE(monitor.CheckOnce().ok());
  EXPECT_EQ(fake.raised, std::vector<uint64_t>{kPeer});
  fake.already_raised = true;
  EXPECT_TRUE(monitor.CheckOnce().ok());
  EXPECT_EQ(fake.raised, std::vector<uint64_t>{kPeer});  // nothing proposed again
}

TEST(CorruptionMonitor, NoBarrierNoVerdict) {
  Fake fake;
  fake.local = {{7, 30, -1}};
  fake.peers = {Peer(99, 30, 30)};
  fake.barrier = absl::DeadlineExceededError("etcdserver: request timed out");
  CorruptionMonitor monitor(std::chrono::hours(1), fake.Hooks());
  EXPECT_EQ(monitor.CheckOnce().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(fake.raised.empty());
}

}  // namespace
}  // namespace cairn::server
