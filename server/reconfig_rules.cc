#include "server/reconfig_rules.h"

#include <vector>

#include "server/errors.h"
#include "server/membership.h"

namespace cairn::server {
namespace {

// etcd promotes a learner only once it holds this share of the leader's log.
constexpr double kLearnerReadyShare = 0.9;

size_t QuorumOf(size_t voters) { return voters / 2 + 1; }

bool Started(const cairnpb::MemberRecord& m) { return !m.name().empty(); }

std::vector<const cairnpb::MemberRecord*> VotingMembers(const cairnpb::Membership& membership) {
  std::vector<const cairnpb::MemberRecord*> voters;
  for (const cairnpb::MemberRecord& m : membership.members()) {
    if (!m.is_learner()) voters.push_back(&m);
  }
  return voters;
}

size_t CountStarted(const std::vector<const cairnpb::MemberRecord*>& members, uint64_t except = 0) {
  size_t n = 0;
  for (const cairnpb::MemberRecord* m : members) {
    if (m->id() != except && Started(*m)) ++n;
  }
  return n;
}

// Voters the leader has been in contact with for the whole health interval; the leader counts.
size_t CountConnected(const std::vector<const cairnpb::MemberRecord*>& voters, uint64_t self_id,
                      const PeerView& view, ReconfigClock::time_point now, const ReconfigPolicy& policy) {
  const ReconfigClock::time_point since = now - policy.health_interval;
  size_t n = 0;
  for (const cairnpb::MemberRecord* m : voters) {
    if (m->id() == self_id || ConnectedSince(view, m->id(), since, now, policy.election_timeout)) ++n;
  }
  return n;
}

absl::Status CheckAdd(const cairnpb::Membership& membership, bool learner, uint64_t self_id, const PeerView& view,
                      ReconfigClock::time_point now, const ReconfigPolicy& policy) {
  const auto voters = VotingMembers(membership);
  const size_t members_after = voters.size() + 1;
  const size_t started = CountStarted(voters);
  // Growing a lone member to two (restoring a cluster from one member's data) must stay possible,
  // although the new member cannot have started yet.
  const bool growing_lone_member = started == 1 && members_after == 2;
  if (!learner && !growing_lone_member && started < QuorumOf(members_after)) return ErrNotEnoughStartedMembers();
  // A learner does not count towards the quorum, but etcd 3.4 still wants every voter live first.
  if (!view.is_leader) return ErrNotLeader();
  if (CountConnected(voters, self_id, view, now, policy) != voters.size()) return ErrUnhealthy();
  return absl::OkStatus();
}

absl::Status CheckRemove(const cairnpb::Membership& membership, uint64_t id, uint64_t self_id, const PeerView& view,
                         ReconfigClock::time_point now, const ReconfigPolicy& policy) {
  const cairnpb::MemberRecord* target = FindMember(membership, id);
  if (target != nullptr && target->is_learner()) return absl::OkStatus();
  const auto voters = VotingMembers(membership);
  size_t staying = 0;
  for (const cairnpb::MemberRecord* m : voters) staying += m->id() != id ? 1 : 0;
  if (CountStarted(voters, id) < QuorumOf(staying)) return ErrNotEnoughStartedMembers();
  if (!view.is_leader) return ErrNotLeader();
  // A member out of contact is not part of the live quorum: removing it costs nothing.
  if (id != self_id && !ConnectedSince(view, id, now, now, policy.election_timeout)) return absl::OkStatus();
  const size_t live = CountConnected(voters, self_id, view, now, policy);
  if (live < 1 || live - 1 < QuorumOf(voters.size() - 1)) return ErrUnhealthy();
  return absl::OkStatus();
}

absl::Status CheckPromote(const cairnpb::Membership& membership, uint64_t id, const PeerView& view,
                          const ReconfigPolicy& policy) {
  if (!view.is_leader) return ErrNotLeader();
  // A learner missing from the leader's progress is one the snapshot has not caught up with yet
  // (it was just added): it holds nothing of the log so far.
  auto found = view.match.find(id);
  const uint64_t learner_match = found != view.match.end() ? found->second : 0;
  if (static_cast<double>(learner_match) < static_cast<double>(view.leader_match) * kLearnerReadyShare) {
    return ErrLearnerNotReady();
  }
  if (!policy.strict) return absl::OkStatus();
  const auto voters = VotingMembers(membership);
  // The learner counts, as a started member, towards the quorum it will be part of.
  const size_t members_after = voters.size() + 1;
  const size_t started = CountStarted(voters) + 1;
  if (started < QuorumOf(members_after)) return ErrNotEnoughStartedMembers();
  return absl::OkStatus();
}

}  // namespace

bool ConnectedSince(const PeerView& view, uint64_t id, ReconfigClock::time_point since, ReconfigClock::time_point now,
                    std::chrono::milliseconds election_timeout) {
  auto found = view.contact.find(id);
  if (found == view.contact.end()) return false;
  const PeerContact& contact = found->second;
  return now - contact.last_heard <= election_timeout && contact.active_since <= since;
}

absl::Status CheckMembershipChange(const cairnpb::Membership& membership, const cairnpb::ConfChange& change,
                                   uint64_t self_id, const PeerView& view, ReconfigClock::time_point now,
                                   const ReconfigPolicy& policy) {
  const uint64_t id = change.node_id();
  const cairnpb::MemberRecord* existing = FindMember(membership, id);
  switch (change.type()) {
    case cairnpb::CONF_CHANGE_ADD_NODE:
      if (existing != nullptr) {
        // A promote. etcd 3.4 runs the promote checks whatever the member is, and only then finds
        // a voter is not a learner: a voter that is behind gets "not in sync", not "not a learner".
        if (auto s = CheckPromote(membership, id, view, policy); !s.ok()) return s;
        return existing->is_learner() ? absl::OkStatus() : ErrMemberNotLearner();
      }
      return policy.strict ? CheckAdd(membership, /*learner=*/false, self_id, view, now, policy) : absl::OkStatus();
    case cairnpb::CONF_CHANGE_ADD_LEARNER_NODE:
      if (existing != nullptr) return absl::OkStatus();
      return policy.strict ? CheckAdd(membership, /*learner=*/true, self_id, view, now, policy) : absl::OkStatus();
    case cairnpb::CONF_CHANGE_REMOVE_NODE:
      if (existing == nullptr) return absl::OkStatus();
      return policy.strict ? CheckRemove(membership, id, self_id, view, now, policy) : absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

}  // namespace cairn::server
