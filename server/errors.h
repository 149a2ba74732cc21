// The etcd v3 error vocabulary, and the one place where Cairn's internal status becomes a gRPC status.
//
// Clients match on etcd's exact message strings (for example clientv3 turns
// "etcdserver: mvcc: required revision has been compacted" back into a typed error), so every error
// a client can see is created here or in mvcc/errors.h with etcd's code and text. Modules below
// server/ return absl::Status whose code is the gRPC code to send: the mapping is one-to-one.
#pragma once

#include <grpcpp/support/status.h>

#include <string>

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
absl::Status ErrNotLeader();           // FailedPrecondition "etcdserver: not leader"
absl::Status ErrTimeout();             // Unavailable "etcdserver: request timed out"
absl::Status ErrLeaderChanged();       // Unavailable "etcdserver: leader changed"
absl::Status ErrUnhealthy();           // Unavailable "etcdserver: unhealthy cluster"

// Membership changes refused by the safety rules (server/reconfig_rules.h).
// Unknown "etcdserver: re-configuration failed due to not enough started members" (etcd 3.4's code)
absl::Status ErrNotEnoughStartedMembers();
// FailedPrecondition "etcdserver: can only promote a learner member which is in sync with leader"
absl::Status ErrLearnerNotReady();
// FailedPrecondition "etcdserver: can only promote a learner member" (a promote of a voter)
absl::Status ErrMemberNotLearner();

// Authentication and authorization (server/auth), etcd 3.4's codes and texts.
absl::Status ErrRootUserNotExist();      // FailedPrecondition "etcdserver: root user does not exist"
absl::Status ErrRootRoleNotExist();      // FailedPrecondition "etcdserver: root user does not have root role"
absl::Status ErrUserAlreadyExist();      // FailedPrecondition "etcdserver: user name already exists"
absl::Status ErrUserEmpty();             // InvalidArgument "etcdserver: user name is empty"
absl::Status ErrUserNotFound();          // FailedPrecondition "etcdserver: user name not found"
absl::Status ErrRoleAlreadyExist();      // FailedPrecondition "etcdserver: role name already exists"
absl::Status ErrRoleNotFound();          // FailedPrecondition "etcdserver: role name not found"
absl::Status ErrRoleEmpty();             // InvalidArgument "etcdserver: role name is empty"
absl::Status ErrAuthFailed();            // InvalidArgument "etcdserver: authentication failed, invalid user ID or password"
absl::Status ErrPermissionDenied();      // PermissionDenied "etcdserver: permission denied"
absl::Status ErrRoleNotGranted();        // FailedPrecondition "etcdserver: role is not granted to the user"
absl::Status ErrPermissionNotGranted();  // FailedPrecondition "etcdserver: permission is not granted to the role"
absl::Status ErrAuthNotEnabled();        // FailedPrecondition "etcdserver: authentication is not enabled"
absl::Status ErrInvalidAuthToken();      // Unauthenticated "etcdserver: invalid auth token"
absl::Status ErrInvalidAuthMgmt();       // InvalidArgument "etcdserver: invalid auth management"
absl::Status ErrAuthOldRevision();       // InvalidArgument "etcdserver: revision of auth store is old"
// etcd 3.4 sends this one unmapped: code Unknown, the auth package's own text.
absl::Status ErrNoPasswordUser();        // Unknown "auth: authentication failed, password was given for no password user"

// etcd 3.4's maintenance server returns its admin check's errors without converting them: clients
// see code Unknown and the auth package's own text ("auth: permission denied"). Turns one of the
// auth errors above into that form; other statuses pass unchanged.
absl::Status AsUnconvertedAuthError(const absl::Status& status);
// A status as Go's gRPC prints it: "rpc error: code = PermissionDenied desc = <message>" (etcd puts
// this in a refused watch's cancel_reason).
std::string GoGrpcErrorText(const absl::Status& status);

// For RPCs Cairn does not serve yet: names the method so the caller knows what is missing.
absl::Status Unimplemented(const std::string& method);

// The single status mapping. absl and gRPC share code numbers; the message travels unchanged.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace cairn::server
