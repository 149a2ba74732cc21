#include "server/reconfig_check.h"

#include <utility>

#include "server/errors.h"

namespace cairn::server {

MembershipChangeChecker::MembershipChangeChecker(WritePipeline* pipeline, peer::PeerTransport* transport,
                                                 uint64_t self_id, ReconfigPolicy policy)
    : pipeline_(pipeline), transport_(transport), self_id_(self_id), policy_(policy) {}

void MembershipChangeChecker::Check(const cairnpb::ConfChange& change, std::function<void(absl::Status)> done) const {
  cairnpb::MembershipChangeCheck request;
  *request.mutable_change() = change;
  request.set_strict(policy_.strict);
  const uint64_t leader = pipeline_->Leader();
  if (leader == 0) return done(ErrNoLeader());
  if (leader == self_id_) return done(CheckHere(request));
  transport_->ForwardMembershipCheck(leader, request, std::move(done));
}

absl::Status MembershipChangeChecker::CheckHere(const cairnpb::MembershipChangeCheck& request) const {
  ReconfigPolicy policy = policy_;
  policy.strict = request.strict();
  return CheckMembershipChange(pipeline_->Membership(), request.change(), self_id_, pipeline_->PeerActivity(),
                               ReconfigClock::now(), policy);
}

}  // namespace cairn::server
