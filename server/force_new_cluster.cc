#include "server/force_new_cluster.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace cairn::server {
namespace {

cairnpb::Entry ChangeEntry(cairnpb::ConfChangeType type, uint64_t node, const std::string& context,
                           uint64_t index, uint64_t term) {
  cairnpb::ConfChange change;
  change.set_type(type);
  change.set_node_id(node);
  change.set_context(context);
  cairnpb::Entry entry;
  entry.set_type(cairnpb::ENTRY_CONF_CHANGE);
  entry.set_index(index);
  entry.set_term(term);
  change.SerializeToString(entry.mutable_data());
  return entry;
}

}  // namespace

std::vector<cairnpb::Entry> StandaloneEntries(const cairnpb::Membership& membership,
                                              const cairnpb::MemberRecord& self, uint64_t after_index,
                                              uint64_t term) {
  const uint64_t me = self.id();
  std::set<uint64_t> others;
  for (uint64_t id : membership.conf_state().voters()) others.insert(id);
  for (uint64_t id : membership.conf_state().learners()) others.insert(id);
  for (const cairnpb::MemberRecord& m : membership.members()) others.insert(m.id());
  others.erase(me);
  const auto& voters = membership.conf_state().voters();
  const bool self_voter = std::find(voters.begin(), voters.end(), me) != voters.end();

  std::vector<cairnpb::Entry> entries;
  uint64_t index = after_index;
  if (!self_voter) {
    entries.push_back(ChangeEntry(cairnpb::CONF_CHANGE_ADD_NODE, me, self.SerializeAsString(), ++index, term));
  }
  for (uint64_t id : others) {
    entries.push_back(ChangeEntry(cairnpb::CONF_CHANGE_REMOVE_NODE, id, std::string(), ++index, term));
  }
  return entries;
}

std::string DescribeStandaloneEntries(const std::vector<cairnpb::Entry>& entries) {
  std::vector<std::string> removed;
  bool promoted = false;
  for (const cairnpb::Entry& e : entries) {
    cairnpb::ConfChange change;
    if (!change.ParseFromString(e.data())) continue;
    if (change.type() == cairnpb::CONF_CHANGE_REMOVE_NODE) {
      removed.push_back(absl::StrFormat("%x", change.node_id()));
    } else {
      promoted = true;
    }
  }
  std::string text = removed.empty() ? "removes no member" : absl::StrCat("removes members ", absl::StrJoin(removed, ","));
  if (promoted) absl::StrAppend(&text, " and makes this member a voter");
  return text;
}

}  // namespace cairn::server
