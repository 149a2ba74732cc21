// Backend: asynchronous calls to the member's own etcd v3 API (KV, Lease, Watch) over a channel.
//
// The Lock and Election services are clients of the KV/Lease/Watch services, as in etcd, so they
// need nothing from the server's internals and work against any etcd v3 endpoint.
//
// Every call runs in the CallScope of the request it serves (the caller's token, cancellation)
// and takes a completion callback. The callback runs exactly once, on a gRPC callback thread
// (or inline when the scope is already cancelled); it must not block. A call made with
// Cancellation::kIgnore runs to completion even if the caller goes away (for clean-up, and for
// writes whose outcome the operation must learn). Calls carry a deadline so that a wedged
// backend cannot hold a step forever. `scope` must outlive the call.
//
// Thread safety: a Backend may be used from any number of threads at once.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <memory>

#include "absl/base/call_once.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "server/concurrency/call_scope.h"

namespace cairn::concurrency {

enum class Cancellation { kAbort, kIgnore };

template <typename Response>
using Completion = std::function<void(const grpc::Status&, Response&&)>;

class Backend {
 public:
  using ChannelFactory = std::function<std::shared_ptr<grpc::Channel>()>;
  static constexpr std::chrono::milliseconds kDefaultUnaryTimeout{30'000};

  // `channel` reaches an etcd v3 endpoint serving KV, Lease and Watch.
  explicit Backend(std::shared_ptr<grpc::Channel> channel,
                   std::chrono::milliseconds unary_timeout = kDefaultUnaryTimeout);
  // The channel is made by `connect` on first use (once, thread-safe). This lets a server hand
  // its services a channel that exists only once it has started, such as
  // grpc::Server::InProcessChannel().
  explicit Backend(ChannelFactory connect,
                   std::chrono::milliseconds unary_timeout = kDefaultUnaryTimeout);

  void Txn(etcdserverpb::TxnRequest request, CallScope& scope,
           Completion<etcdserverpb::TxnResponse> done,
           Cancellation cancellation = Cancellation::kAbort);
  void Range(etcdserverpb::RangeRequest request, CallScope& scope,
             Completion<etcdserverpb::RangeResponse> done,
           Cancellation cancellation = Cancellation::kAbort);
  void DeleteRange(etcdserverpb::DeleteRangeRequest request, CallScope& scope,
                   Completion<etcdserverpb::DeleteRangeResponse> done,
           Cancellation cancellation = Cancellation::kAbort);
  void LeaseGrant(etcdserverpb::LeaseGrantRequest request, CallScope& scope,
                  Completion<etcdserverpb::LeaseGrantResponse> done,
           Cancellation cancellation = Cancellation::kAbort);

  etcdserverpb::Watch::Stub& watch();

 private:
  template <typename Request, typename Response, typename StartFn>
  void CallUnary(StartFn start, Request request, CallScope& scope, Completion<Response> done,
                 Cancellation cancellation);

  void Connect();

  std::chrono::milliseconds unary_timeout_;
  ChannelFactory connect_;
  absl::once_flag connected_;
  // Set once by Connect(), read-only afterwards.
  std::unique_ptr<etcdserverpb::KV::Stub> kv_;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease_;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch_;
};

}  // namespace cairn::concurrency
