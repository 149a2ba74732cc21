#include "server/request_checks.h"

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "mvcc/errors.h"
#include "mvcc/store.h"
#include "server/errors.h"

namespace cairn::server {
namespace {

using etcdserverpb::RequestOp;
using Ops = google::protobuf::RepeatedPtrField<RequestOp>;

// A deleted key range as etcd 3.4's duplicate-key rule sees it: a single key when `end` is
// empty, otherwise the plain byte interval [start, end). etcd's check does not give "\0" its
// from-key meaning, so a from-key delete (like any range whose end is not after its start)
// covers nothing here; clients rely on such txns being accepted.
struct DeletedRange {
  std::string start;
  std::string end;

  bool Covers(const std::string& key) const {
    if (end.empty()) return key == start;
    return start <= key && key < end;
  }
};

bool AnyCovers(const std::vector<DeletedRange>& ranges, const std::string& key) {
  for (const DeletedRange& r : ranges) {
    if (r.Covers(key)) return true;
  }
  return false;
}

// What one list of ops may write: the keys it puts and the ranges it deletes, counting every
// branch of nested txns, because either branch may run.
struct Writes {
  absl::flat_hash_set<std::string> puts;
  std::vector<DeletedRange> deletes;
};

absl::Status CollectWrites(const Ops& ops, Writes* out) {
  for (const RequestOp& op : ops) {
    if (op.has_request_delete_range()) {
      const auto& d = op.request_delete_range();
      out->deletes.push_back({d.key(), d.range_end()});
    }
  }
  for (const RequestOp& op : ops) {
    if (!op.has_request_txn()) continue;
    Writes then_writes, else_writes;
    if (auto s = CollectWrites(op.request_txn().success(), &then_writes); !s.ok()) return s;
    if (auto s = CollectWrites(op.request_txn().failure(), &else_writes); !s.ok()) return s;
    for (const std::string& key : then_writes.puts) {
      if (out->puts.contains(key) || AnyCovers(out->deletes, key)) return ErrDuplicateKey();
    }
    for (const std::string& key : else_writes.puts) {
      // The two branches exclude each other, so the same key in both is fine.
      bool in_then = then_writes.puts.contains(key);
      if ((out->puts.contains(key) && !in_then) || AnyCovers(out->deletes, key)) {
        return ErrDuplicateKey();
      }
    }
    out->puts.insert(then_writes.puts.begin(), then_writes.puts.end());
    out->puts.insert(else_writes.puts.begin(), else_writes.puts.end());
    for (auto& d : then_writes.deletes) out->deletes.push_back(std::move(d));
    for (auto& d : else_writes.deletes) out->deletes.push_back(std::move(d));
  }
  for (const RequestOp& op : ops) {
    if (!op.has_request_put()) continue;
    const std::string& key = op.request_put().key();
    if (out->puts.contains(key) || AnyCovers(out->deletes, key)) return ErrDuplicateKey();
    out->puts.insert(key);
  }
  return absl::OkStatus();
}

absl::Status CheckTxnShape(const etcdserverpb::TxnRequest& request, int64_t max_txn_ops);

absl::Status CheckOp(const RequestOp& op, int64_t max_txn_ops) {
  switch (op.request_case()) {
    case RequestOp::kRequestRange:
      return CheckRange(op.request_range());
    case RequestOp::kRequestPut:
      return CheckPut(op.request_put());
    case RequestOp::kRequestDeleteRange:
      return CheckDeleteRange(op.request_delete_range());
    case RequestOp::kRequestTxn:
      return CheckTxnShape(op.request_txn(), max_txn_ops);
    case RequestOp::REQUEST_NOT_SET:
      break;
  }
  // etcd answers an empty op this way; clients depend on the same text.
  return mvcc::ErrKeyNotFound();
}

absl::Status CheckTxnShape(const etcdserverpb::TxnRequest& request, int64_t max_txn_ops) {
  int64_t ops = std::max({request.compare_size(), request.success_size(), request.failure_size()});
  if (ops > max_txn_ops) return ErrTooManyOps();
  for (const auto& compare : request.compare()) {
    if (compare.key().empty()) return mvcc::ErrEmptyKey();
  }
  // Nested txns share the budget of their parent, as etcd counts it.
  for (const RequestOp& op : request.success()) {
    if (auto s = CheckOp(op, max_txn_ops - ops); !s.ok()) return s;
  }
  for (const RequestOp& op : request.failure()) {
    if (auto s = CheckOp(op, max_txn_ops - ops); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckRange(const etcdserverpb::RangeRequest& request) {
  if (request.key().empty()) return mvcc::ErrEmptyKey();
  return absl::OkStatus();
}

absl::Status CheckPut(const etcdserverpb::PutRequest& request) { return mvcc::ValidatePut(request); }

absl::Status CheckDeleteRange(const etcdserverpb::DeleteRangeRequest& request) {
  if (request.key().empty()) return mvcc::ErrEmptyKey();
  return absl::OkStatus();
}

absl::Status CheckTxn(const etcdserverpb::TxnRequest& request, int64_t max_txn_ops) {
  if (auto s = CheckTxnShape(request, max_txn_ops); !s.ok()) return s;
  // Checked after the shape so a huge request cannot make this quadratic walk expensive.
  Writes success, failure;
  if (auto s = CollectWrites(request.success(), &success); !s.ok()) return s;
  return CollectWrites(request.failure(), &failure);
}

}  // namespace cairn::server
