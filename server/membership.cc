#include "server/membership.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace cairn::server {
namespace {

void RemoveId(google::protobuf::RepeatedField<uint64_t>* ids, uint64_t id) {
  ids->erase(std::remove(ids->begin(), ids->end(), id), ids->end());
}

cairnpb::MemberRecord* FindMutableMember(cairnpb::Membership* membership, uint64_t id) {
  for (auto& m : *membership->mutable_members()) {
    if (m.id() == id) return &m;
  }
  return nullptr;
}

}  // namespace

uint64_t StableId(const std::string& seed) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : seed) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h == 0 ? 1 : h;
}

std::string MemberSeed(const std::string& name, const std::vector<std::string>& peer_urls,
                       const std::string& token) {
  return absl::StrCat(name, "|", absl::StrJoin(peer_urls, ","), "|", token);
}

std::string ClusterSeed(const Config& config) {
  if (config.founders_from_srv) {
    // Each member names only itself, so the seed is the founders' URLs, in one order for all.
    std::vector<std::string> urls;
    for (absl::string_view item : absl::StrSplit(config.initial_cluster, ',', absl::SkipWhitespace())) {
      std::pair<std::string, std::string> kv = absl::StrSplit(item, absl::MaxSplits('=', 1));
      urls.push_back(kv.second);
    }
    std::sort(urls.begin(), urls.end());
    return absl::StrCat("srv|", absl::StrJoin(urls, ","), "|", config.initial_cluster_token);
  }
  return absl::StrCat(config.initial_cluster, "|", config.initial_cluster_token);
}

absl::StatusOr<std::vector<cairnpb::MemberRecord>> FoundingMembers(const Config& config) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::string>> urls;
  for (absl::string_view item : absl::StrSplit(config.initial_cluster, ',', absl::SkipWhitespace())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(item, absl::MaxSplits('=', 1));
    if (kv.first.empty() || kv.second.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--initial-cluster: \"", item, "\" is not of the form name=peer-url"));
    }
    if (!urls.count(kv.first)) order.push_back(kv.first);
    urls[kv.first].push_back(kv.second);
  }
  auto self = urls.find(config.name);
  if (self == urls.end()) {
    return absl::InvalidArgumentError(absl::StrCat("--initial-cluster has no entry for this member's --name \"",
                                                   config.name, "\""));
  }
  // SRV records name this member by their own host names, matched to its flags by address.
  if (!config.founders_from_srv && self->second != config.initial_advertise_peer_urls) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--initial-cluster lists \"", config.name, "\" with ", absl::StrJoin(self->second, ","),
        " but --initial-advertise-peer-urls is ", absl::StrJoin(config.initial_advertise_peer_urls, ",")));
  }
  std::vector<cairnpb::MemberRecord> members;
  for (const std::string& name : order) {
    cairnpb::MemberRecord m;
    m.set_id(StableId(MemberSeed(config.founders_from_srv ? std::string() : name, urls[name],
                                 config.initial_cluster_token)));
    m.set_name(name);
    for (const std::string& u : urls[name]) m.add_peer_urls(u);
    members.push_back(std::move(m));
  }
  return members;
}

void ApplyConfChangeToMembership(const cairnpb::ConfChange& change, cairnpb::Membership* membership) {
  const uint64_t id = change.node_id();
  cairnpb::ConfState* cs = membership->mutable_conf_state();
  cairnpb::MemberRecord described;
  const bool has_record = !change.context().empty() && described.ParseFromString(change.context());
  switch (change.type()) {
    case cairnpb::CONF_CHANGE_ADD_NODE:
    case cairnpb::CONF_CHANGE_ADD_LEARNER_NODE: {
      const bool learner = change.type() == cairnpb::CONF_CHANGE_ADD_LEARNER_NODE;
      RemoveId(membership->mutable_removed_ids(), id);
      RemoveId(cs->mutable_voters(), id);
      RemoveId(cs->mutable_learners(), id);
      (learner ? cs->mutable_learners() : cs->mutable_voters())->Add(id);
      cairnpb::MemberRecord* m = FindMutableMember(membership, id);
      if (m == nullptr) {
        m = membership->add_members();
        m->set_id(id);
      }
      if (has_record) {
        if (!described.name().empty()) m->set_name(described.name());
        if (described.peer_urls_size() > 0) *m->mutable_peer_urls() = described.peer_urls();
      }
      m->set_is_learner(learner);
      break;
    }
    case cairnpb::CONF_CHANGE_REMOVE_NODE: {
      RemoveId(cs->mutable_voters(), id);
      RemoveId(cs->mutable_learners(), id);
      if (!WasRemoved(*membership, id)) membership->add_removed_ids(id);
      auto* members = membership->mutable_members();
      for (int i = 0; i < members->size(); ++i) {
        if (members->Get(i).id() == id) {
          members->DeleteSubrange(i, 1);
          break;
        }
      }
      break;
    }
    case cairnpb::CONF_CHANGE_UPDATE_NODE: {
      cairnpb::MemberRecord* m = FindMutableMember(membership, id);
      if (m != nullptr && has_record && described.peer_urls_size() > 0) *m->mutable_peer_urls() = described.peer_urls();
      break;
    }
    default:
      break;
  }
}

void ApplyMemberAttributes(const cairnpb::MemberRecord& attributes, cairnpb::Membership* membership) {
  cairnpb::MemberRecord* m = FindMutableMember(membership, attributes.id());
  if (m == nullptr) return;  // removed meanwhile
  m->set_name(attributes.name());
  *m->mutable_client_urls() = attributes.client_urls();
}

const cairnpb::MemberRecord* FindMember(const cairnpb::Membership& membership, uint64_t id) {
  for (const auto& m : membership.members()) {
    if (m.id() == id) return &m;
  }
  return nullptr;
}

bool WasRemoved(const cairnpb::Membership& membership, uint64_t id) {
  const auto& removed = membership.removed_ids();
  return std::find(removed.begin(), removed.end(), id) != removed.end();
}

std::vector<uint64_t> Voters(const cairnpb::Membership& membership) {
  return {membership.conf_state().voters().begin(), membership.conf_state().voters().end()};
}

}  // namespace cairn::server
