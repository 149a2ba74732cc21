// WritePipeline: the peer-activity snapshot the membership-change rules read (PeerActivity).
#include "server/write_pipeline.h"

namespace cairn::server {

PeerView WritePipeline::PeerActivity() const {
  std::lock_guard<std::mutex> lock(peer_view_mu_);
  return peer_view_;
}

void WritePipeline::RecordContact(const std::vector<cairnpb::Message>& inbox, std::chrono::steady_clock::time_point now) {
  const auto silence = options_.tick * options_.election_ticks;
  std::lock_guard<std::mutex> lock(peer_view_mu_);
  for (const cairnpb::Message& m : inbox) {
    if (m.from() == 0 || m.from() == options_.header.member_id) continue;
    auto [it, first] = peer_view_.contact.try_emplace(m.from(), PeerContact{now, now});
    PeerContact& contact = it->second;
    if (!first && now - contact.last_heard > silence) contact.active_since = now;  // contact was lost meanwhile
    contact.last_heard = now;
  }
}

void WritePipeline::PublishProgress() {
  const raft::Raft& raft = node_->raft();
  const bool leading = raft.role() == raft::Role::kLeader;
  std::map<uint64_t, uint64_t> match;
  uint64_t leader_match = 0;
  if (leading) {
    for (const auto& [id, progress] : raft.tracker().progress()) match[id] = progress.match;
    const uint64_t last = raft.log().LastIndex();
    auto self = match.find(options_.header.member_id);
    leader_match = self != match.end() && self->second > 0 ? self->second : last;
  }
  std::lock_guard<std::mutex> lock(peer_view_mu_);
  peer_view_.is_leader = leading;
  peer_view_.match = std::move(match);
  peer_view_.leader_match = leader_match;
}

}  // namespace cairn::server
