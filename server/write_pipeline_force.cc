// WritePipeline: --force-new-cluster at start-up (server/force_new_cluster.h has the rules).
#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "server/force_new_cluster.h"
#include "server/raft_log.h"
#include "server/write_pipeline.h"

namespace cairn::server {

absl::Status WritePipeline::ForceStandalone(cairnpb::HardState* hard_state, bool* forced) {
  *forced = false;
  const cairnpb::Membership before = Membership();
  if (before.members().empty() && before.conf_state().voters().empty() && before.conf_state().learners().empty()) {
    return absl::FailedPreconditionError(
        "cairn: --force-new-cluster: this data directory holds no cluster membership to recover from "
        "(the member never received its cluster's log); start it without the flag");
  }
  // Every committed entry is applied by now, so the store's point is the commit index.
  const uint64_t commit = store_->AppliedIndex();
  const uint64_t term = std::max<uint64_t>({hard_state->term(), store_->AppliedTerm(), 1});
  cairnpb::MemberRecord self = options_.self;
  self.set_id(options_.header.member_id);
  std::vector<cairnpb::Entry> entries = StandaloneEntries(before, self, commit, term);
  if (entries.empty()) {
    std::fprintf(stderr,
                 "cairnd: --force-new-cluster: member %llx already is the only member of cluster %llx; "
                 "nothing to change\n",
                 static_cast<unsigned long long>(options_.header.member_id),
                 static_cast<unsigned long long>(options_.header.cluster_id));
    return absl::OkStatus();
  }
  std::fprintf(stderr,
               "cairnd: --force-new-cluster: member %llx restarts as the only member of cluster %llx, keeping "
               "what was committed up to index %llu (term %llu); the change %s\n",
               static_cast<unsigned long long>(options_.header.member_id),
               static_cast<unsigned long long>(options_.header.cluster_id), static_cast<unsigned long long>(commit),
               static_cast<unsigned long long>(term), DescribeStandaloneEntries(entries).c_str());

  // Logged as committed before they are applied: the store commits without fsync, and a restart
  // must find them in the WAL (where they replace the uncommitted entries at the same indexes).
  cairnpb::HardState next = *hard_state;
  next.set_term(term);
  next.set_commit(entries.back().index());
  if (auto s = wal_->Write(CommittedRecords(entries, next)); !s.ok()) return s;
  if (auto s = wal_->Sync(); !s.ok()) return s;
  ApplyEntries(entries);
  if (!broken_.ok()) return broken_;
  *hard_state = next;
  *forced = true;
  return absl::OkStatus();
}

}  // namespace cairn::server
