// ReadIndex (thesis §6.4): a read is linearizable if it is served once the state machine has
// applied the leader's commit index as of the moment the read arrived, provided the leader proves
// it was still leader at that moment (a quorum answers a heartbeat sent after it) and it had
// already committed an entry of its own term (so its commit index covers every earlier write).
#include "raft/raft.h"

namespace cairn::raft {

void ReadIndexQueue::Add(uint64_t index, const cairnpb::Message& request) {
  for (const auto& p : queue_) {
    if (p.request.context() == request.context()) return;
  }
  queue_.push_back(Pending{index, request, {}});
}

size_t ReadIndexQueue::Ack(const std::string& context, uint64_t from) {
  for (auto& p : queue_) {
    if (p.request.context() == context) {
      p.acks.insert(from);
      return p.acks.size();
    }
  }
  return 0;
}

std::vector<ReadIndexQueue::Pending> ReadIndexQueue::Release(const std::string& context) {
  std::vector<Pending> out;
  size_t n = 0;
  bool found = false;
  for (; n < queue_.size(); ++n) {
    if (queue_[n].request.context() == context) {
      found = true;
      break;
    }
  }
  if (!found) return out;
  for (size_t i = 0; i <= n; ++i) {
    out.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return out;
}

std::string ReadIndexQueue::LastContext() const {
  return queue_.empty() ? std::string() : queue_.back().request.context();
}

absl::Status Raft::LeaderReadIndex(const cairnpb::Message& m) {
  if (m.context().empty()) return absl::InvalidArgumentError("raft: read request without an id");
  const bool alone = tracker_.voters().size() == 1 && tracker_.IsVoter(id_);
  if (unsafe_read_without_quorum_ || (alone && CommittedInCurrentTerm())) {
    ServeRead(m, log_.committed());
    return absl::OkStatus();
  }
  if (!CommittedInCurrentTerm()) {
    // Our commit index may still lag writes acknowledged by an earlier leader.
    reads_waiting_for_commit_.push_back(m);
    return absl::OkStatus();
  }
  reads_.Add(log_.committed(), m);
  reads_.Ack(m.context(), id_);
  BroadcastHeartbeat(m.context());
  return absl::OkStatus();
}

void Raft::ServeRead(const cairnpb::Message& request, uint64_t index) {
  if (request.from() == id_ || request.from() == 0) {
    read_states_.push_back(ReadState{index, request.context()});
    return;
  }
  cairnpb::Message resp;
  resp.set_type(cairnpb::MSG_READ_INDEX_RESPONSE);
  resp.set_to(request.from());
  resp.set_index(index);
  resp.set_context(request.context());
  Send(std::move(resp));
}

void Raft::ReleaseReadsWaitingForCommit() {
  if (reads_waiting_for_commit_.empty() || !CommittedInCurrentTerm()) return;
  std::vector<cairnpb::Message> waiting = std::move(reads_waiting_for_commit_);
  reads_waiting_for_commit_.clear();
  for (const auto& m : waiting) LeaderReadIndex(m).IgnoreError();
}

}  // namespace cairn::raft
