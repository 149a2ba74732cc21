// CancelScope: lets one server-side operation cancel the backend calls it has in flight.
//
// A Lock or Campaign call waits on a chain of asynchronous calls to the member's own etcd API.
// When the caller goes away (cancellation or deadline), the service calls Cancel(); every
// backend call attached at that moment is cancelled, and any later Attach() refuses, so the
// chain winds down promptly instead of waiting for a key that may never be deleted.
//
// Thread safety: all methods may be called concurrently from any thread.
// Ownership: the scope shares ownership of attached contexts, so Cancel() may race with a
// call finishing. Cancel() runs TryCancel() without holding its lock, because gRPC may run the
// cancelled call's completion (which detaches) on the cancelling thread.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace cairn::concurrency {

class CancelScope {
 public:
  CancelScope() = default;
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;

  // Registers a context about to start a call. Returns false (and registers nothing) when
  // the scope is already cancelled; the caller must then not start the call.
  bool Attach(std::shared_ptr<grpc::ClientContext> context);
  // Unregisters a context whose call has finished.
  void Detach(const grpc::ClientContext* context);
  // Cancels every attached call and refuses future ones. Idempotent.
  void Cancel();
  bool cancelled() const;

 private:
  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<const grpc::ClientContext*, std::shared_ptr<grpc::ClientContext>> attached_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cairn::concurrency
