#include "server/peer/lease_client.h"

#include <chrono>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "server/peer/channel.h"

namespace cairn::peer {

bool UnaryCalls::Add(std::shared_ptr<grpc::ClientContext> context) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return false;
  grpc::ClientContext* key = context.get();
  // Replaces the empty entry a finished call at the same address may have left (see Remove).
  open_[key] = std::move(context);
  return true;
}

void UnaryCalls::Remove(grpc::ClientContext* context) {
  std::shared_ptr<grpc::ClientContext> last;
  {
    absl::MutexLock lock(&mu_);
    auto found = open_.find(context);
    if (found == open_.end()) return;
    last = std::move(found->second);  // the entry stays, empty, so CancelAllAndWait still waits
  }
  last.reset();  // without the lock: this may destroy the channel
  absl::MutexLock lock(&mu_);
  // Unless a new call, allocated where this one was, has taken the entry meanwhile.
  if (auto found = open_.find(context); found != open_.end() && found->second == nullptr) open_.erase(found);
}

void UnaryCalls::CancelAllAndWait() {
  std::vector<std::shared_ptr<grpc::ClientContext>> open;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (const auto& [key, context] : open_) {
      if (context != nullptr) open.push_back(context);  // null: finished, being destroyed
    }
  }
  // Without the lock: a cancelled call's callback may run inside TryCancel and calls Remove.
  for (const auto& context : open) context->TryCancel();
  open.clear();
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](absl::flat_hash_map<grpc::ClientContext*, std::shared_ptr<grpc::ClientContext>>* calls) {
        return calls->empty();
      },
      &open_));
}

namespace {

template <typename Request, typename Response>
struct UnaryCall {
  grpc::ClientContext context;
  Request request;
  Response response;
};

// Starts one call through `start(stub, context, request, response, on_status)`.
template <typename Request, typename Response, typename Start>
void Forward(UnaryCalls& calls, const ForwardTarget& target, const Request& request,
             std::function<void(absl::StatusOr<Response>)> done, Start start) {
  if (target.stub == nullptr) {
    done(absl::UnavailableError(absl::StrFormat("peer transport: member %x is not a known peer", target.peer_id)));
    return;
  }
  auto call = std::make_shared<UnaryCall<Request, Response>>();
  call->request = request;
  call->context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(target.timeout));
  call->context.AddMetadata(kClusterIdMetadata, absl::StrFormat("%x", target.cluster_id));
  if (!calls.Add(std::shared_ptr<grpc::ClientContext>(call, &call->context))) {
    done(absl::UnavailableError("peer transport: member is stopping"));
    return;
  }
  // The stub is kept alive by the callback: the peer may be removed while the call is in flight.
  // The callback lets go of the stub and the call before Remove(), which then destroys the call
  // while Stop() still waits (see UnaryCalls::Remove); held until the callback itself is destroyed,
  // they could outlive the member's gRPC server.
  start(target.stub, &call->context, &call->request, &call->response,
        [&calls, call, stub = target.stub, done = std::move(done)](grpc::Status status) mutable {
          if (status.ok()) {
            done(std::move(call->response));
          } else {
            done(ToAbsl(status));
          }
          stub.reset();
          grpc::ClientContext* const key = &call->context;
          call.reset();
          calls.Remove(key);
        });
}

}  // namespace

void ForwardLeaseRenew(UnaryCalls& calls, const ForwardTarget& target,
                       const etcdserverpb::LeaseKeepAliveRequest& request,
                       std::function<void(absl::StatusOr<etcdserverpb::LeaseKeepAliveResponse>)> done) {
  Forward<etcdserverpb::LeaseKeepAliveRequest, etcdserverpb::LeaseKeepAliveResponse>(
      calls, target, request, std::move(done),
      [](const std::shared_ptr<cairnpb::Peer::Stub>& stub, grpc::ClientContext* context,
         const etcdserverpb::LeaseKeepAliveRequest* req, etcdserverpb::LeaseKeepAliveResponse* resp,
         std::function<void(grpc::Status)> on_status) {
        stub->async()->LeaseRenew(context, req, resp, std::move(on_status));
      });
}

void ForwardLeaseTimeToLive(UnaryCalls& calls, const ForwardTarget& target,
                            const etcdserverpb::LeaseTimeToLiveRequest& request,
                            std::function<void(absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse>)> done) {
  Forward<etcdserverpb::LeaseTimeToLiveRequest, etcdserverpb::LeaseTimeToLiveResponse>(
      calls, target, request, std::move(done),
      [](const std::shared_ptr<cairnpb::Peer::Stub>& stub, grpc::ClientContext* context,
         const etcdserverpb::LeaseTimeToLiveRequest* req, etcdserverpb::LeaseTimeToLiveResponse* resp,
         std::function<void(grpc::Status)> on_status) {
        stub->async()->LeaseTimeToLive(context, req, resp, std::move(on_status));
      });
}

void ForwardMembershipCheck(UnaryCalls& calls, const ForwardTarget& target,
                            const cairnpb::MembershipChangeCheck& request, std::function<void(absl::Status)> done) {
  Forward<cairnpb::MembershipChangeCheck, cairnpb::MembershipChangeVerdict>(
      calls, target, request,
      [done = std::move(done)](absl::StatusOr<cairnpb::MembershipChangeVerdict> verdict) { done(verdict.status()); },
      [](const std::shared_ptr<cairnpb::Peer::Stub>& stub, grpc::ClientContext* context,
         const cairnpb::MembershipChangeCheck* req, cairnpb::MembershipChangeVerdict* resp,
         std::function<void(grpc::Status)> on_status) {
        stub->async()->CheckMembershipChange(context, req, resp, std::move(on_status));
      });
}

}  // namespace cairn::peer
