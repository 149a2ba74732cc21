// Runs the deterministic simulator over many seeds. CAIRN_RAFT_SIM_SEEDS / CAIRN_RAFT_SIM_STEPS
// override the defaults (300 seeds x 5000 steps, split into shards so ctest -j can parallelise).
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "tests/raft/simulator.h"

namespace cairn::raft::sim {
namespace {

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

constexpr int kShards = 6;

class SimulatorShard : public ::testing::TestWithParam<int> {};

TEST_P(SimulatorShard, SafetyAndLivenessHoldForEverySeed) {
  const int seeds = EnvInt("CAIRN_RAFT_SIM_SEEDS", 300);
  const int steps = EnvInt("CAIRN_RAFT_SIM_STEPS", 5000);
  for (int s = GetParam(); s < seeds; s += kShards) {
    Options o;
    o.seed = static_cast<uint64_t>(s) + 1;
    o.steps = steps;
    o.members = (s % 2 == 0) ? 3 : 5;
    Result r = RunSimulation(o);
    ASSERT_TRUE(r.ok) << r.failure << "\nreplay: " << ReplayCommand(o);
    // A run that never elected or committed anything would prove nothing.
    EXPECT_GT(r.leaders_elected, 0u) << ReplayCommand(o);
    EXPECT_GT(r.entries_committed, 0u) << ReplayCommand(o);
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, SimulatorShard, ::testing::Range(0, kShards));

// The checks must be able to fail: with deliberately broken raft, some seed must be caught.
TEST(SimulatorSelfTest, CatchesCommitWithoutQuorum) {
  bool caught = false;
  for (uint64_t seed = 1; seed <= 40 && !caught; ++seed) {
    Options o;
    o.seed = seed;
    o.steps = 3000;
    o.members = 3;
    o.unsafe_commit_without_quorum = true;
    caught = !RunSimulation(o).ok;
  }
  EXPECT_TRUE(caught);
}

TEST(SimulatorSelfTest, CatchesReadsWithoutQuorum) {
  bool caught = false;
  for (uint64_t seed = 1; seed <= 40 && !caught; ++seed) {
    Options o;
    o.seed = seed;
    o.steps = 3000;
    o.members = 5;
    o.unsafe_read_without_quorum = true;
    Result r = RunSimulation(o);
    caught = !r.ok && r.failure.find("stale read") != std::string::npos;
  }
  EXPECT_TRUE(caught);
}

TEST(SimulatorSelfTest, SameSeedSameRun) {
  Options o;
  o.seed = 7;
  o.steps = 2000;
  o.members = 5;
  Result a = RunSimulation(o), b = RunSimulation(o);
  EXPECT_EQ(a.messages_delivered, b.messages_delivered);
  EXPECT_EQ(a.entries_committed, b.entries_committed);
  EXPECT_EQ(a.reads_served, b.reads_served);
}

}  // namespace
}  // namespace cairn::raft::sim
