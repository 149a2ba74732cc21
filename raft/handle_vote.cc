// Elections: campaigning (with the optional PreVote round, thesis §9.6) and answering vote
// requests (§5.2, §5.4.1).
#include "raft/raft.h"

namespace cairn::raft {

void Raft::CampaignAs(CampaignKind kind) {
  cairnpb::MessageType request_type;
  uint64_t campaign_term;
  if (kind == CampaignKind::kPreElection) {
    BecomePreCandidate();
    request_type = cairnpb::MSG_PRE_VOTE;
    campaign_term = term_ + 1;  // the term we would use; ours stays unchanged
  } else {
    BecomeCandidate();
    request_type = cairnpb::MSG_VOTE;
    campaign_term = term_;
  }
  tracker_.RecordVote(id_, true);
  if (tracker_.TallyVotes() == ProgressTracker::VoteResult::kWon) {
    // A group of one wins at once.
    if (kind == CampaignKind::kPreElection) {
      CampaignAs(CampaignKind::kElection);
    } else {
      BecomeLeader();
    }
    return;
  }
  const uint64_t last_index = log_.LastIndex();
  const uint64_t last_term = log_.LastTerm();
  for (uint64_t voter : tracker_.voters()) {
    if (voter == id_) continue;
    cairnpb::Message m;
    m.set_type(request_type);
    m.set_to(voter);
    m.set_term(campaign_term);
    m.set_index(last_index);
    m.set_log_term(last_term);
    if (kind == CampaignKind::kTransfer) m.set_context(kTransferContext);
    Send(std::move(m));
  }
}

void Raft::HandleVoteRequest(const cairnpb::Message& m) {
  const bool pre = m.type() == cairnpb::MSG_PRE_VOTE;
  // One vote per term (a repeated request from the same candidate gets the same answer); a
  // pre-vote for a later term promises nothing, so it may be granted to anyone.
  const bool can_vote =
      vote_ == m.from() || (vote_ == 0 && lead_ == 0) || (pre && m.term() > term_);
  cairnpb::Message resp;
  resp.set_type(pre ? cairnpb::MSG_PRE_VOTE_RESPONSE : cairnpb::MSG_VOTE_RESPONSE);
  resp.set_to(m.from());
  if (can_vote && log_.IsUpToDate(m.index(), m.log_term())) {
    // For a pre-vote, answer in the candidate's future term so it recognises the grant.
    resp.set_term(m.term());
    if (!pre) {
      election_elapsed_ = 0;
      vote_ = m.from();
    }
  } else {
    resp.set_term(term_);
    resp.set_reject(true);
  }
  Send(std::move(resp));
}

void Raft::HandleVoteResponse(const cairnpb::Message& m) {
  tracker_.RecordVote(m.from(), !m.reject());
  switch (tracker_.TallyVotes()) {
    case ProgressTracker::VoteResult::kWon:
      if (!Promotable()) {
        BecomeFollower(term_, 0);  // removed while campaigning: the votes no longer count
      } else if (role_ == Role::kPreCandidate) {
        CampaignAs(CampaignKind::kElection);
      } else {
        BecomeLeader();
        BroadcastAppend();
      }
      break;
    case ProgressTracker::VoteResult::kLost:
      BecomeFollower(term_, 0);
      break;
    case ProgressTracker::VoteResult::kPending:
      break;
  }
}

}  // namespace cairn::raft
