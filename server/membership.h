// Who is in the cluster: member IDs, the founding membership from etcd's --initial-cluster flag,
// and the pure rules that turn committed membership changes into the Membership record the store
// keeps beside the data (cairnpb.Membership, committed in the same LMDB transaction as the
// applied index, so a store image always carries the membership that matches it).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cairnpb/internal.pb.h"
#include "server/config.h"

namespace cairn::server {

// A stable 64-bit ID from a seed (FNV-1a; never 0): the same on every machine and build, so every
// founding member computes the same IDs for its peers.
uint64_t StableId(const std::string& seed);

// The seed of a member's ID: its name, peer URLs and the cluster token (as etcd derives IDs).
std::string MemberSeed(const std::string& name, const std::vector<std::string>& peer_urls,
                       const std::string& token);
// The seed of the cluster ID: the whole --initial-cluster value and the token (with
// founders_from_srv, the founders' peer URLs, sorted, and the token).
std::string ClusterSeed(const Config& config);

// The founding members named by --initial-cluster ("n1=http://a:2380,n2=http://b:2380"; a name may
// repeat to give a member several URLs), in flag order. Errors name the flag: an entry without
// "=", an empty name or URL, or this member (--name) missing or listed with URLs other than its
// --initial-advertise-peer-urls. With founders_from_srv (--initial-cluster filled from SRV
// records), IDs are seeded without names and this member's URLs are not compared with its flags.
absl::StatusOr<std::vector<cairnpb::MemberRecord>> FoundingMembers(const Config& config);

// Applies a committed membership change: ADD_NODE adds a voter (or promotes a learner),
// ADD_LEARNER_NODE adds a learner, REMOVE_NODE removes the member and records its ID in
// removed_ids (an ID added again leaves that list). `context`, when it holds a MemberRecord,
// supplies the new member's name and URLs.
void ApplyConfChangeToMembership(const cairnpb::ConfChange& change, cairnpb::Membership* membership);

// Records a member's published name and client URLs (its peer URLs stay as the change gave them).
void ApplyMemberAttributes(const cairnpb::MemberRecord& attributes, cairnpb::Membership* membership);

// The member with `id`, or null.
const cairnpb::MemberRecord* FindMember(const cairnpb::Membership& membership, uint64_t id);

// True if `id` was removed from the cluster (and not added again): its raft messages are dropped.
bool WasRemoved(const cairnpb::Membership& membership, uint64_t id);

// The voters' IDs.
std::vector<uint64_t> Voters(const cairnpb::Membership& membership);

}  // namespace cairn::server
