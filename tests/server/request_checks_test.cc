#include "server/request_checks.h"

#include <gtest/gtest.h>

namespace cairn::server {
namespace {

using etcdserverpb::TxnRequest;

void AddPut(google::protobuf::RepeatedPtrField<etcdserverpb::RequestOp>* ops, const std::string& key) {
  ops->Add()->mutable_request_put()->set_key(key);
}

void AddDelete(google::protobuf::RepeatedPtrField<etcdserverpb::RequestOp>* ops, const std::string& key,
               const std::string& end = "") {
  auto* d = ops->Add()->mutable_request_delete_range();
  d->set_key(key);
  d->set_range_end(end);
}

void ExpectError(const absl::Status& s, absl::StatusCode code, const std::string& message) {
  EXPECT_EQ(s.code(), code) << s;
  EXPECT_EQ(s.message(), message);
}

TEST(RequestChecks, EmptyKeyIsRefusedEverywhere) {
  ExpectError(CheckRange({}), absl::StatusCode::kInvalidArgument, "etcdserver: key is not provided");
  ExpectError(CheckPut({}), absl::StatusCode::kInvalidArgument, "etcdserver: key is not provided");
  ExpectError(CheckDeleteRange({}), absl::StatusCode::kInvalidArgument, "etcdserver: key is not provided");
  TxnRequest txn;
  txn.add_compare();
  ExpectError(CheckTxn(txn, 128), absl::StatusCode::kInvalidArgument, "etcdserver: key is not provided");
}

TEST(RequestChecks, PutIgnoreFlagsRefuseExplicitValues) {
  etcdserverpb::PutRequest put;
  put.set_key("k");
  put.set_ignore_value(true);
  put.set_value("v");
  ExpectError(CheckPut(put), absl::StatusCode::kInvalidArgument, "etcdserver: value is provided");
  put.clear_value();
  put.set_ignore_lease(true);
  put.set_lease(7);
  ExpectError(CheckPut(put), absl::StatusCode::kInvalidArgument, "etcdserver: lease is provided");
  put.set_lease(0);
  EXPECT_TRUE(CheckPut(put).ok());
}

TEST(RequestChecks, TooManyOpsCountsEachListSeparately) {
  TxnRequest txn;
  for (int i = 0; i < 3; ++i) AddPut(txn.mutable_success(), "k" + std::to_string(i));
  EXPECT_TRUE(CheckTxn(txn, 3).ok());
  ExpectError(CheckTxn(txn, 2), absl::StatusCode::kInvalidArgument,
              "etcdserver: too many operations in txn request");
}

TEST(RequestChecks, DuplicatePutsInOneBranchAreRefused) {
  TxnRequest txn;
  AddPut(txn.mutable_success(), "a");
  AddPut(txn.mutable_success(), "a");
  ExpectError(CheckTxn(txn, 128), absl::StatusCode::kInvalidArgument,
              "etcdserver: duplicate key given in txn request");
}

TEST(RequestChecks, SameKeyInSuccessAndFailureIsFine) {
  TxnRequest txn;
  AddPut(txn.mutable_success(), "a");
  AddPut(txn.mutable_failure(), "a");
  EXPECT_TRUE(CheckTxn(txn, 128).ok());
}

TEST(RequestChecks, PutInsideDeletedRangeIsRefused) {
  TxnRequest txn;
  AddDelete(txn.mutable_success(), "a", "c");
  AddPut(txn.mutable_success(), "b");
  EXPECT_FALSE(CheckTxn(txn, 128).ok());
  TxnRequest outside;
  AddDelete(outside.mutable_success(), "a", "c");
  AddPut(outside.mutable_success(), "c");
  EXPECT_TRUE(CheckTxn(outside, 128).ok());
  // etcd 3.4's check reads a from-key delete ("\0" end) as an empty interval and accepts the txn
  // (seen against etcd by tests/compat/test_differential.py); so does Cairn.
  TxnRequest from_key;
  AddDelete(from_key.mutable_success(), "a", std::string(1, '\0'));
  AddPut(from_key.mutable_success(), "zzz");
  EXPECT_TRUE(CheckTxn(from_key, 128).ok());
  TxnRequest inverted;
  AddDelete(inverted.mutable_success(), "c", "b");
  AddPut(inverted.mutable_success(), "c");
  EXPECT_TRUE(CheckTxn(inverted, 128).ok());
}

TEST(RequestChecks, NestedTxnPutsCollideWithOuterPuts) {
  TxnRequest txn;
  AddPut(txn.mutable_success(), "a");
  auto* nested = txn.add_success()->mutable_request_txn();
  AddPut(nested->mutable_success(), "a");
  ExpectError(CheckTxn(txn, 128), absl::StatusCode::kInvalidArgument,
              "etcdserver: duplicate key given in txn request");
  TxnRequest branches;
  auto* n2 = branches.add_success()->mutable_request_txn();
  AddPut(n2->mutable_success(), "x");
  AddPut(n2->mutable_failure(), "x");
  EXPECT_TRUE(CheckTxn(branches, 128).ok());
}

TEST(RequestChecks, EmptyOpIsRefusedAsEtcdDoes) {
  TxnRequest txn;
  txn.add_success();
  ExpectError(CheckTxn(txn, 128), absl::StatusCode::kInvalidArgument, "etcdserver: key not found");
}

}  // namespace
}  // namespace cairn::server
