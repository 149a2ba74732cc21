#include <algorithm>

#include "tests/mvcc/store_fixture.h"

namespace cairn::mvcc::testing {
namespace {

using C = etcdserverpb::Compare;
using LongKeyTest = StoreTest;

std::string Key(size_t length, char fill, const std::string& suffix = "") {
  return std::string(length - suffix.size(), fill) + suffix;
}

TEST_F(LongKeyTest, KeysUpToSeveralHundredBytesBehaveNormally) {
  const std::string k300 = Key(300, 'a'), k400 = Key(400, 'a'), k399 = Key(399, 'a');
  Put(k300, "1");
  Put(k400, "2");
  Put(k399, "3");
  EXPECT_EQ(Get(k400).kvs(0).value(), "2");
  EXPECT_EQ(Keys(Get("a", "b")), (std::vector<std::string>{k300, k399, k400}));
  EXPECT_EQ(Delete(k399).deleted(), 1);
  EXPECT_EQ(Get("a", "b").count(), 2);
}

TEST_F(LongKeyTest, VeryLongKeysWork) {
  for (size_t length : {401u, 511u, 600u, 5000u, 1u << 20}) {
    const std::string key = Key(length, 'x', std::to_string(length));
    Put(key, "v" + std::to_string(length));
    auto got = Get(key);
    ASSERT_EQ(got.kvs_size(), 1) << length;
    EXPECT_EQ(got.kvs(0).key(), key);
    EXPECT_EQ(got.kvs(0).value(), "v" + std::to_string(length));
    EXPECT_EQ(Get(key + "?").count(), 0);
    EXPECT_EQ(Get(key.substr(0, length - 1)).count(), 0);
  }
  EXPECT_EQ(Get("x", "y").count(), 5);
  EXPECT_EQ(Delete("x", "y").deleted(), 5);
  EXPECT_EQ(Get("x", "y").count(), 0);
}

// Keys sharing their first 400 bytes: membership is exact, and so is every explicit sort.
TEST_F(LongKeyTest, SharedPrefixMembershipIsExact) {
  const std::string prefix(400, 'p');
  const std::vector<std::string> keys = {prefix, prefix + "a", prefix + "b", prefix + "b1", prefix + "c",
                                         prefix + std::string(300, 'd')};
  for (const auto& k : keys) Put(k, k.substr(400));
  EXPECT_EQ(Get(prefix, prefix + "c").count(), 4);
  EXPECT_EQ(Get(prefix + "b", prefix + "c").count(), 2);
  EXPECT_EQ(Get(prefix + "a", prefix + "b1").count(), 2);
  EXPECT_EQ(Get(prefix + "b", std::string(1, '\0')).count(), 4);
  for (const auto& k : keys) EXPECT_EQ(Get(k).kvs(0).value(), k.substr(400)) << k.size();

  etcdserverpb::RangeRequest sorted;
  sorted.set_key(prefix);
  sorted.set_range_end(prefix + "z");
  sorted.set_sort_order(etcdserverpb::RangeRequest::ASCEND);
  EXPECT_EQ(Keys(Range(sorted)), keys);

  // Reads at a past revision and deletes use the same exact membership.
  const int64_t rev = store_->CurrentRevision();
  EXPECT_EQ(Delete(prefix + "b", prefix + "c").deleted(), 2);
  EXPECT_EQ(Get(prefix + "b", prefix + "c", rev).count(), 2);
  EXPECT_EQ(Get(prefix + "b", prefix + "c").count(), 0);
  EXPECT_EQ(Get(prefix, std::string(1, '\0')).count(), 4);
}

TEST_F(LongKeyTest, TxnAndCompactionWithLongKeys) {
  const std::string key = Key(2000, 'k');
  Put(key, "1");
  Put(key, "2");
  etcdserverpb::TxnRequest req;
  C c = Cmp(key, C::VERSION, C::EQUAL);
  c.set_version(2);
  *req.add_compare() = c;
  *req.add_success() = PutOp(key, "3");
  *req.add_success() = GetOp(key);
  auto resp = Txn(req);
  EXPECT_TRUE(resp.succeeded());
  EXPECT_EQ(resp.responses(1).response_range().kvs(0).value(), "3");
  EXPECT_EQ(Get(key, "", 2).kvs(0).value(), "1");
  CompactFully(store_->CurrentRevision());
  EXPECT_EQ(store_->StoredVersions(), 1);
  EXPECT_EQ(Get(key).kvs(0).version(), 3);
  std::vector<mvccpb::Event> events;
  int64_t next = 0;
  Delete(key);
  ASSERT_TRUE(store_->ReadEvents(key, "", store_->CurrentRevision(), 10, &events, &next).ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kv().key(), key);
  EXPECT_EQ(events[0].prev_kv().value(), "3");
}

}  // namespace
}  // namespace cairn::mvcc::testing
