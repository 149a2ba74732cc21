// RFC 2782's order of SRV records and the names of etcd's record sets.
#include <gtest/gtest.h>

#include <map>

#include "server/discovery/srv_discovery.h"
#include "server/discovery/srv_lookup.h"

namespace cairn::discovery {
namespace {

SrvRecord Record(uint16_t priority, uint16_t weight, const std::string& target) {
  SrvRecord r;
  r.priority = priority;
  r.weight = weight;
  r.port = 2379;
  r.target = target;
  return r;
}

double g_draw = 0.0;
double FixedDraw() { return g_draw; }

std::vector<std::string> Targets(const std::vector<SrvRecord>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) out.push_back(r.target);
  return out;
}

TEST(SrvOrder, LowerPriorityAlwaysFirst) {
  for (double draw : {0.0, 0.5, 0.999}) {
    g_draw = draw;
    auto ordered = OrderByPriorityAndWeight({Record(20, 100, "c."), Record(10, 0, "a."), Record(30, 5, "d."),
                                             Record(10, 0, "b.")},
                                            &FixedDraw);
    ASSERT_EQ(ordered.size(), 4u);
    EXPECT_EQ(ordered[2].target, "c.");
    EXPECT_EQ(ordered[3].target, "d.");
    EXPECT_EQ(ordered[0].priority, 10);
    EXPECT_EQ(ordered[1].priority, 10);
  }
}

TEST(SrvOrder, WeightDecidesWithinAPriority) {
  // Weights 1 and 3: a draw in the first quarter picks the light record, any other the heavy one.
  g_draw = 0.1;
  EXPECT_EQ(Targets(OrderByPriorityAndWeight({Record(0, 1, "light."), Record(0, 3, "heavy.")}, &FixedDraw)),
            (std::vector<std::string>{"light.", "heavy."}));
  g_draw = 0.5;
  EXPECT_EQ(Targets(OrderByPriorityAndWeight({Record(0, 1, "light."), Record(0, 3, "heavy.")}, &FixedDraw)),
            (std::vector<std::string>{"heavy.", "light."}));
}

TEST(SrvOrder, WeightZeroGoesAfterWeightedRecords) {
  for (double draw : {0.0, 0.3, 0.99}) {
    g_draw = draw;
    auto ordered = OrderByPriorityAndWeight({Record(0, 0, "zero."), Record(0, 5, "five.")}, &FixedDraw);
    EXPECT_EQ(Targets(ordered), (std::vector<std::string>{"five.", "zero."})) << draw;
  }
}

TEST(SrvOrder, EveryRecordKeptOnce) {
  std::vector<SrvRecord> many;
  for (int i = 0; i < 50; ++i) many.push_back(Record(static_cast<uint16_t>(i % 3), static_cast<uint16_t>(i % 4), std::to_string(i) + "."));
  auto ordered = OrderByPriorityAndWeight(many, [] { return 0.42; });
  std::map<std::string, int> seen;
  for (const auto& r : ordered) ++seen[r.target];
  EXPECT_EQ(seen.size(), 50u);
  for (size_t i = 1; i < ordered.size(); ++i) EXPECT_LE(ordered[i - 1].priority, ordered[i].priority);
}

TEST(SrvService, EtcdsRecordNames) {
  EXPECT_EQ(SrvService("etcd-client", "", true), "etcd-client-ssl");
  EXPECT_EQ(SrvService("etcd-client", "", false), "etcd-client");
  EXPECT_EQ(SrvService("etcd-server", "prod", true), "etcd-server-ssl-prod");
  EXPECT_EQ(SrvService("etcd-server", "prod", false), "etcd-server-prod");
}

}  // namespace
}  // namespace cairn::discovery
