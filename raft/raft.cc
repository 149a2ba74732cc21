// Raft core: construction, role changes, the clock, and dispatch of every message by term and
// role. The per-message rules live in handle_vote.cc, replication.cc, handle_append.cc,
// read_index.cc, transfer.cc and conf_change.cc.
#include "raft/raft.h"

#include <algorithm>

#include "raft/check.h"

namespace cairn::raft {
namespace {
constexpr char kDroppedPrefix[] = "raft: proposal dropped: ";

bool IsLocalRequest(cairnpb::MessageType t) {
  return t == cairnpb::MSG_PROPOSE || t == cairnpb::MSG_READ_INDEX ||
         t == cairnpb::MSG_TRANSFER_LEADER;
}
}  // namespace

const char* RoleName(Role r) {
  switch (r) {
    case Role::kFollower: return "follower";
    case Role::kPreCandidate: return "pre-candidate";
    case Role::kCandidate: return "candidate";
    case Role::kLeader: return "leader";
  }
  return "?";
}

absl::Status ProposalDroppedError(const std::string& reason) {
  return absl::UnavailableError(kDroppedPrefix + reason);
}

bool IsProposalDropped(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable &&
         absl::string_view(s.message()).substr(0, sizeof(kDroppedPrefix) - 1) == kDroppedPrefix;
}

absl::Status Config::Validate() const {
  if (id == 0) return absl::InvalidArgumentError("raft: id must not be 0");
  if (heartbeat_tick <= 0) return absl::InvalidArgumentError("raft: heartbeat_tick must be > 0");
  if (election_tick <= heartbeat_tick) {
    return absl::InvalidArgumentError("raft: election_tick must be greater than heartbeat_tick");
  }
  if (storage == nullptr) return absl::InvalidArgumentError("raft: storage must be set");
  if (max_inflight_msgs == 0) {
    return absl::InvalidArgumentError("raft: max_inflight_msgs must be > 0");
  }
  return absl::OkStatus();
}

Raft::Raft(const Config& c)
    : id_(c.id),
      log_(c.storage, c.max_committed_size_per_ready),
      tracker_(c.max_inflight_msgs),
      election_timeout_(c.election_tick),
      heartbeat_timeout_(c.heartbeat_tick),
      check_quorum_(c.check_quorum),
      pre_vote_(c.pre_vote),
      max_msg_size_(c.max_size_per_msg),
      unsafe_commit_without_quorum_(c.unsafe_commit_without_quorum),
      unsafe_read_without_quorum_(c.unsafe_read_without_quorum) {
  if (c.random != nullptr) {
    random_ = c.random;
  } else {
    own_random_ = std::make_unique<SeededRandom>(c.id);
    random_ = own_random_.get();
  }
}

absl::StatusOr<std::unique_ptr<Raft>> Raft::Create(const Config& config) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  auto initial = config.storage->GetInitialState();
  if (!initial.ok()) return initial.status();
  std::unique_ptr<Raft> r(new Raft(config));
  r->tracker_.Reset(initial->conf_state, r->log_.LastIndex() + 1);
  const cairnpb::HardState& hs = initial->hard_state;
  if (hs.commit() > r->log_.LastIndex()) {
    return absl::FailedPreconditionError(
        "raft: persisted commit index is beyond the persisted log");
  }
  r->term_ = hs.term();
  r->vote_ = hs.vote();
  r->log_.CommitTo(hs.commit());
  if (config.applied > 0) {
    if (config.applied > r->log_.committed()) {
      return absl::FailedPreconditionError("raft: applied index is beyond the commit index");
    }
    r->log_.AppliedTo(std::max(config.applied, r->log_.applied()));
  }
  r->BecomeFollower(r->term_, 0);
  return r;
}

cairnpb::HardState Raft::hard_state() const {
  cairnpb::HardState hs;
  hs.set_term(term_);
  hs.set_vote(vote_);
  hs.set_commit(log_.committed());
  return hs;
}

bool Raft::Promotable() const { return tracker_.IsVoter(id_); }

bool Raft::CommittedInCurrentTerm() const {
  return log_.TermOrZero(log_.committed()) == term_;
}

bool Raft::HasUnappliedConfChange() const {
  if (log_.committed() <= log_.applied()) return false;
  const uint64_t lo = std::max(log_.applied() + 1, log_.FirstIndex());
  auto ents = log_.Slice(lo, log_.committed() + 1, kNoLimit);
  if (!ents.ok()) return false;
  for (const auto& e : *ents) {
    if (e.type() == cairnpb::ENTRY_CONF_CHANGE) return true;
  }
  return false;
}

// ---- role changes ----

void Raft::Reset(uint64_t term) {
  if (term != term_) {
    term_ = term;
    vote_ = 0;
  }
  lead_ = 0;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  ResetRandomizedElectionTimeout();
  AbortLeaderTransfer();
  tracker_.ResetVotes();
  const uint64_t last = log_.LastIndex();
  for (auto& [id, pr] : tracker_.progress()) {
    pr.match = 0;
    pr.next = last + 1;
    pr.state = ProgressState::kProbe;
    pr.probe_sent = false;
    pr.pending_snapshot = 0;
    pr.recent_active = false;
    pr.inflights.Reset();
    if (id == id_) pr.match = last;
  }
  pending_conf_index_ = 0;
  proposals_unsent_ = false;
  reads_.Clear();
  reads_waiting_for_commit_.clear();
}

void Raft::ResetRandomizedElectionTimeout() {
  randomized_election_timeout_ =
      election_timeout_ + static_cast<int>(random_->Uniform(election_timeout_));
}

void Raft::BecomeFollower(uint64_t term, uint64_t lead) {
  Reset(term);
  lead_ = lead;
  role_ = Role::kFollower;
}

void Raft::BecomePreCandidate() {
  CAIRN_RAFT_CHECK(role_ != Role::kLeader, "a leader cannot become a pre-candidate");
  // A pre-election changes neither term nor vote, so a failed one disturbs nobody.
  tracker_.ResetVotes();
  lead_ = 0;
  role_ = Role::kPreCandidate;
}

void Raft::BecomeCandidate() {
  CAIRN_RAFT_CHECK(role_ != Role::kLeader, "a leader cannot become a candidate");
  Reset(term_ + 1);
  vote_ = id_;
  role_ = Role::kCandidate;
}

void Raft::BecomeLeader() {
  CAIRN_RAFT_CHECK(role_ != Role::kFollower, "a follower cannot become leader directly");
  Reset(term_);
  lead_ = id_;
  role_ = Role::kLeader;
  if (Progress* self = tracker_.Get(id_)) self->BecomeReplicate();
  // The no-op commits everything earlier terms left behind (§5.4.2) and, until it commits, also
  // blocks membership changes (the thesis' fix for single-server changes across leader changes).
  AppendEntries({cairnpb::Entry()});
  pending_conf_index_ = log_.LastIndex();
}

void Raft::FlushProposals() {
  if (!proposals_unsent_) return;
  proposals_unsent_ = false;
  if (role_ == Role::kLeader) BroadcastAppend();
}

// ---- clock ----

void Raft::Tick() {
  if (role_ == Role::kLeader) {
    TickHeartbeat();
  } else {
    TickElection();
  }
}

bool Raft::PastElectionTimeout() const {
  return election_elapsed_ >= randomized_election_timeout_;
}

void Raft::TickElection() {
  ++election_elapsed_;
  if (Promotable() && PastElectionTimeout()) {
    election_elapsed_ = 0;
    Campaign();
  }
}

void Raft::TickHeartbeat() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (election_elapsed_ >= election_timeout_) {
    election_elapsed_ = 0;
    if (check_quorum_) {
      if (!tracker_.QuorumActive(id_)) {
        BecomeFollower(term_, 0);  // CheckQuorum: we may be cut off from the majority
        return;
      }
      for (auto& [id, pr] : tracker_.progress()) {
        if (id != id_) pr.recent_active = false;
      }
    }
    // A transfer that did not finish within an election timeout is abandoned.
    AbortLeaderTransfer();
  }
  if (role_ != Role::kLeader) return;
  if (heartbeat_elapsed_ >= heartbeat_timeout_) {
    heartbeat_elapsed_ = 0;
    // Carrying the newest pending read's context retries its confirmation if a round was lost.
    BroadcastHeartbeat(reads_.LastContext());
  }
}

void Raft::Campaign() {
  if (role_ == Role::kLeader || !Promotable()) return;
  // A configuration change committed but not applied may remove us; wait until it is applied.
  if (HasUnappliedConfChange()) return;
  CampaignAs(pre_vote_ ? CampaignKind::kPreElection : CampaignKind::kElection);
}

// ---- messages ----

void Raft::Send(cairnpb::Message m) {
  if (m.from() == 0) m.set_from(id_);
  switch (m.type()) {
    case cairnpb::MSG_VOTE:
    case cairnpb::MSG_PRE_VOTE:
    case cairnpb::MSG_VOTE_RESPONSE:
    case cairnpb::MSG_PRE_VOTE_RESPONSE:
      CAIRN_RAFT_CHECK(m.term() != 0, "vote message without a term");
      break;
    default:
      // Forwarded requests carry no term: they are not tied to the sender's view of the term.
      m.set_term(IsLocalRequest(m.type()) ? 0 : term_);
  }
  msgs_.push_back(std::move(m));
}

bool Raft::AppendEntries(std::vector<cairnpb::Entry> ents) {
  uint64_t index = log_.LastIndex();
  for (auto& e : ents) {
    e.set_term(term_);
    e.set_index(++index);
  }
  const uint64_t last = log_.Append(std::move(ents));
  if (Progress* self = tracker_.Get(id_)) self->MaybeUpdate(last);
  if (unsafe_commit_without_quorum_) {
    log_.CommitTo(last);
  } else if (MaybeCommit()) {
    ReleaseReadsWaitingForCommit();  // a group of one commits as it appends
  }
  return true;
}

absl::Status Raft::Step(const cairnpb::Message& m) {
  const auto type = m.type();
  if (m.term() == 0) {
    // Local or forwarded request: handled by role below.
  } else if (m.term() > term_) {
    if (type == cairnpb::MSG_VOTE || type == cairnpb::MSG_PRE_VOTE) {
      const bool forced = m.context() == kTransferContext;
      const bool in_lease = check_quorum_ && lead_ != 0 && election_elapsed_ < election_timeout_;
      // We heard from a live leader within the minimum election timeout: the candidate is
      // likely a partitioned member coming back, and must not depose that leader (§6 thesis).
      if (!forced && in_lease) return absl::OkStatus();
    }
    if (type == cairnpb::MSG_PRE_VOTE) {
      // A pre-vote never changes our term.
    } else if (type == cairnpb::MSG_PRE_VOTE_RESPONSE && !m.reject()) {
      // The term in a granted pre-vote is the one we will campaign in; adopt it only then.
    } else if (type == cairnpb::MSG_APPEND || type == cairnpb::MSG_HEARTBEAT ||
               type == cairnpb::MSG_SNAPSHOT) {
      BecomeFollower(m.term(), m.from());
    } else {
      BecomeFollower(m.term(), 0);
    }
  } else if (m.term() < term_) {
    if ((check_quorum_ || pre_vote_) &&
        (type == cairnpb::MSG_APPEND || type == cairnpb::MSG_HEARTBEAT)) {
      // A deposed leader still talks to us; tell it the current term so it steps down. Without
      // this, a member that raised its term while partitioned could stay ignored forever.
      cairnpb::Message resp;
      resp.set_type(cairnpb::MSG_APPEND_RESPONSE);
      resp.set_to(m.from());
      Send(std::move(resp));
    } else if (type == cairnpb::MSG_PRE_VOTE) {
      cairnpb::Message resp;
      resp.set_type(cairnpb::MSG_PRE_VOTE_RESPONSE);
      resp.set_to(m.from());
      resp.set_term(term_);
      resp.set_reject(true);
      Send(std::move(resp));
    }
    return absl::OkStatus();
  }

  if (type == cairnpb::MSG_VOTE || type == cairnpb::MSG_PRE_VOTE) {
    HandleVoteRequest(m);
    return absl::OkStatus();
  }
  switch (role_) {
    case Role::kLeader: return StepLeader(m);
    case Role::kCandidate:
    case Role::kPreCandidate: return StepCandidate(m);
    case Role::kFollower: return StepFollower(m);
  }
  return absl::OkStatus();
}

absl::Status Raft::Step(cairnpb::Message&& m) {
  if (m.type() != cairnpb::MSG_PROPOSE || m.term() != 0 || role_ != Role::kLeader) {
    return Step(static_cast<const cairnpb::Message&>(m));
  }
  std::vector<cairnpb::Entry> ents;
  ents.reserve(m.entries_size());
  for (cairnpb::Entry& e : *m.mutable_entries()) ents.push_back(std::move(e));
  return HandlePropose(m.from(), std::move(ents));
}

absl::Status Raft::StepLeader(const cairnpb::Message& m) {
  switch (m.type()) {
    case cairnpb::MSG_PROPOSE:
      return HandlePropose(m.from(), std::vector<cairnpb::Entry>(m.entries().begin(), m.entries().end()));
    case cairnpb::MSG_READ_INDEX: return LeaderReadIndex(m);
    case cairnpb::MSG_TRANSFER_LEADER: HandleTransferLeader(m); return absl::OkStatus();
    default: break;
  }
  Progress* pr = tracker_.Get(m.from());
  if (pr == nullptr) return absl::OkStatus();  // not (or no longer) a member
  switch (m.type()) {
    case cairnpb::MSG_APPEND_RESPONSE: HandleAppendResponse(m, pr); break;
    case cairnpb::MSG_HEARTBEAT_RESPONSE: HandleHeartbeatResponse(m, pr); break;
    default: break;
  }
  return absl::OkStatus();
}

absl::Status Raft::HandlePropose(uint64_t from, std::vector<cairnpb::Entry> ents) {
  if (ents.empty()) return absl::InvalidArgumentError("raft: empty proposal");
  if (tracker_.Get(id_) == nullptr) {
    return ProposalDroppedError("this member was removed from the group");
  }
  if (lead_transferee_ != 0) return ProposalDroppedError("leadership transfer in progress");
  for (size_t i = 0; i < ents.size(); ++i) {
    if (ents[i].type() != cairnpb::ENTRY_CONF_CHANGE) continue;
    if (pending_conf_index_ > log_.applied()) {
      if (from == id_) {
        return absl::FailedPreconditionError(
            "raft: another membership change is still being applied");
      }
      // Forwarded: nobody is waiting for an answer here, so keep the slot as a harmless no-op.
      ents[i] = cairnpb::Entry();
    } else {
      pending_conf_index_ = log_.LastIndex() + i + 1;
    }
  }
  AppendEntries(std::move(ents));
  proposals_unsent_ = true;  // sent by FlushProposals, together with any that follow
  return absl::OkStatus();
}

absl::Status Raft::StepCandidate(const cairnpb::Message& m) {
  switch (m.type()) {
    case cairnpb::MSG_PROPOSE:
      return ProposalDroppedError("no leader (election in progress)");
    case cairnpb::MSG_READ_INDEX:
      return ProposalDroppedError("no leader (election in progress)");
    case cairnpb::MSG_APPEND:
      BecomeFollower(m.term(), m.from());  // a leader of this term exists
      HandleAppend(m);
      break;
    case cairnpb::MSG_HEARTBEAT:
      BecomeFollower(m.term(), m.from());
      HandleHeartbeat(m);
      break;
    case cairnpb::MSG_SNAPSHOT:
      BecomeFollower(m.term(), m.from());
      HandleSnapshot(m);
      break;
    case cairnpb::MSG_PRE_VOTE_RESPONSE:
      if (role_ == Role::kPreCandidate) HandleVoteResponse(m);
      break;
    case cairnpb::MSG_VOTE_RESPONSE:
      if (role_ == Role::kCandidate) HandleVoteResponse(m);
      break;
    default:
      break;
  }
  return absl::OkStatus();
}

absl::Status Raft::StepFollower(const cairnpb::Message& m) {
  switch (m.type()) {
    case cairnpb::MSG_PROPOSE: {
      if (lead_ == 0) return ProposalDroppedError("no leader");
      cairnpb::Message fwd = m;
      fwd.set_from(id_);
      fwd.set_to(lead_);
      Send(std::move(fwd));
      break;
    }
    case cairnpb::MSG_APPEND:
      election_elapsed_ = 0;
      lead_ = m.from();
      HandleAppend(m);
      break;
    case cairnpb::MSG_HEARTBEAT:
      election_elapsed_ = 0;
      lead_ = m.from();
      HandleHeartbeat(m);
      break;
    case cairnpb::MSG_SNAPSHOT:
      election_elapsed_ = 0;
      lead_ = m.from();
      HandleSnapshot(m);
      break;
    case cairnpb::MSG_TRANSFER_LEADER: {
      if (lead_ == 0) return ProposalDroppedError("no leader to transfer leadership from");
      cairnpb::Message fwd = m;  // keeps from = the transferee
      fwd.set_to(lead_);
      Send(std::move(fwd));
      break;
    }
    case cairnpb::MSG_TIMEOUT_NOW:
      // The leader chose us: campaign at once, skipping PreVote and others' leases.
      if (Promotable()) CampaignAs(CampaignKind::kTransfer);
      break;
    case cairnpb::MSG_READ_INDEX: {
      if (lead_ == 0) return ProposalDroppedError("no leader");
      // Only our own reads are forwarded; the answer must come back to the member that asked.
      if (m.from() != id_) break;
      cairnpb::Message fwd = m;
      fwd.set_to(lead_);
      Send(std::move(fwd));
      break;
    }
    case cairnpb::MSG_READ_INDEX_RESPONSE:
      read_states_.push_back(ReadState{m.index(), m.context()});
      break;
    default:
      break;
  }
  return absl::OkStatus();
}

}  // namespace cairn::raft
