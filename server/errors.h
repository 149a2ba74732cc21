// The etcd v3 error vocabulary, and the one place where Cairn's internal status becomes a gRPC status.
//
// Clients match on etcd's exact message strings (for example clientv3 turns
// "etcdserver: mvcc: required revision has been compacted" back into a typed error), so every error
// a client can see is created here or in mvcc/errors.h with etcd's code and text. Modules below
// server/ return absl::Status whose code is the gRPC code to send: the mapping is one-to-one.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace cairn::server {

// Request validation (v3 RPC layer). Errors about keys, values, leases and space are the store's
// (mvcc/errors.h); these are the ones only the RPC layer raises.
absl::Status ErrTooManyOps();          // InvalidArgument "etcdserver: too many operations in txn request"
absl::Status ErrDuplicateKey();        // InvalidArgument "etcdserver: duplicate key given in txn request"
absl::Status ErrRequestTooLarge();     // InvalidArgument "etcdserver: request is too large"

// Server state.
absl::Status ErrStopped();             // Unavailable "etcdserver: server stopped"
absl::Status ErrMemberNotFound();      // NotFound "etcdserver: member not found"
absl::Status ErrNoLeader();            // Unavailable "etcdserver: no leader"
absl::Status ErrTimeout();             // Unavailable "etcdserver: request timed out"
absl::Status ErrLeaderChanged();       // Unavailable "etcdserver: leader changed"

// For RPCs Cairn does not serve yet: names the method so the caller knows what is missing.
absl::Status Unimplemented(const std::string& method);

// The single status mapping. absl and gRPC share code numbers; the message travels unchanged.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace cairn::server
