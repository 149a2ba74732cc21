#include "tests/mvcc/store_fixture.h"

namespace cairn::mvcc::testing {
namespace {

using PutTest = StoreTest;

TEST_F(PutTest, EmptyStoreIsAtRevisionOne) {
  EXPECT_EQ(store_->CurrentRevision(), 1);
  auto resp = Get("a");
  EXPECT_EQ(resp.header().revision(), 1);
  EXPECT_EQ(resp.count(), 0);
}

TEST_F(PutTest, SetsCreateModVersionLikeEtcd) {
  EXPECT_EQ(Put("a", "1").header().revision(), 2);
  EXPECT_EQ(Put("a", "2").header().revision(), 3);
  EXPECT_EQ(Put("b", "x").header().revision(), 4);
  auto a = Get("a").kvs(0);
  EXPECT_EQ(a.value(), "2");
  EXPECT_EQ(a.create_revision(), 2);
  EXPECT_EQ(a.mod_revision(), 3);
  EXPECT_EQ(a.version(), 2);
  auto b = Get("b").kvs(0);
  EXPECT_EQ(b.create_revision(), 4);
  EXPECT_EQ(b.mod_revision(), 4);
  EXPECT_EQ(b.version(), 1);
  EXPECT_EQ(store_->CurrentRevision(), 4);
}

TEST_F(PutTest, SameValueStillTakesARevision) {
  Put("a", "v");
  EXPECT_EQ(Put("a", "v").header().revision(), 3);
  EXPECT_EQ(Get("a").kvs(0).version(), 2);
}

TEST_F(PutTest, RecreatedKeyStartsANewGeneration) {
  Put("a", "1");
  Put("a", "2");
  Delete("a");
  Put("a", "3");
  auto kv = Get("a").kvs(0);
  EXPECT_EQ(kv.create_revision(), 5);
  EXPECT_EQ(kv.mod_revision(), 5);
  EXPECT_EQ(kv.version(), 1);
}

TEST_F(PutTest, PrevKvReturnsThePreviousVersion) {
  etcdserverpb::PutRequest req;
  req.set_key("k");
  req.set_value("1");
  req.set_prev_kv(true);
  etcdserverpb::PutResponse first;
  ASSERT_TRUE(TryPut(req, &first).ok());
  EXPECT_FALSE(first.has_prev_kv());
  req.set_value("2");
  etcdserverpb::PutResponse second;
  ASSERT_TRUE(TryPut(req, &second).ok());
  ASSERT_TRUE(second.has_prev_kv());
  EXPECT_EQ(second.prev_kv().key(), "k");
  EXPECT_EQ(second.prev_kv().value(), "1");
  EXPECT_EQ(second.prev_kv().mod_revision(), 2);
  EXPECT_EQ(second.prev_kv().version(), 1);
}

TEST_F(PutTest, LeaseIsStoredOnTheKey) {
  Put("k", "v", 42);
  EXPECT_EQ(Get("k").kvs(0).lease(), 42);
  Put("k", "v2");
  EXPECT_EQ(Get("k").kvs(0).lease(), 0);
}

TEST_F(PutTest, IgnoreValueKeepsValueAndIgnoreLeaseKeepsLease) {
  Put("k", "original", 7);
  etcdserverpb::PutRequest req;
  req.set_key("k");
  req.set_ignore_value(true);
  req.set_lease(9);
  ASSERT_TRUE(TryPut(req).ok());
  auto kv = Get("k").kvs(0);
  EXPECT_EQ(kv.value(), "original");
  EXPECT_EQ(kv.lease(), 9);
  EXPECT_EQ(kv.version(), 2);
  EXPECT_EQ(kv.mod_revision(), 3);

  etcdserverpb::PutRequest keep_lease;
  keep_lease.set_key("k");
  keep_lease.set_value("new");
  keep_lease.set_ignore_lease(true);
  ASSERT_TRUE(TryPut(keep_lease).ok());
  kv = Get("k").kvs(0);
  EXPECT_EQ(kv.value(), "new");
  EXPECT_EQ(kv.lease(), 9);
}

TEST_F(PutTest, IgnoreFlagsOnMissingKeyFailWithoutConsumingARevision) {
  for (int flag = 0; flag < 2; ++flag) {
    etcdserverpb::PutRequest req;
    req.set_key("missing");
    if (flag == 0) req.set_ignore_value(true);
    if (flag == 1) req.set_ignore_lease(true);
    absl::Status s = TryPut(req);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message(), "etcdserver: key not found");
  }
  EXPECT_EQ(store_->CurrentRevision(), 1);
  EXPECT_EQ(Get("missing").count(), 0);
}

TEST_F(PutTest, UnknownLeaseIsRefusedWithoutConsumingARevision) {
  etcdserverpb::PutRequest req;
  req.set_key("k");
  req.set_value("v");
  req.set_lease(12345);
  etcdserverpb::PutResponse resp;
  auto batch = store_->BeginWrite();
  absl::Status s = batch->Put(req, &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "etcdserver: requested lease not found");
  etcdserverpb::TxnRequest txn;
  *txn.add_success()->mutable_request_put() = req;
  etcdserverpb::TxnResponse txn_resp;
  s = batch->Txn(txn, &txn_resp);
  EXPECT_EQ(s.message(), "etcdserver: requested lease not found");
  ASSERT_TRUE(batch->Commit().ok());
  EXPECT_EQ(store_->CurrentRevision(), 1);
}

TEST_F(PutTest, TxnPutUnderAGrantedLeaseAttachesTheKey) {
  auto batch = store_->BeginWrite();
  ASSERT_TRUE(batch->LeaseGrant(77, 30).ok());
  etcdserverpb::TxnRequest txn;
  auto* put = txn.add_success()->mutable_request_put();
  put->set_key("leased");
  put->set_value("v");
  put->set_lease(77);
  etcdserverpb::TxnResponse resp;
  ASSERT_TRUE(batch->Txn(txn, &resp).ok());
  ASSERT_TRUE(batch->Commit().ok());
  EXPECT_EQ(Get("leased").kvs(0).lease(), 77);
}

TEST_F(PutTest, ValidatePutMessages) {
  etcdserverpb::PutRequest req;
  EXPECT_EQ(ValidatePut(req).message(), "etcdserver: key is not provided");
  req.set_key("k");
  EXPECT_TRUE(ValidatePut(req).ok());
  req.set_ignore_value(true);
  req.set_value("v");
  EXPECT_EQ(ValidatePut(req).message(), "etcdserver: value is provided");
  EXPECT_EQ(ValidatePut(req).code(), absl::StatusCode::kInvalidArgument);
  req.clear_value();
  req.set_ignore_value(false);
  req.set_ignore_lease(true);
  req.set_lease(5);
  EXPECT_EQ(ValidatePut(req).message(), "etcdserver: lease is provided");
  EXPECT_EQ(ValidatePut(req).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(PutTest, ABatchAppliesRequestsInOrderAndSkipsFailedOnes) {
  auto batch = store_->BeginWrite();
  etcdserverpb::PutRequest a;
  a.set_key("a");
  a.set_value("1");
  etcdserverpb::PutResponse ra, rb, rc;
  ASSERT_TRUE(batch->Put(a, &ra).ok());
  etcdserverpb::PutRequest bad;
  bad.set_key("nope");
  bad.set_ignore_value(true);
  EXPECT_FALSE(batch->Put(bad, &rb).ok());
  a.set_value("2");
  ASSERT_TRUE(batch->Put(a, &rc).ok());
  EXPECT_EQ(ra.header().revision(), 2);
  EXPECT_EQ(rc.header().revision(), 3);
  ASSERT_EQ(batch->events().size(), 2u);
  EXPECT_EQ(batch->events()[1].kv().value(), "2");
  EXPECT_EQ(batch->events()[1].prev_kv().value(), "1");

  // Nothing is visible before the commit.
  EXPECT_EQ(Get("a").count(), 0);
  EXPECT_EQ(store_->CurrentRevision(), 1);
  batch->SetApplied(10, 2);
  ASSERT_TRUE(batch->Commit().ok());
  EXPECT_EQ(Get("a").kvs(0).value(), "2");
  EXPECT_EQ(store_->CurrentRevision(), 3);
  EXPECT_EQ(store_->AppliedIndex(), 10u);
  EXPECT_EQ(store_->AppliedTerm(), 2u);
}

TEST_F(PutTest, ABatchDestroyedWithoutCommitLeavesNoTrace) {
  {
    auto batch = store_->BeginWrite();
    etcdserverpb::PutRequest a;
    a.set_key("a");
    etcdserverpb::PutResponse r;
    ASSERT_TRUE(batch->Put(a, &r).ok());
  }
  EXPECT_EQ(store_->CurrentRevision(), 1);
  EXPECT_EQ(Get("a").count(), 0);
  EXPECT_EQ(Put("a", "x").header().revision(), 2);
}

TEST_F(PutTest, ReadsInsideABatchSeeItsWrites) {
  auto batch = store_->BeginWrite();
  etcdserverpb::PutRequest a;
  a.set_key("a");
  a.set_value("v");
  etcdserverpb::PutResponse r;
  ASSERT_TRUE(batch->Put(a, &r).ok());
  etcdserverpb::RangeRequest get;
  get.set_key("a");
  etcdserverpb::RangeResponse got;
  ASSERT_TRUE(batch->Range(get, &got).ok());
  ASSERT_EQ(got.kvs_size(), 1);
  EXPECT_EQ(got.header().revision(), 2);
  EXPECT_TRUE(batch->Commit().ok());
}

// Overwrites replace a key's live version where the lookup found it: values that grow and shrink
// (so pages split and merge under the batch's cursor), keys put twice in one batch, and the
// neighbours and the history all stay right.
TEST_F(PutTest, OverwritesOfGrowingAndShrinkingValuesKeepEveryKeyAndItsHistory) {
  constexpr int kKeys = 300;
  auto key = [](int i) { return "k" + std::to_string(1000 + i); };
  auto value = [](int i, int round) { return std::string(static_cast<size_t>((i * 37 + round * 101) % 900 + 1), 'a' + round); };
  for (int i = 0; i < kKeys; ++i) Put(key(i), value(i, 0));
  for (int round = 1; round <= 3; ++round) {
    auto batch = store_->BeginWrite();
    for (int i = 0; i < kKeys; ++i) {
      etcdserverpb::PutRequest req;
      req.set_key(key(i));
      req.set_value(i % 7 == 0 ? "first" : value(i, round));
      etcdserverpb::PutResponse resp;
      ASSERT_TRUE(batch->Put(req, &resp).ok());
      if (i % 7 == 0) {  // the same key again in the batch
        req.set_value(value(i, round));
        ASSERT_TRUE(batch->Put(req, &resp).ok());
      }
    }
    ASSERT_TRUE(batch->Commit().ok());
  }
  const int64_t puts_per_round = kKeys + (kKeys + 6) / 7;
  for (int i = 0; i < kKeys; ++i) {
    auto got = Get(key(i));
    ASSERT_EQ(got.kvs_size(), 1) << key(i);
    EXPECT_EQ(got.kvs(0).value(), value(i, 3)) << key(i);
    EXPECT_EQ(got.kvs(0).version(), i % 7 == 0 ? 7 : 4) << key(i);
    EXPECT_EQ(got.kvs(0).create_revision(), 2 + i) << key(i);
    // The version before the last round is still readable in the past.
    auto past = Get(key(i), "", 1 + kKeys + 2 * puts_per_round);
    ASSERT_EQ(past.kvs_size(), 1) << key(i);
    EXPECT_EQ(past.kvs(0).value(), value(i, 2)) << key(i);
  }
  EXPECT_EQ(Get(key(0), key(kKeys)).count(), kKeys);
  EXPECT_EQ(store_->CurrentRevision(), 1 + kKeys + 3 * puts_per_round);
}

}  // namespace
}  // namespace cairn::mvcc::testing
