// Key layout and the range requests shared by locks and elections.
//
// A lock or an election named N is the set of keys under "N/". Each contender owns one key,
// "N/<lease id in lower-case hex>", attached to its lease; contenders are ordered by the
// key's create revision, and the oldest one holds the lock or leads. This is etcd's layout,
// so Cairn's services and etcd's client-side recipes (etcdctl lock/elect) interoperate.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "etcdserverpb/rpc.pb.h"

namespace cairn::concurrency {

// "N/" for the lock or election named N.
std::string ContenderPrefix(const std::string& name);
// "N/<lease hex>": the key a contender holding `lease` owns (a negative lease: "N/-<hex>").
std::string ContenderKey(const std::string& prefix, int64_t lease);
// The range_end that makes [prefix, end) cover every key starting with prefix.
std::string PrefixRangeEnd(const std::string& prefix);

// The contender created first under `prefix` (the holder or leader), if any.
etcdserverpb::RangeRequest OldestContender(const std::string& prefix);
// The newest contender created at or before `max_create_revision`: the one to wait for.
etcdserverpb::RangeRequest NewestContenderUpTo(const std::string& prefix,
                                              int64_t max_create_revision);

}  // namespace cairn::concurrency
