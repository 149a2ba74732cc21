// KeyWatch: one watch on its own Watch stream to the backend, read one response at a time.
//
// The owner sees each response that carries events and answers it with exactly one call to
// ReadNext() (deliver the next one) or Stop() (end the stream). Reading only on request gives
// natural back-pressure: Observe does not read further until it has sent what it got.
//
// on_end runs exactly once, after which the KeyWatch is deleted: with OK after Stop(), with
// CANCELLED when the scope was cancelled, with the etcd error when the backend cancelled the
// watch (e.g. its start revision was compacted), or with the stream's status. Both handlers
// run on gRPC callback threads and must not block. ReadNext()/Stop() may be called from any
// thread, but only between a delivery and the next ReadNext().
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "server/concurrency/backend.h"
#include "server/concurrency/call_scope.h"

namespace cairn::concurrency {

class KeyWatch final
    : public grpc::ClientBidiReactor<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse> {
 public:
  struct Handlers {
    std::function<void(KeyWatch&, etcdserverpb::WatchResponse&&)> on_events;
    std::function<void(const grpc::Status&)> on_end;
  };

  // Starts watching. If `scope` is already cancelled, on_end(CANCELLED) runs inline.
  static void Start(Backend& backend, etcdserverpb::WatchCreateRequest create, CallScope& scope,
                    Handlers handlers);

  void ReadNext();
  void Stop();

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override {}
  void OnDone(const grpc::Status& status) override;

 private:
  KeyWatch(CallScope& scope, Handlers handlers);

  CallScope& scope_;
  Handlers handlers_;
  std::shared_ptr<grpc::ClientContext> context_ = std::make_shared<grpc::ClientContext>();
  etcdserverpb::WatchRequest create_;
  etcdserverpb::WatchResponse response_;
  std::atomic<bool> stopped_{false};
  // Set before the stream is torn down because the backend refused or cancelled the watch;
  // only touched from OnReadDone and then OnDone, which gRPC runs in that order.
  grpc::Status watch_error_;
};

// Calls done(OK) once `key` is deleted at or after `start_revision`.
void WatchForDelete(Backend& backend, const std::string& key, int64_t start_revision,
                    CallScope& scope, std::function<void(const grpc::Status&)> done);

}  // namespace cairn::concurrency
