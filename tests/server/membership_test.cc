// The founding membership every member derives on its own: from --initial-cluster, or from DNS
// SRV records, where each member knows only its own name.
#include <gtest/gtest.h>

#include <map>

#include "server/membership.h"

namespace cairn::server {
namespace {

Config FromSrv(const std::string& name, const std::string& initial_cluster) {
  Config c;
  c.name = name;
  c.initial_cluster = initial_cluster;
  c.initial_cluster_token = "tok";
  c.founders_from_srv = true;
  c.initial_advertise_peer_urls = {"http://10.0.0.9:2380"};  // matched by address, not compared
  return c;
}

TEST(FoundingMembersFromSrv, EveryMemberDerivesTheSameIdsWithoutKnowingTheOthersNames) {
  // What m1 and m2 each form from the same three records (sorted by URL, others numbered).
  const Config seen_by_m1 = FromSrv("m1", "m1=http://a:2380,0=http://b:2380,1=http://c:2380");
  const Config seen_by_m2 = FromSrv("m2", "0=http://a:2380,m2=http://b:2380,1=http://c:2380");
  auto one = FoundingMembers(seen_by_m1);
  auto two = FoundingMembers(seen_by_m2);
  ASSERT_TRUE(one.ok()) << one.status();
  ASSERT_TRUE(two.ok()) << two.status();
  ASSERT_EQ(one->size(), 3u);
  ASSERT_EQ(two->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*one)[i].peer_urls(0), (*two)[i].peer_urls(0));
    EXPECT_EQ((*one)[i].id(), (*two)[i].id()) << (*one)[i].peer_urls(0);
  }
  EXPECT_EQ(StableId(ClusterSeed(seen_by_m1)), StableId(ClusterSeed(seen_by_m2)));

  // A different token is a different cluster, as with --initial-cluster.
  Config other = seen_by_m1;
  other.initial_cluster_token = "other";
  EXPECT_NE(StableId(ClusterSeed(other)), StableId(ClusterSeed(seen_by_m1)));
}

TEST(FoundingMembersFromFlags, NamesStillCountAndTheFlagsMustAgree) {
  Config c;
  c.name = "m1";
  c.initial_cluster = "m1=http://a:2380,m2=http://b:2380";
  c.initial_advertise_peer_urls = {"http://a:2380"};
  auto members = FoundingMembers(c);
  ASSERT_TRUE(members.ok()) << members.status();
  Config renamed = c;
  renamed.initial_cluster = "m1=http://a:2380,other=http://b:2380";
  auto renamed_members = FoundingMembers(renamed);
  ASSERT_TRUE(renamed_members.ok());
  EXPECT_NE((*members)[1].id(), (*renamed_members)[1].id());

  c.initial_advertise_peer_urls = {"http://elsewhere:2380"};
  EXPECT_FALSE(FoundingMembers(c).ok());
}

}  // namespace
}  // namespace cairn::server
