// CallScope: what the backend calls made on behalf of one Lock/Election request share.
//
// 1. Cancellation. A Lock or Campaign waits on a chain of asynchronous calls to the member's
//    own etcd API. When the caller goes away (cancellation, deadline, server shutdown) the
//    service calls Cancel(): every abortable call attached at that moment is cancelled and
//    later Attach() calls refuse, so the chain winds down instead of waiting on.
// 2. The caller's identity. The backend calls carry the caller's auth token (gRPC metadata
//    "token", as etcd clients send it), so the backend applies the caller's permissions, as
//    etcd's services do by running their client calls in the caller's context.
//
// Thread safety: all methods may be called concurrently from any thread.
// Ownership: the scope shares ownership of attached contexts, so Cancel() may race with a
// call finishing. Cancel() runs TryCancel() without holding its lock, because gRPC may run the
// cancelled call's completion (which detaches) on the cancelling thread.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace cairn::concurrency {

class CallScope {
 public:
  CallScope() = default;
  // Takes the caller's forwarded metadata from the server-side context of the request.
  explicit CallScope(const grpc::CallbackServerContext& caller);
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;

  // Adds the caller's forwarded metadata to a backend call's context.
  void Prepare(grpc::ClientContext& context) const;

  // Registers a context about to start an abortable call. Returns false (and registers
  // nothing) when the scope is already cancelled; the caller must then not start the call.
  bool Attach(std::shared_ptr<grpc::ClientContext> context);
  // Unregisters a context whose call has finished.
  void Detach(const grpc::ClientContext* context);
  // Cancels every attached call and refuses future ones. Idempotent.
  void Cancel();
  bool cancelled() const;

 private:
  std::string token_;  // empty: the caller sent none
  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<const grpc::ClientContext*, std::shared_ptr<grpc::ClientContext>> attached_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace cairn::concurrency
