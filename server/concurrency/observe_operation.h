// The server side of Election.Observe: streams the election's leaders as they change.
//
// It first sends the current leader (the oldest candidate), waiting for the first candidate
// if there is none; then each new value that leader proclaims; when the leader's key goes
// away it looks up the next leader and goes on. Like etcd, it reports the latest state, not
// necessarily every short-lived leadership in between.
//
// Threads: driven by backend callbacks and write completions, one step at a time; it reads
// the next watch response only after the previous one's announcements were written, so a
// slow observer holds back its own watch, never a gRPC thread. The stream ends when the
// caller cancels (status CANCELLED) or the backend fails (its error).
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "server/concurrency/backend.h"
#include "v3electionpb/v3election.grpc.pb.h"

namespace cairn::concurrency {

// Returns the reactor for one Observe call; it deletes itself when the call is done.
grpc::ServerWriteReactor<v3electionpb::LeaderResponse>* StartObserve(
    std::shared_ptr<Backend> backend, const grpc::CallbackServerContext& caller,
    const std::string& name);

}  // namespace cairn::concurrency
