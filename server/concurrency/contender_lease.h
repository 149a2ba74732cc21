// The lease a Lock or Campaign request's key is attached to.
//
// A request naming lease 0 gets a fresh lease of kDefaultSessionTtlSeconds, as with etcd's
// services (their client-side session default); nobody keeps it alive, so such a lock or
// leadership lapses after a minute unless released earlier. A non-zero lease is used as is;
// an unknown one makes the later put fail with etcd's "requested lease not found".
//
// done runs exactly once on a gRPC callback thread (or inline) and must not block.
#pragma once

#include <cstdint>

#include "server/concurrency/backend.h"
#include "server/concurrency/call_scope.h"

namespace cairn::concurrency {

inline constexpr int64_t kDefaultSessionTtlSeconds = 60;

void ResolveLease(Backend& backend, int64_t requested, CallScope& scope,
                  Completion<int64_t> done);

}  // namespace cairn::concurrency
