// UnaryOperation: the server side of one Lock/Election unary call that waits on the backend.
//
// It owns the call's CancelScope: when the caller cancels (or its deadline passes) the scope
// cancels the backend calls in flight, and the operation's chain winds down and calls
// Finish(). Subclasses must call Finish() exactly once, as the very last thing they do, since
// gRPC may delete the operation (OnDone) as soon as Finish() returns.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>

#include "server/concurrency/backend.h"
#include "server/concurrency/cancel_scope.h"

namespace cairn::concurrency {

class UnaryOperation : public grpc::ServerUnaryReactor {
 public:
  explicit UnaryOperation(std::shared_ptr<Backend> backend) : backend_(std::move(backend)) {}

  void OnCancel() override { scope_.Cancel(); }
  void OnDone() override { delete this; }

 protected:
  Backend& backend() { return *backend_; }
  CancelScope* scope() { return &scope_; }

 private:
  std::shared_ptr<Backend> backend_;
  CancelScope scope_;
};

}  // namespace cairn::concurrency
