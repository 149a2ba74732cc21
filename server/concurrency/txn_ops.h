// Builders for the small transactions locks and elections issue.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "etcdserverpb/rpc.pb.h"

namespace cairn::concurrency {

// A compare "key's create revision == revision" (0: the key does not exist).
etcdserverpb::Compare CreateRevisionIs(const std::string& key, int64_t revision);
etcdserverpb::RequestOp PutOp(const std::string& key, const std::string& value, int64_t lease);
etcdserverpb::RequestOp GetOp(etcdserverpb::RangeRequest range);
etcdserverpb::RequestOp GetOp(const std::string& key);
etcdserverpb::RequestOp DeleteOp(const std::string& key);

// Deletes `key` only while it is still the incarnation created at `create_revision`, so a
// stale leadership can never delete a newer contender's key.
etcdserverpb::TxnRequest DeleteIfCreatedAt(const std::string& key, int64_t create_revision);

}  // namespace cairn::concurrency
