// --force-new-cluster (etcd's recovery after a permanent loss of quorum): the log surgery that turns a
// member restarting on its data directory into the only member of its cluster.
//
// The member keeps its member and cluster IDs and everything it knows was committed. Entries after
// its commit index are dropped (no quorum will ever vote on them; etcd drops them too). Then the
// membership changes below are appended as already committed and applied like any other entry, so
// the store's Membership, the raft configuration and a later restart (with or without the flag) all
// agree: one voter, which elects itself at once. The removed members' IDs are recorded
// (Membership.removed_ids), so an old member brought back on its old data is not listened to.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cairnpb/internal.pb.h"
#include "cairnpb/raft.pb.h"

namespace cairn::server {

// The committed entries that leave `self` the only member of `membership` (the membership as of the
// last committed entry): ADD_NODE for `self` first unless it already is a voter (a learner is
// promoted; `self` rides in the context so the record has its name and peer URLs), so no
// configuration is ever without a voter; then REMOVE_NODE for every other voter, learner and listed
// member, in ID order. Indexes `after_index + 1` on, all of `term`. Empty when `self` already is the
// only member: forcing again changes nothing.
std::vector<cairnpb::Entry> StandaloneEntries(const cairnpb::Membership& membership,
                                              const cairnpb::MemberRecord& self, uint64_t after_index,
                                              uint64_t term);

// One line for the start-up log, e.g. "removes members 3a1f..,77c2.." (hex IDs, as etcd prints them).
std::string DescribeStandaloneEntries(const std::vector<cairnpb::Entry>& entries);

}  // namespace cairn::server
