// Checks a client request must pass before it is proposed to the log, with etcd's errors.
// Pure functions, safe from any thread. They look only at the request, never at the store.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "etcdserverpb/rpc.pb.h"

namespace cairn::server {

absl::Status CheckRange(const etcdserverpb::RangeRequest& request);
absl::Status CheckPut(const etcdserverpb::PutRequest& request);
absl::Status CheckDeleteRange(const etcdserverpb::DeleteRangeRequest& request);

// Op counts per level (compare, success, failure each at most max_txn_ops), empty keys at every
// nesting level, empty ops, and puts that collide with another put or a delete that the same
// branch could execute ("duplicate key given in txn request").
absl::Status CheckTxn(const etcdserverpb::TxnRequest& request, int64_t max_txn_ops);

}  // namespace cairn::server
