#include "tests/mvcc/store_fixture.h"

namespace cairn::mvcc::testing {
namespace {

using R = etcdserverpb::RangeRequest;
using Strings = std::vector<std::string>;

// a: create 2, mod 5, version 2, "v3"; b: 3/3/1 "v1"; c: 4/4/1 "v2"; d: 6/6/1 "v0". Revision 6.
class RangeTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    Put("a", "old");
    Put("b", "v1");
    Put("c", "v2");
    Put("a", "v3");
    Put("d", "v0");
    ASSERT_EQ(store_->CurrentRevision(), 6);
  }
  R All() {
    R r;
    r.set_key("a");
    r.set_range_end("e");
    return r;
  }
};

TEST_F(RangeTest, SingleKeyAndMissingKey) {
  auto resp = Get("c");
  ASSERT_EQ(resp.kvs_size(), 1);
  EXPECT_EQ(resp.kvs(0).value(), "v2");
  EXPECT_EQ(resp.count(), 1);
  EXPECT_FALSE(resp.more());
  EXPECT_EQ(resp.header().revision(), 6);
  auto missing = Get("zz");
  EXPECT_EQ(missing.kvs_size(), 0);
  EXPECT_EQ(missing.count(), 0);
  EXPECT_EQ(missing.header().revision(), 6);
}

TEST_F(RangeTest, HalfOpenIntervalAndPrefix) {
  EXPECT_EQ(Keys(Get("a", "c")), (Strings{"a", "b"}));
  Put("ab", "x");
  Put("ac/1", "x");
  EXPECT_EQ(Keys(Get("a", "b")), (Strings{"a", "ab", "ac/1"}));
  EXPECT_EQ(Keys(Get("ac", "ad")), (Strings{"ac/1"}));
  EXPECT_EQ(Get("c", "a").count(), 0);  // end before key: nothing
}

TEST_F(RangeTest, NulRangeEndMeansEveryKeyFromKey) {
  EXPECT_EQ(Keys(Get("b", std::string(1, '\0'))), (Strings{"b", "c", "d"}));
  EXPECT_EQ(Keys(Get(std::string(1, '\0'), std::string(1, '\0'))), (Strings{"a", "b", "c", "d"}));
}

TEST_F(RangeTest, ReadsAtPastRevisions) {
  auto at4 = Get("a", "e", 4);
  EXPECT_EQ(Keys(at4), (Strings{"a", "b", "c"}));
  EXPECT_EQ(at4.kvs(0).value(), "old");
  EXPECT_EQ(at4.kvs(0).mod_revision(), 2);
  EXPECT_EQ(at4.count(), 3);
  EXPECT_EQ(at4.header().revision(), 6);  // the header carries the current revision
  EXPECT_EQ(Get("a", "", 2).kvs(0).value(), "old");
  EXPECT_EQ(Get("a", "", 1).count(), 0);
  EXPECT_EQ(Get("d", "", 5).count(), 0);

  Delete("b");
  EXPECT_EQ(Get("b").count(), 0);
  EXPECT_EQ(Get("b", "", 6).kvs(0).value(), "v1");
  EXPECT_EQ(Keys(Get("a", "e", 6)), (Strings{"a", "b", "c", "d"}));
  EXPECT_EQ(Keys(Get("a", "e", 7)), (Strings{"a", "c", "d"}));
  EXPECT_EQ(Keys(Get("b", std::string(1, '\0'), 3)), (Strings{"b"}));
}

TEST_F(RangeTest, FutureRevisionFails) {
  R r = All();
  r.set_revision(7);
  etcdserverpb::RangeResponse resp;
  absl::Status s = TryRange(r, &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(s.message(), "etcdserver: mvcc: required revision is a future revision");
}

TEST_F(RangeTest, LimitMoreAndCount) {
  R r = All();
  r.set_limit(2);
  auto resp = Range(r);
  EXPECT_EQ(Keys(resp), (Strings{"a", "b"}));
  EXPECT_TRUE(resp.more());
  EXPECT_EQ(resp.count(), 4);
  r.set_limit(4);
  resp = Range(r);
  EXPECT_EQ(resp.kvs_size(), 4);
  EXPECT_FALSE(resp.more());
  r.set_limit(10);
  EXPECT_FALSE(Range(r).more());
  r.set_limit(1);
  r.set_revision(3);
  resp = Range(r);
  EXPECT_EQ(Keys(resp), (Strings{"a"}));
  EXPECT_TRUE(resp.more());
  EXPECT_EQ(resp.count(), 2);
}

TEST_F(RangeTest, SortByEveryTargetAndOrder) {
  struct Case {
    R::SortTarget target;
    R::SortOrder order;
    Strings want;
  } cases[] = {
      {R::KEY, R::NONE, {"a", "b", "c", "d"}},        {R::KEY, R::ASCEND, {"a", "b", "c", "d"}},
      {R::KEY, R::DESCEND, {"d", "c", "b", "a"}},     {R::VERSION, R::NONE, {"b", "c", "d", "a"}},
      {R::VERSION, R::ASCEND, {"b", "c", "d", "a"}},  {R::VERSION, R::DESCEND, {"a", "b", "c", "d"}},
      {R::CREATE, R::NONE, {"a", "b", "c", "d"}},     {R::CREATE, R::DESCEND, {"d", "c", "b", "a"}},
      {R::MOD, R::ASCEND, {"b", "c", "a", "d"}},      {R::MOD, R::DESCEND, {"d", "a", "c", "b"}},
      {R::VALUE, R::NONE, {"d", "b", "c", "a"}},      {R::VALUE, R::DESCEND, {"a", "c", "b", "d"}},
  };
  for (const Case& c : cases) {
    R r = All();
    r.set_sort_target(c.target);
    r.set_sort_order(c.order);
    EXPECT_EQ(Keys(Range(r)), c.want) << R::SortTarget_Name(c.target) << " " << R::SortOrder_Name(c.order);
  }
}

TEST_F(RangeTest, SortThenLimit) {
  R r = All();
  r.set_sort_target(R::MOD);
  r.set_sort_order(R::DESCEND);
  r.set_limit(2);
  auto resp = Range(r);
  EXPECT_EQ(Keys(resp), (Strings{"d", "a"}));
  EXPECT_TRUE(resp.more());
  EXPECT_EQ(resp.count(), 4);
}

TEST_F(RangeTest, RevisionFiltersApplyAfterFetchAndLeaveCountAlone) {
  R r = All();
  r.set_min_mod_revision(4);
  auto resp = Range(r);
  EXPECT_EQ(Keys(resp), (Strings{"a", "c", "d"}));
  EXPECT_EQ(resp.count(), 4);
  r = All();
  r.set_max_mod_revision(4);
  EXPECT_EQ(Keys(Range(r)), (Strings{"b", "c"}));
  r = All();
  r.set_min_create_revision(3);
  EXPECT_EQ(Keys(Range(r)), (Strings{"b", "c", "d"}));
  r = All();
  r.set_max_create_revision(3);
  EXPECT_EQ(Keys(Range(r)), (Strings{"a", "b"}));
  r = All();
  r.set_min_mod_revision(4);
  r.set_max_mod_revision(5);
  EXPECT_EQ(Keys(Range(r)), (Strings{"a", "c"}));

  // With a limit, the filter runs over every match first; `more` compares the filtered list.
  r = All();
  r.set_min_mod_revision(4);
  r.set_limit(2);
  resp = Range(r);
  EXPECT_EQ(Keys(resp), (Strings{"a", "c"}));
  EXPECT_TRUE(resp.more());
  EXPECT_EQ(resp.count(), 4);
  r.set_limit(3);
  resp = Range(r);
  EXPECT_EQ(resp.kvs_size(), 3);
  EXPECT_FALSE(resp.more());
}

TEST_F(RangeTest, KeysOnlyDropsValuesOnly) {
  R r = All();
  r.set_keys_only(true);
  auto resp = Range(r);
  ASSERT_EQ(resp.kvs_size(), 4);
  for (const auto& kv : resp.kvs()) EXPECT_TRUE(kv.value().empty());
  EXPECT_EQ(resp.kvs(0).version(), 2);
  EXPECT_EQ(resp.kvs(0).mod_revision(), 5);
}

TEST_F(RangeTest, CountOnlyReturnsNoKvs) {
  R r = All();
  r.set_count_only(true);
  auto resp = Range(r);
  EXPECT_EQ(resp.kvs_size(), 0);
  EXPECT_EQ(resp.count(), 4);
  EXPECT_FALSE(resp.more());
  r.set_limit(1);
  resp = Range(r);
  EXPECT_EQ(resp.count(), 4);
  EXPECT_FALSE(resp.more());
  r.set_revision(3);
  EXPECT_EQ(Range(r).count(), 2);
}

TEST_F(RangeTest, SerializableMakesNoDifference) {
  R r = All();
  r.set_serializable(true);
  EXPECT_EQ(Keys(Range(r)), (Strings{"a", "b", "c", "d"}));
}

TEST_F(RangeTest, ConcurrentReadersSeeCommittedState) {
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        etcdserverpb::RangeResponse resp;
        R r = All();
        if (!store_->Range(r, &resp).ok() || resp.count() < 4) ++bad;
      }
    });
  }
  for (int i = 0; i < 50; ++i) Put("e" + std::to_string(i), "x");
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace cairn::mvcc::testing
