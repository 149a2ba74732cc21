// UnaryOperation: the server side of one Lock/Election unary call that waits on the backend.
//
// It owns the call's CallScope: when the caller cancels (or its deadline passes) the scope
// cancels the backend calls in flight, and the operation's chain winds down and calls
// Finish(). Subclasses must call Finish() exactly once, as the very last thing they do, since
// gRPC may delete the operation (OnDone) as soon as Finish() returns.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>

#include "server/concurrency/backend.h"
#include "server/concurrency/call_scope.h"

namespace cairn::concurrency {

class UnaryOperation : public grpc::ServerUnaryReactor {
 public:
  UnaryOperation(std::shared_ptr<Backend> backend, const grpc::CallbackServerContext& caller)
      : backend_(std::move(backend)), scope_(caller) {}

  void OnCancel() override { scope_.Cancel(); }
  void OnDone() override { delete this; }

 protected:
  Backend& backend() { return *backend_; }
  CallScope& scope() { return scope_; }

 private:
  std::shared_ptr<Backend> backend_;
  CallScope scope_;
};

}  // namespace cairn::concurrency
