#include "server/corruption_rules.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace cairn::server {
namespace {

std::string Hex(uint64_t id) { return absl::StrFormat("%x", id); }

}  // namespace

absl::Status DecideInitialCheck(uint64_t self_id, const HashSample& local, const std::vector<PeerHashAnswer>& peers,
                                std::vector<std::string>* skipped) {
  std::vector<std::string> mismatches;
  auto skip = [skipped](std::string why) {
    if (skipped != nullptr) skipped->push_back(std::move(why));
  };
  for (const PeerHashAnswer& peer : peers) {
    if (!peer.answered) {
      skip(absl::StrCat("peer ", Hex(peer.member_id), " not checked: ", peer.error));
      continue;
    }
    if (peer.hash_revision != local.revision) {
      skip(absl::StrCat("peer ", Hex(peer.member_id), " not checked: it hashed revision ", peer.hash_revision,
                        ", not ", local.revision));
      continue;
    }
    if (peer.hash == local.hash) continue;
    if (peer.compact_revision != local.compact_revision) {
      // Different compactions hash different histories: nothing to conclude.
      skip(absl::StrCat("peer ", Hex(peer.member_id), " not checked: compacted to revision ",
                        peer.compact_revision, ", this member to ", local.compact_revision));
      continue;
    }
    mismatches.push_back(absl::StrCat("peer ", Hex(peer.member_id), " has hash ", peer.hash, ", this member ",
                                      local.hash));
  }
  if (mismatches.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "member ", Hex(self_id), " found data inconsistency with peers at revision ", local.revision,
      " (compacted revision ", local.compact_revision, "): ", absl::StrJoin(mismatches, "; ")));
}

PeriodicVerdict DecidePeriodicCheck(uint64_t self_id, const HashSample& before, const HashSample& after,
                                    const std::vector<PeerHashAnswer>& peers) {
  PeriodicVerdict verdict;
  auto flag = [&verdict](uint64_t member, std::string reason) {
    if (verdict.corrupt) return;  // the first finding decides, as one alarm per check
    verdict.corrupt = true;
    verdict.member_id = member;
    verdict.reason = std::move(reason);
  };
  if (after.hash != before.hash && after.revision == before.revision &&
      after.compact_revision == before.compact_revision) {
    flag(self_id, absl::StrCat("this member's hash changed from ", before.hash, " to ", after.hash,
                               " at revision ", before.revision));
  }
  for (const PeerHashAnswer& peer : peers) {
    if (!peer.answered) continue;
    ++verdict.peers_checked;
    if (peer.current_revision > after.revision) {
      flag(peer.member_id, absl::StrCat("member ", Hex(peer.member_id), " is at revision ", peer.current_revision,
                                        ", above the leader's ", after.revision));
    }
    if (peer.compact_revision > after.compact_revision) {
      flag(peer.member_id, absl::StrCat("member ", Hex(peer.member_id), " is compacted to revision ",
                                        peer.compact_revision, ", above the leader's ", after.compact_revision));
    }
    if (peer.hash_revision == before.revision && peer.compact_revision == before.compact_revision &&
        peer.hash != before.hash) {
      flag(peer.member_id, absl::StrCat("member ", Hex(peer.member_id), " has hash ", peer.hash, " at revision ",
                                        before.revision, ", the leader ", before.hash));
    }
  }
  return verdict;
}

}  // namespace cairn::server
