#include "server/concurrency/txn_ops.h"

namespace cairn::concurrency {

etcdserverpb::Compare CreateRevisionIs(const std::string& key, int64_t revision) {
  etcdserverpb::Compare compare;
  compare.set_key(key);
  compare.set_target(etcdserverpb::Compare::CREATE);
  compare.set_result(etcdserverpb::Compare::EQUAL);
  compare.set_create_revision(revision);
  return compare;
}

etcdserverpb::RequestOp PutOp(const std::string& key, const std::string& value, int64_t lease) {
  etcdserverpb::RequestOp op;
  auto* put = op.mutable_request_put();
  put->set_key(key);
  put->set_value(value);
  put->set_lease(lease);
  return op;
}

etcdserverpb::RequestOp GetOp(etcdserverpb::RangeRequest range) {
  etcdserverpb::RequestOp op;
  *op.mutable_request_range() = std::move(range);
  return op;
}

etcdserverpb::RequestOp GetOp(const std::string& key) {
  etcdserverpb::RangeRequest range;
  range.set_key(key);
  return GetOp(std::move(range));
}

etcdserverpb::RequestOp DeleteOp(const std::string& key) {
  etcdserverpb::RequestOp op;
  op.mutable_request_delete_range()->set_key(key);
  return op;
}

etcdserverpb::TxnRequest DeleteIfCreatedAt(const std::string& key, int64_t create_revision) {
  etcdserverpb::TxnRequest txn;
  *txn.add_compare() = CreateRevisionIs(key, create_revision);
  *txn.add_success() = DeleteOp(key);
  return txn;
}

}  // namespace cairn::concurrency
