// cairn::watch::WatchService — etcd's Watch RPC (one bidirectional stream, many watchers) on gRPC's callback
// API, backed by the WatchHub.
//
// It registers "/etcdserverpb.Watch/Watch" itself (rather than through the generated service) so that its
// responses can be WireResponses: event bytes encoded once per batch and shared by every watcher, with the
// same bytes on the wire as a protobuf WatchResponse. Register it with grpc::ServerBuilder::RegisterService
// like any service.
//
// Each call gets a reactor that owns one hub WatchStream. Requests are handled as they are read (create,
// cancel, progress); responses leave in the stream's outbox order, one write in flight at a time, the next
// started from OnWriteDone. When a client stops reading, its outbox fills, the hub parks its watchers and
// the reactor stops reading further requests until the outbox drains: nothing else waits for it.
//
// A stream lives until the client cancels it or a write fails (a client that only half-closes keeps
// receiving events, as with etcd), or until Shutdown(). Lifetime rules for the owner:
//   service.Shutdown()        finishes every open stream with UNAVAILABLE and refuses new ones at once
//   grpc::Server::Shutdown()  then Wait(): every reactor's OnDone has run (a stream whose client is not
//                             reading finishes when gRPC cancels it at the shutdown deadline)
//   destroy the service, then the hub.
// Thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/service_type.h>

#include <cstddef>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "etcdserverpb/rpc.pb.h"
#include "server/watch/watch_hub.h"
#include "server/watch/wire_response.h"

namespace cairn::watch {

class WatchService final : public grpc::Service {
 public:
  // `hub` must outlive the service.
  explicit WatchService(WatchHub* hub);
  ~WatchService() override;  // waits until every stream's OnDone has run

  // Finishes all open streams with `status` and every later one at once. Idempotent.
  void Shutdown(grpc::Status status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                                   "etcdserver: server stopped"));

  size_t OpenStreams() const;

  // Asked before each watch is created (cairnd: auth). A refusal answers the create as etcd does:
  // created and canceled, watch_id -1, cancel_reason = the status message. Set before serving.
  using CreateCheck =
      std::function<absl::Status(const grpc::CallbackServerContext&, const etcdserverpb::WatchCreateRequest&)>;
  void SetCreateCheck(CreateCheck check) { create_check_ = std::move(check); }

 private:
  class StreamReactor;
  grpc::ServerBidiReactor<etcdserverpb::WatchRequest, WireResponse>* Watch(grpc::CallbackServerContext* context);
  void Unregister(StreamReactor* reactor);

  WatchHub* const hub_;
  CreateCheck create_check_;
  mutable absl::Mutex mu_;
  absl::flat_hash_set<StreamReactor*> reactors_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status shutdown_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cairn::watch
