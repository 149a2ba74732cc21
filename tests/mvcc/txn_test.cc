#include "tests/mvcc/store_fixture.h"

namespace cairn::mvcc::testing {
namespace {

using C = etcdserverpb::Compare;

class TxnTest : public StoreTest {
 protected:
  // k: create 2, mod 3, version 2, value "b", lease 10.
  void SetUp() override {
    StoreTest::SetUp();
    Put("k", "a");
    Put("k", "b", 10);
  }
  bool Evaluate(const C& compare) {
    etcdserverpb::TxnRequest req;
    *req.add_compare() = compare;
    return Txn(req).succeeded();
  }
};

C IntCompare(const std::string& key, C::CompareTarget target, C::CompareResult result, int64_t v) {
  C c = Cmp(key, target, result);
  switch (target) {
    case C::VERSION:
      c.set_version(v);
      break;
    case C::CREATE:
      c.set_create_revision(v);
      break;
    case C::MOD:
      c.set_mod_revision(v);
      break;
    case C::LEASE:
      c.set_lease(v);
      break;
    default:
      break;
  }
  return c;
}

bool Expect(C::CompareResult result, int cmp) {
  switch (result) {
    case C::EQUAL:
      return cmp == 0;
    case C::NOT_EQUAL:
      return cmp != 0;
    case C::GREATER:
      return cmp > 0;
    case C::LESS:
      return cmp < 0;
    default:
      return false;
  }
}

TEST_F(TxnTest, EveryIntegerTargetWithEveryResult) {
  const std::pair<C::CompareTarget, int64_t> actual[] = {{C::VERSION, 2}, {C::CREATE, 2}, {C::MOD, 3}, {C::LEASE, 10}};
  for (auto [target, value] : actual) {
    for (C::CompareResult result : {C::EQUAL, C::GREATER, C::LESS, C::NOT_EQUAL}) {
      for (int64_t delta : {-1, 0, 1}) {
        const int64_t operand = value + delta;
        const int cmp = value < operand ? -1 : (value > operand ? 1 : 0);
        EXPECT_EQ(Evaluate(IntCompare("k", target, result, operand)), Expect(result, cmp))
            << C::CompareTarget_Name(target) << " " << C::CompareResult_Name(result) << " " << operand;
      }
    }
  }
}

TEST_F(TxnTest, ValueTargetWithEveryResult) {
  for (C::CompareResult result : {C::EQUAL, C::GREATER, C::LESS, C::NOT_EQUAL}) {
    for (const std::string operand : {"a", "b", "c", "bb", ""}) {
      C c = Cmp("k", C::VALUE, result);
      c.set_value(operand);
      const int raw = std::string("b").compare(operand);
      EXPECT_EQ(Evaluate(c), Expect(result, raw < 0 ? -1 : (raw > 0 ? 1 : 0)))
          << C::CompareResult_Name(result) << " '" << operand << "'";
    }
  }
}

TEST_F(TxnTest, MissingKeyComparesAsZeroButValueAlwaysFails) {
  EXPECT_TRUE(Evaluate(IntCompare("missing", C::VERSION, C::EQUAL, 0)));
  EXPECT_TRUE(Evaluate(IntCompare("missing", C::CREATE, C::EQUAL, 0)));
  EXPECT_TRUE(Evaluate(IntCompare("missing", C::MOD, C::LESS, 1)));
  EXPECT_TRUE(Evaluate(IntCompare("missing", C::LEASE, C::EQUAL, 0)));
  EXPECT_FALSE(Evaluate(IntCompare("missing", C::VERSION, C::GREATER, 0)));
  C value = Cmp("missing", C::VALUE, C::EQUAL);
  value.set_value("");
  EXPECT_FALSE(Evaluate(value));
  value.set_result(C::NOT_EQUAL);
  value.set_value("x");
  EXPECT_FALSE(Evaluate(value));
}

TEST_F(TxnTest, RangeCompareNeedsEveryKeyToMatch) {
  Put("p1", "x");
  Put("p2", "y");
  C c = IntCompare("p", C::VERSION, C::EQUAL, 1);
  c.set_range_end("q");
  EXPECT_TRUE(Evaluate(c));
  Put("p2", "y2");
  EXPECT_FALSE(Evaluate(c));
  C value = Cmp("p", C::VALUE, C::GREATER);
  value.set_value("w");
  value.set_range_end("q");
  EXPECT_TRUE(Evaluate(value));
  C empty = IntCompare("r", C::CREATE, C::EQUAL, 0);
  empty.set_range_end("s");
  EXPECT_TRUE(Evaluate(empty));
}

TEST_F(TxnTest, MultipleComparesAreAnded) {
  etcdserverpb::TxnRequest req;
  *req.add_compare() = IntCompare("k", C::VERSION, C::EQUAL, 2);
  *req.add_compare() = IntCompare("k", C::MOD, C::EQUAL, 99);
  EXPECT_FALSE(Txn(req).succeeded());
}

TEST_F(TxnTest, ChoosesBranchAndFillsResponses) {
  etcdserverpb::TxnRequest req;
  *req.add_compare() = IntCompare("k", C::VERSION, C::EQUAL, 2);
  *req.add_success() = PutOp("s", "1");
  *req.add_success() = GetOp("k");
  *req.add_failure() = PutOp("f", "1");
  auto resp = Txn(req);
  EXPECT_TRUE(resp.succeeded());
  ASSERT_EQ(resp.responses_size(), 2);
  EXPECT_TRUE(resp.responses(0).has_response_put());
  EXPECT_EQ(resp.responses(0).response_put().header().revision(), 4);
  EXPECT_EQ(resp.responses(1).response_range().kvs(0).value(), "b");
  EXPECT_EQ(resp.header().revision(), 4);
  EXPECT_EQ(Get("s").count(), 1);
  EXPECT_EQ(Get("f").count(), 0);

  req.mutable_compare(0)->set_version(7);
  resp = Txn(req);
  EXPECT_FALSE(resp.succeeded());
  ASSERT_EQ(resp.responses_size(), 1);
  EXPECT_EQ(Get("f").count(), 1);
}

TEST_F(TxnTest, ReadsSeeEarlierWritesOfTheSameTxn) {
  etcdserverpb::TxnRequest req;
  *req.add_success() = GetOp("x");
  *req.add_success() = PutOp("x", "1");
  *req.add_success() = GetOp("x");
  *req.add_success() = DeleteOp("k");
  *req.add_success() = GetOp("k");
  auto resp = Txn(req);
  EXPECT_EQ(resp.responses(0).response_range().count(), 0);
  EXPECT_EQ(resp.responses(0).response_range().header().revision(), 3);
  EXPECT_EQ(resp.responses(2).response_range().kvs(0).value(), "1");
  EXPECT_EQ(resp.responses(2).response_range().header().revision(), 4);
  EXPECT_EQ(resp.responses(3).response_delete_range().deleted(), 1);
  EXPECT_EQ(resp.responses(4).response_range().count(), 0);
  EXPECT_EQ(resp.header().revision(), 4);
}

TEST_F(TxnTest, OneRevisionPerTxnOneSubRevisionPerChange) {
  etcdserverpb::TxnRequest req;
  *req.add_success() = PutOp("a", "1");
  *req.add_success() = PutOp("b", "2");
  *req.add_success() = DeleteOp("k");
  auto batch = store_->BeginWrite();
  etcdserverpb::TxnResponse resp;
  ASSERT_TRUE(batch->Txn(req, &resp).ok());
  ASSERT_EQ(batch->events().size(), 3u);
  for (const auto& ev : batch->events()) EXPECT_EQ(ev.kv().mod_revision(), 4);
  EXPECT_EQ(batch->events()[2].type(), mvccpb::Event::DELETE);
  ASSERT_TRUE(batch->Commit().ok());
  EXPECT_EQ(store_->CurrentRevision(), 4);
  EXPECT_EQ(resp.header().revision(), 4);
  EXPECT_EQ(Get("a").kvs(0).mod_revision(), 4);
  EXPECT_EQ(Get("b").kvs(0).create_revision(), 4);
}

TEST_F(TxnTest, ReadOnlyOrNoOpTxnKeepsTheRevision) {
  etcdserverpb::TxnRequest req;
  *req.add_compare() = IntCompare("k", C::VERSION, C::EQUAL, 2);
  *req.add_success() = GetOp("k");
  *req.add_success() = DeleteOp("nothing-here");
  *req.add_failure() = PutOp("f", "1");
  auto resp = Txn(req);
  EXPECT_TRUE(resp.succeeded());
  EXPECT_EQ(resp.header().revision(), 3);
  EXPECT_EQ(resp.responses(1).response_delete_range().header().revision(), 3);
  EXPECT_EQ(store_->CurrentRevision(), 3);
  EXPECT_EQ(Txn(etcdserverpb::TxnRequest()).header().revision(), 3);
}

TEST_F(TxnTest, NestedTxnComparesSeeTheStateBeforeTheOuterTxn) {
  etcdserverpb::TxnRequest req;
  *req.add_success() = PutOp("k", "changed");
  etcdserverpb::RequestOp nested_op;
  auto* nested = nested_op.mutable_request_txn();
  C c = Cmp("k", C::VALUE, C::EQUAL);
  c.set_value("b");  // true before the outer put, false after it: etcd evaluates up front
  *nested->add_compare() = c;
  *nested->add_success() = PutOp("nested", "yes");
  *nested->add_success() = GetOp("k");
  *nested->add_failure() = PutOp("nested", "no");
  *req.add_success() = nested_op;
  auto resp = Txn(req);
  ASSERT_EQ(resp.responses_size(), 2);
  const auto& inner = resp.responses(1).response_txn();
  EXPECT_TRUE(inner.succeeded());
  EXPECT_TRUE(inner.has_header());
  EXPECT_EQ(inner.header().revision(), 0);
  EXPECT_EQ(inner.responses(1).response_range().kvs(0).value(), "changed");
  EXPECT_EQ(Get("nested").kvs(0).value(), "yes");
  EXPECT_EQ(Get("nested").kvs(0).mod_revision(), 4);
  EXPECT_EQ(store_->CurrentRevision(), 4);
}

TEST_F(TxnTest, DoublyNestedFailureBranch) {
  etcdserverpb::TxnRequest req;
  *req.add_compare() = IntCompare("k", C::VERSION, C::EQUAL, 100);
  etcdserverpb::RequestOp level1;
  *level1.mutable_request_txn()->add_compare() = IntCompare("k", C::VERSION, C::EQUAL, 2);
  etcdserverpb::RequestOp level2;
  *level2.mutable_request_txn()->add_compare() = IntCompare("k", C::MOD, C::EQUAL, 1);
  *level2.mutable_request_txn()->add_failure() = PutOp("deep", "1");
  *level1.mutable_request_txn()->add_success() = level2;
  *req.add_failure() = level1;
  auto resp = Txn(req);
  EXPECT_FALSE(resp.succeeded());
  const auto& l1 = resp.responses(0).response_txn();
  EXPECT_TRUE(l1.succeeded());
  EXPECT_FALSE(l1.responses(0).response_txn().succeeded());
  EXPECT_EQ(Get("deep").count(), 1);
}

TEST_F(TxnTest, FailedTxnLeavesNoTrace) {
  etcdserverpb::TxnRequest req;
  *req.add_success() = PutOp("a", "1");
  etcdserverpb::RequestOp bad = PutOp("missing", "");
  bad.mutable_request_put()->set_ignore_value(true);
  *req.add_success() = bad;
  etcdserverpb::TxnResponse resp;
  absl::Status s = TryTxn(req, &resp);
  EXPECT_EQ(s.message(), "etcdserver: key not found");
  EXPECT_EQ(Get("a").count(), 0);
  EXPECT_EQ(store_->CurrentRevision(), 3);

  etcdserverpb::TxnRequest future;
  *future.add_success() = PutOp("a", "1");
  etcdserverpb::RequestOp get = GetOp("k");
  get.mutable_request_range()->set_revision(4);  // the txn's own revision is still "future" to etcd
  *future.add_success() = get;
  s = TryTxn(future, &resp);
  EXPECT_EQ(s.message(), "etcdserver: mvcc: required revision is a future revision");
  EXPECT_EQ(Get("a").count(), 0);
}

// When several ops of a txn would fail, the error is the one etcd reports: every put on the chosen
// path is checked before any range, and a put's key before its lease (found against etcd 3.4 by
// tests/compat/test_differential.py).
TEST_F(TxnTest, FirstFailureIsEtcdsWhenSeveralOpsWouldFail) {
  etcdserverpb::TxnRequest range_then_put;
  etcdserverpb::RequestOp future = GetOp("k");
  future.mutable_request_range()->set_revision(store_->CurrentRevision() + 5);
  *range_then_put.add_success() = future;
  etcdserverpb::RequestOp missing = PutOp("missing", "");
  missing.mutable_request_put()->set_ignore_value(true);
  *range_then_put.add_success() = missing;
  etcdserverpb::TxnResponse resp;
  EXPECT_EQ(TryTxn(range_then_put, &resp).message(), "etcdserver: key not found");

  etcdserverpb::TxnRequest missing_key_and_lease;
  etcdserverpb::RequestOp both = PutOp("missing", "");
  both.mutable_request_put()->set_ignore_value(true);
  both.mutable_request_put()->set_lease(99);
  *missing_key_and_lease.add_success() = both;
  EXPECT_EQ(TryTxn(missing_key_and_lease, &resp).message(), "etcdserver: key not found");
}

// Requests write straight into the batch's transaction, so a txn must be refused before its first
// write: a put with ignore_value of a key the same txn deleted just before fails as a whole, and the
// rest of the batch still commits.
TEST_F(TxnTest, IgnoreValuePutAfterDeletingTheKeyInTheSameTxnFailsBeforeWriting) {
  const int64_t revision = store_->CurrentRevision();
  auto batch = store_->BeginWrite();
  ASSERT_NE(batch, nullptr);
  etcdserverpb::TxnRequest req;
  *req.add_success() = DeleteOp("k");
  etcdserverpb::RequestOp again = PutOp("k", "");
  again.mutable_request_put()->set_ignore_value(true);
  *req.add_success() = again;
  etcdserverpb::TxnResponse resp;
  EXPECT_EQ(batch->Txn(req, &resp).message(), "etcdserver: key not found");

  // Deleted and put again earlier in the txn: the key exists when the ignore_value put runs.
  etcdserverpb::TxnRequest ok;
  *ok.add_success() = DeleteOp("k");
  *ok.add_success() = PutOp("k", "c");
  *ok.add_success() = again;
  etcdserverpb::TxnResponse ok_resp;
  EXPECT_TRUE(batch->Txn(ok, &ok_resp).ok());
  ASSERT_TRUE(batch->Commit().ok());
  EXPECT_EQ(store_->CurrentRevision(), revision + 1);
  EXPECT_EQ(Get("k").kvs(0).value(), "c");
}

TEST_F(TxnTest, RangeAtPastRevisionInsideTxn) {
  etcdserverpb::TxnRequest req;
  etcdserverpb::RequestOp get = GetOp("k");
  get.mutable_request_range()->set_revision(2);
  *req.add_success() = get;
  auto resp = Txn(req);
  EXPECT_EQ(resp.responses(0).response_range().kvs(0).value(), "a");
}

}  // namespace
}  // namespace cairn::mvcc::testing
