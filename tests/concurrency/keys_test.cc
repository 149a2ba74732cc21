// Key layout and request builders: what must match etcd byte for byte.
#include "server/concurrency/keys.h"

#include <gtest/gtest.h>

#include "server/concurrency/txn_ops.h"

namespace cairn::concurrency {
namespace {

TEST(KeysTest, ContenderKeyIsThePrefixAndTheLeaseInLowerCaseHexWithoutPadding) {
  EXPECT_EQ(ContenderKey(ContenderPrefix("job"), 0x694d77aa9ec3a50a), "job/694d77aa9ec3a50a");
  EXPECT_EQ(ContenderKey(ContenderPrefix("job"), 0xff), "job/ff");
  EXPECT_EQ(ContenderKey(ContenderPrefix(""), 1), "/1");
}

// etcd formats the signed id (Go's %x): Lock/Campaign with lease -7 use the key "job/-7", which
// a KV put may have created (then etcd answers with that key instead of "lease not found").
TEST(KeysTest, ContenderKeyOfANegativeLeaseIsASignAndTheMagnitude) {
  EXPECT_EQ(ContenderKey(ContenderPrefix("job"), -7), "job/-7");
  EXPECT_EQ(ContenderKey(ContenderPrefix("job"), -0x1a), "job/-1a");
  EXPECT_EQ(ContenderKey(ContenderPrefix("job"), INT64_MIN), "job/-8000000000000000");
  EXPECT_EQ(ContenderKey(ContenderPrefix("job"), INT64_MAX), "job/7fffffffffffffff");
}

TEST(KeysTest, PrefixRangeEndIncrementsTheLastByteThatCan) {
  EXPECT_EQ(PrefixRangeEnd("job/"), "job0");
  EXPECT_EQ(PrefixRangeEnd(std::string("a\xff", 2)), "b");
  EXPECT_EQ(PrefixRangeEnd(std::string("\xff\xff", 2)), std::string(1, '\0'));
  EXPECT_EQ(PrefixRangeEnd(""), std::string(1, '\0'));
}

TEST(KeysTest, OldestContenderIsTheFirstByCreateRevisionUnderThePrefix) {
  const etcdserverpb::RangeRequest range = OldestContender("job/");
  EXPECT_EQ(range.key(), "job/");
  EXPECT_EQ(range.range_end(), "job0");
  EXPECT_EQ(range.sort_target(), etcdserverpb::RangeRequest::CREATE);
  EXPECT_EQ(range.sort_order(), etcdserverpb::RangeRequest::ASCEND);
  EXPECT_EQ(range.limit(), 1);
  EXPECT_EQ(range.max_create_revision(), 0);
}

TEST(KeysTest, NewestContenderUpToLooksOnlyAtOlderKeys) {
  const etcdserverpb::RangeRequest range = NewestContenderUpTo("job/", 41);
  EXPECT_EQ(range.sort_target(), etcdserverpb::RangeRequest::CREATE);
  EXPECT_EQ(range.sort_order(), etcdserverpb::RangeRequest::DESCEND);
  EXPECT_EQ(range.limit(), 1);
  EXPECT_EQ(range.max_create_revision(), 41);
}

TEST(TxnOpsTest, DeleteIfCreatedAtComparesTheCreateRevision) {
  const etcdserverpb::TxnRequest txn = DeleteIfCreatedAt("job/1", 7);
  ASSERT_EQ(txn.compare_size(), 1);
  EXPECT_EQ(txn.compare(0).target(), etcdserverpb::Compare::CREATE);
  EXPECT_EQ(txn.compare(0).result(), etcdserverpb::Compare::EQUAL);
  EXPECT_EQ(txn.compare(0).create_revision(), 7);
  ASSERT_EQ(txn.success_size(), 1);
  EXPECT_EQ(txn.success(0).request_delete_range().key(), "job/1");
  EXPECT_TRUE(txn.success(0).request_delete_range().range_end().empty());
  EXPECT_EQ(txn.failure_size(), 0);
}

}  // namespace
}  // namespace cairn::concurrency
