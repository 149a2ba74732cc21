// The statuses Lock and Election callers see, matching what etcd's own services return.
//
// etcd implements these services with its Go client; errors that client recognises as etcd
// server errors reach the caller as code UNKNOWN with etcd's message (clients match on the
// message), and the election's own errors are plain errors, also UNKNOWN. Anything else
// (transport failures, deadlines, cancellation) keeps its code.
//
// Pure functions; thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>

namespace cairn::concurrency {

// A failure of a call to the backend, as the Lock/Election caller should see it.
grpc::Status ForCaller(const grpc::Status& backend_status);

grpc::Status ElectionNoLeader();     // Leader/Observe: nobody campaigns
grpc::Status ElectionNotLeader();    // Proclaim: the given leadership is over
grpc::Status MissingLeaderKey();     // Proclaim/Resign without the "leader" field

}  // namespace cairn::concurrency
