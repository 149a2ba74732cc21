#include "server/concurrency/contender_lease.h"

namespace cairn::concurrency {

void ResolveLease(Backend& backend, int64_t requested, CallScope& scope,
                  Completion<int64_t> done) {
  if (requested != 0) return done(grpc::Status::OK, int64_t{requested});
  etcdserverpb::LeaseGrantRequest grant;
  grant.set_ttl(kDefaultSessionTtlSeconds);
  backend.LeaseGrant(std::move(grant), scope,
                     [done = std::move(done)](const grpc::Status& status,
                                              etcdserverpb::LeaseGrantResponse&& response) {
                       if (!status.ok()) return done(status, 0);
                       if (!response.error().empty()) {
                         return done(grpc::Status(grpc::StatusCode::UNKNOWN, response.error()), 0);
                       }
                       done(grpc::Status::OK, response.id());
                     });
}

}  // namespace cairn::concurrency
