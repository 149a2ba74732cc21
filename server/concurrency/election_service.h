// ElectionService: etcd's v3electionpb.Election service, built on the KV, Lease and Watch API.
//
// Campaign(name, lease, value) puts "name/<lease hex>" = value under the lease and answers once
// every older candidate under "name/" is gone, with the LeaderKey (name, key, create revision,
// lease) that Proclaim and Resign take. Leader returns the oldest candidate's key-value (or
// "election: no leader"); Observe streams the current leader and then every leader and value
// change in order. Leadership ends with its lease, on Resign, or when its key is deleted.
// A campaigner that cancels while waiting has its key deleted. See README.md for details.
//
// Threads: no call blocks a gRPC thread; waiting is a chain of asynchronous backend calls and
// watch streams. Errors carry etcd's messages (see errors.h).
//
// Ownership: register the service with a grpc::ServerBuilder; it must outlive that server.
// In-flight operations share the Backend, so they may finish after the service is gone.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>

#include "server/concurrency/backend.h"
#include "v3electionpb/v3election.grpc.pb.h"

namespace cairn::concurrency {

class ElectionService final : public v3electionpb::Election::CallbackService {
 public:
  // `channel` reaches an etcd v3 endpoint serving KV, Lease and Watch (the member's own).
  // Several services may share one Backend (see backend.h for a lazily made channel).
  explicit ElectionService(std::shared_ptr<grpc::Channel> channel);
  explicit ElectionService(std::shared_ptr<Backend> backend);

  grpc::ServerUnaryReactor* Campaign(grpc::CallbackServerContext* context,
                                     const v3electionpb::CampaignRequest* request,
                                     v3electionpb::CampaignResponse* response) override;
  grpc::ServerUnaryReactor* Proclaim(grpc::CallbackServerContext* context,
                                     const v3electionpb::ProclaimRequest* request,
                                     v3electionpb::ProclaimResponse* response) override;
  grpc::ServerUnaryReactor* Leader(grpc::CallbackServerContext* context,
                                   const v3electionpb::LeaderRequest* request,
                                   v3electionpb::LeaderResponse* response) override;
  grpc::ServerWriteReactor<v3electionpb::LeaderResponse>* Observe(
      grpc::CallbackServerContext* context, const v3electionpb::LeaderRequest* request) override;
  grpc::ServerUnaryReactor* Resign(grpc::CallbackServerContext* context,
                                   const v3electionpb::ResignRequest* request,
                                   v3electionpb::ResignResponse* response) override;

 private:
  std::shared_ptr<Backend> backend_;
};

}  // namespace cairn::concurrency
