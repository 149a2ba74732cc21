// The safety rules for membership changes (etcd 3.4's --strict-reconfig-check): a change that could
// leave the cluster without a live quorum is refused before it is proposed.
//
//   add voter     strict: enough started voters for the new quorum (a one-voter cluster may always
//                 add a second), then every voter connected to the leader for the last 5 s.
//   add learner   strict: every voter connected to the leader for the last 5 s (etcd 3.4 skips
//                 only the started-members rule for learners).
//   remove        strict: learners always; otherwise enough started voters among those that stay,
//                 then either the member is out of contact, or the live voters minus one still
//                 make a quorum of those that stay.
//   promote       always: the learner's raft match is at least 90% of the leader's; then, strict,
//                 enough started voters counting the learner as one.
//
// "Started" means the member has published its name (founding members carry theirs from
// --initial-cluster). "Connected since T" means heard from within the election timeout, in a run
// of contact that began at or before T. Only the leader hears every voter, so the rules that need
// contact or raft progress answer "etcdserver: not leader" on any other member.
//
// Thread safety: pure functions over values.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>

#include "absl/status/status.h"
#include "cairnpb/internal.pb.h"
#include "cairnpb/raft.pb.h"

namespace cairn::server {

using ReconfigClock = std::chrono::steady_clock;

// One member's record of a peer it has heard raft messages from.
struct PeerContact {
  ReconfigClock::time_point active_since;  // start of the current unbroken run of contact
  ReconfigClock::time_point last_heard;
};

// What a member knows of its peers (WritePipeline::PeerView publishes it).
struct PeerView {
  bool is_leader = false;
  std::map<uint64_t, PeerContact> contact;  // peers heard at least once, by ID
  // Filled only on the leader: raft's match index per member, and the leader's own last index.
  std::map<uint64_t, uint64_t> match;
  uint64_t leader_match = 0;
};

struct ReconfigPolicy {
  bool strict = true;  // --strict-reconfig-check
  // A peer silent for longer than this is out of contact (--election-timeout).
  std::chrono::milliseconds election_timeout{1000};
  // How long every peer must have been in contact (etcd's HealthInterval).
  std::chrono::milliseconds health_interval{5000};
};

// Whether `view` says peer `id` has been in contact since `since`, as of `now`.
bool ConnectedSince(const PeerView& view, uint64_t id, ReconfigClock::time_point since,
                    ReconfigClock::time_point now, std::chrono::milliseconds election_timeout);

// Checks `change` (ADD_NODE of a learner is a promotion) against `membership` as seen by member
// `self_id`. OK, or one of: ErrNotEnoughStartedMembers, ErrUnhealthy, ErrLearnerNotReady,
// ErrNotLeader (a rule needs the leader's view and `view` is not the leader's). UPDATE_NODE and
// changes naming unknown members pass: the caller's own checks (member not found) come first.
absl::Status CheckMembershipChange(const cairnpb::Membership& membership, const cairnpb::ConfChange& change,
                                   uint64_t self_id, const PeerView& view, ReconfigClock::time_point now,
                                   const ReconfigPolicy& policy);

}  // namespace cairn::server
