#include "raft/raw_node.h"

#include <utility>

namespace cairn::raft {
namespace {
bool SameHardState(const cairnpb::HardState& a, const cairnpb::HardState& b) {
  return a.term() == b.term() && a.vote() == b.vote() && a.commit() == b.commit();
}
}  // namespace

BootstrapState BootstrapLog(const std::vector<uint64_t>& voters) {
  BootstrapState b;
  for (size_t i = 0; i < voters.size(); ++i) {
    cairnpb::ConfChange cc;
    cc.set_type(cairnpb::CONF_CHANGE_ADD_NODE);
    cc.set_node_id(voters[i]);
    cairnpb::Entry& e = b.entries.emplace_back();
    e.set_term(1);
    e.set_index(i + 1);
    e.set_type(cairnpb::ENTRY_CONF_CHANGE);
    e.set_data(cc.SerializeAsString());
  }
  b.hard_state.set_term(1);
  b.hard_state.set_commit(voters.size());
  return b;
}

RawNode::RawNode(std::unique_ptr<Raft> r) : raft_(std::move(r)) {
  prev_soft_ = CurrentSoftState();
  prev_hard_ = raft_->hard_state();
}

absl::StatusOr<std::unique_ptr<RawNode>> RawNode::Create(const Config& config) {
  auto r = Raft::Create(config);
  if (!r.ok()) return r.status();
  return std::unique_ptr<RawNode>(new RawNode(std::move(*r)));
}

absl::Status RawNode::Propose(std::string data) {
  cairnpb::Message m;
  m.set_type(cairnpb::MSG_PROPOSE);
  m.set_from(raft_->id());
  m.set_to(raft_->id());
  m.add_entries()->set_data(std::move(data));
  return raft_->Step(std::move(m));
}

absl::Status RawNode::ProposeConfChange(const cairnpb::ConfChange& cc) {
  cairnpb::Message m;
  m.set_type(cairnpb::MSG_PROPOSE);
  m.set_from(raft_->id());
  m.set_to(raft_->id());
  cairnpb::Entry* e = m.add_entries();
  e->set_type(cairnpb::ENTRY_CONF_CHANGE);
  e->set_data(cc.SerializeAsString());
  return raft_->Step(m);
}

absl::Status RawNode::Step(const cairnpb::Message& m) {
  if (m.type() == cairnpb::MSG_NONE) return absl::InvalidArgumentError("raft: message without type");
  if (m.from() == 0) return absl::InvalidArgumentError("raft: message without sender");
  // A peer's term-0 message can only be a forwarded request; anything else is malformed.
  if (m.term() == 0 && m.type() != cairnpb::MSG_PROPOSE && m.type() != cairnpb::MSG_READ_INDEX &&
      m.type() != cairnpb::MSG_TRANSFER_LEADER) {
    return absl::InvalidArgumentError("raft: peer message without a term");
  }
  absl::Status s = raft_->Step(m);
  // A dropped forwarded request is the forwarder's problem, not a transport error.
  if (IsProposalDropped(s)) return absl::OkStatus();
  return s;
}

absl::Status RawNode::ReadIndex(std::string context) {
  if (context.empty()) return absl::InvalidArgumentError("raft: read request without an id");
  cairnpb::Message m;
  m.set_type(cairnpb::MSG_READ_INDEX);
  m.set_from(raft_->id());
  m.set_to(raft_->id());
  m.set_context(std::move(context));
  return raft_->Step(m);
}

void RawNode::TransferLeadership(uint64_t transferee) {
  cairnpb::Message m;
  m.set_type(cairnpb::MSG_TRANSFER_LEADER);
  m.set_from(transferee);
  m.set_to(raft_->id());
  raft_->Step(m).IgnoreError();  // best effort by contract
}

bool RawNode::HasReady() const {
  const Raft& r = *raft_;
  if (!(CurrentSoftState() == prev_soft_)) return true;
  if (!SameHardState(r.hard_state(), prev_hard_)) return true;
  if (r.log().unstable().snapshot.has_value()) return true;
  if (!r.log().UnstableEntries().empty()) return true;
  if (!r.messages().empty() || !r.read_states().empty() || r.HasUnsentProposals()) return true;
  return r.log().HasNextCommittedEntries();
}

Ready RawNode::GetReady() {
  raft_->FlushProposals();
  Ready rd;
  const SoftState soft = CurrentSoftState();
  if (!(soft == prev_soft_)) {
    rd.soft_state = soft;
    prev_soft_ = soft;
  }
  const cairnpb::HardState hard = raft_->hard_state();
  if (!SameHardState(hard, prev_hard_)) rd.hard_state = hard;
  rd.entries = raft_->log().UnstableEntries();
  if (!rd.entries.empty()) {
    rd.last_entry_index = rd.entries.back().index();
    rd.last_entry_term = rd.entries.back().term();
  }
  if (raft_->log().unstable().snapshot) rd.snapshot = *raft_->log().unstable().snapshot;
  rd.committed_entries = raft_->log().NextCommittedEntries();
  rd.messages = raft_->TakeMessages();
  rd.read_states = raft_->TakeReadStates();
  rd.must_sync = !rd.entries.empty() || hard.term() != prev_hard_.term() ||
                 hard.vote() != prev_hard_.vote() || rd.snapshot.has_value();
  return rd;
}

void RawNode::Advance(const Ready& rd) {
  RaftLog& log = raft_->log();
  if (rd.hard_state) prev_hard_ = *rd.hard_state;
  if (rd.snapshot) {
    const uint64_t index = rd.snapshot->metadata().index();
    log.StableSnapshotTo(index);
    if (index > log.applied()) log.AppliedTo(index);
  }
  if (!rd.committed_entries.empty()) log.AppliedTo(rd.committed_entries.back().index());
  if (rd.last_entry_index != 0) log.StableTo(rd.last_entry_index, rd.last_entry_term);
}

NodeStatus RawNode::Status() const {
  NodeStatus st;
  st.id = raft_->id();
  st.hard_state = raft_->hard_state();
  st.soft_state = CurrentSoftState();
  st.applied = raft_->log().applied();
  st.lead_transferee = raft_->lead_transferee();
  if (raft_->role() == Role::kLeader) {
    for (const auto& [id, pr] : raft_->tracker().progress()) {
      st.progress[id] = ProgressStatus{pr.match, pr.next, pr.state, pr.is_learner};
    }
  }
  return st;
}

}  // namespace cairn::raft
