// LockService: etcd's v3lockpb.Lock service (Lock/Unlock), built on the KV, Lease and Watch API.
//
// Lock(name, lease) puts "name/<lease hex>" under the lease (reusing it if that lease already
// queued or holds the lock) and answers once every older key under "name/" is gone; the
// response carries that key, which Unlock(key) deletes. The lock ends when its lease does.
// A caller that cancels or times out while waiting has its key deleted, so it never blocks
// the queue. See server/concurrency/README.md for the algorithm.
//
// Threads: no call blocks a gRPC thread; waiting is a chain of asynchronous backend calls and
// a watch stream per waiter. Errors carry etcd's messages (see errors.h).
//
// Ownership: register the service with a grpc::ServerBuilder; it must outlive that server.
// In-flight operations share the Backend, so they may finish after the service is gone.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>

#include "server/concurrency/backend.h"
#include "v3lockpb/v3lock.grpc.pb.h"

namespace cairn::concurrency {

class LockService final : public v3lockpb::Lock::CallbackService {
 public:
  // `channel` reaches an etcd v3 endpoint serving KV, Lease and Watch (the member's own).
  // Several services may share one Backend (see backend.h for a lazily made channel).
  explicit LockService(std::shared_ptr<grpc::Channel> channel);
  explicit LockService(std::shared_ptr<Backend> backend);

  grpc::ServerUnaryReactor* Lock(grpc::CallbackServerContext* context,
                                 const v3lockpb::LockRequest* request,
                                 v3lockpb::LockResponse* response) override;
  grpc::ServerUnaryReactor* Unlock(grpc::CallbackServerContext* context,
                                   const v3lockpb::UnlockRequest* request,
                                   v3lockpb::UnlockResponse* response) override;

 private:
  std::shared_ptr<Backend> backend_;
};

}  // namespace cairn::concurrency
