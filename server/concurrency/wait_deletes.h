// WaitForOlderContenders: the queue step of locks and elections.
//
// Completes once no key under `prefix` has a create revision at or below
// `max_create_revision`, i.e. once every contender older than the caller is gone. It looks up
// the newest such contender, watches for that key's deletion, and repeats; each waiter thus
// watches only its immediate predecessor, so a release wakes one waiter, not all of them.
//
// done(OK, header) carries the header of the final range (the one that found nobody older);
// on failure, the backend's status. done runs exactly once on a gRPC callback thread (or
// inline if `scope` is already cancelled) and must not block. `backend` and `scope` must
// outlive the wait.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <string>

#include "etcdserverpb/rpc.pb.h"
#include "server/concurrency/backend.h"
#include "server/concurrency/call_scope.h"

namespace cairn::concurrency {

void WaitForOlderContenders(Backend& backend, std::string prefix, int64_t max_create_revision,
                            CallScope& scope,
                            Completion<etcdserverpb::ResponseHeader> done);

}  // namespace cairn::concurrency
