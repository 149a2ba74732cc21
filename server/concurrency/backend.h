// Backend: asynchronous calls to the member's own etcd v3 API (KV, Lease, Watch) over a channel.
//
// The Lock and Election services are clients of the KV/Lease/Watch services, as in etcd, so they
// need nothing from the server's internals and work against any etcd v3 endpoint.
//
// Every call takes a CancelScope (may be null for clean-up calls that must run even after the
// caller went away) and a completion callback. The callback runs exactly once, on a gRPC callback
// thread (or inline when the scope is already cancelled); it must not block. Calls carry a
// deadline so that a wedged backend cannot hold a unary step forever.
//
// Thread safety: a Backend may be used from any number of threads at once.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <memory>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "server/concurrency/cancel_scope.h"

namespace cairn::concurrency {

template <typename Response>
using Completion = std::function<void(const grpc::Status&, Response&&)>;

class Backend {
 public:
  // `channel` points at an etcd v3 client endpoint (in cairnd: the member's own client port).
  explicit Backend(std::shared_ptr<grpc::Channel> channel,
                   std::chrono::milliseconds unary_timeout = std::chrono::seconds(30));

  void Txn(etcdserverpb::TxnRequest request, CancelScope* scope,
           Completion<etcdserverpb::TxnResponse> done);
  void Range(etcdserverpb::RangeRequest request, CancelScope* scope,
             Completion<etcdserverpb::RangeResponse> done);
  void DeleteRange(etcdserverpb::DeleteRangeRequest request, CancelScope* scope,
                   Completion<etcdserverpb::DeleteRangeResponse> done);
  void LeaseGrant(etcdserverpb::LeaseGrantRequest request, CancelScope* scope,
                  Completion<etcdserverpb::LeaseGrantResponse> done);

  etcdserverpb::Watch::Stub& watch() { return *watch_; }

 private:
  template <typename Request, typename Response, typename StartFn>
  void CallUnary(StartFn start, Request request, CancelScope* scope, Completion<Response> done);

  std::chrono::milliseconds unary_timeout_;
  std::unique_ptr<etcdserverpb::KV::Stub> kv_;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease_;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch_;
};

}  // namespace cairn::concurrency
