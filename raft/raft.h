// Raft: the consensus state machine itself (Raft paper + thesis), without any I/O.
//
// Most callers want RawNode (raw_node.h), which wraps this class with the Ready/Advance protocol.
// This class is exposed for the rule-by-rule unit tests. Single-threaded: one thread drives it.
//
// Inputs: Step(message), Tick(), and the local requests (which are Steps of local messages).
// Outputs accumulate in messages() and read_states() until the owner takes them; the log's
// unstable part and commit index are read by RawNode.
#ifndef CAIRN_RAFT_RAFT_H_
#define CAIRN_RAFT_RAFT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/log.h"
#include "raft/progress.h"
#include "raft/random.h"
#include "raft/read_index.h"
#include "raft/storage.h"

namespace cairn::raft {

enum class Role { kFollower, kPreCandidate, kCandidate, kLeader };
const char* RoleName(Role r);

// A request that raft refused. Code kUnavailable; retrying later (or on the leader) may succeed.
// Reasons: there is no known leader, leadership is being transferred, this member was removed.
absl::Status ProposalDroppedError(const std::string& reason);
bool IsProposalDropped(const absl::Status& s);

// Message context that marks a vote requested by leadership transfer (it may bypass leases).
inline constexpr char kTransferContext[] = "cairn-raft-transfer";

struct Config {
  uint64_t id = 0;                 // this member's id, non-zero
  int election_tick = 10;          // ticks without a leader before campaigning (randomized to
                                   // [election_tick, 2 * election_tick))
  int heartbeat_tick = 1;          // ticks between leader heartbeats; < election_tick
  const Storage* storage = nullptr;  // not owned; must outlive the node
  // Last index the application has applied (0 on first start). Entries up to it are not handed
  // out again after a restart.
  uint64_t applied = 0;
  uint64_t max_size_per_msg = 1 << 20;  // bytes of entries per append message (at least one)
  uint64_t max_committed_size_per_ready = kNoLimit;
  size_t max_inflight_msgs = 256;  // unacknowledged appends per follower in replicate state
  bool check_quorum = true;        // leader steps down without a recently active quorum
  bool pre_vote = true;            // campaign only if a pre-vote round would win
  RandomSource* random = nullptr;  // not owned; nullptr: an internal generator seeded with id

  // Deliberately broken behaviour, only for proving that the simulator's checks catch bugs.
  bool unsafe_commit_without_quorum = false;  // leader commits its entries as it appends them
  bool unsafe_read_without_quorum = false;    // leader answers reads without a heartbeat round

  absl::Status Validate() const;
};

class Raft {
 public:
  // Restores term, vote, commit and membership from storage. InvalidArgument on a bad config.
  static absl::StatusOr<std::unique_ptr<Raft>> Create(const Config& config);

  // Advances the logical clock by one tick.
  void Tick();
  // Feeds one message: from the network, or a local request (MSG_PROPOSE, MSG_READ_INDEX,
  // MSG_TRANSFER_LEADER with from = this id). Returns ProposalDroppedError when a local proposal
  // or read cannot be accepted; everything else is absorbed (stale messages are ignored).
  absl::Status Step(const cairnpb::Message& m);
  // The same for a message the caller gives up: a leader's proposal then takes its entries
  // instead of copying them (a put's payload would otherwise be copied once more).
  absl::Status Step(cairnpb::Message&& m);
  // Starts an election now (if this member may campaign).
  void Campaign();

  // Applies a committed membership change; returns the resulting configuration.
  cairnpb::ConfState ApplyConfChange(const cairnpb::ConfChange& cc);
  // The transport could not deliver to `id`: fall back to probing it.
  void ReportUnreachable(uint64_t id);
  // The snapshot sent to `id` was installed (ok) or lost; resume normal replication.
  void ReportSnapshot(uint64_t id, bool ok);

  // Proposals accepted since the last flush are sent to followers together, in one append per
  // follower (batching). RawNode flushes when it builds a Ready; direct users call this.
  void FlushProposals();
  bool HasUnsentProposals() const { return proposals_unsent_; }

  // Outputs, taken by the owner.
  std::vector<cairnpb::Message> TakeMessages() { return std::move(msgs_); }
  std::vector<ReadState> TakeReadStates() { return std::move(read_states_); }
  const std::vector<cairnpb::Message>& messages() const { return msgs_; }
  const std::vector<ReadState>& read_states() const { return read_states_; }

  // Observers.
  uint64_t id() const { return id_; }
  uint64_t term() const { return term_; }
  uint64_t vote() const { return vote_; }
  uint64_t lead() const { return lead_; }
  Role role() const { return role_; }
  uint64_t lead_transferee() const { return lead_transferee_; }
  cairnpb::HardState hard_state() const;
  RaftLog& log() { return log_; }
  const RaftLog& log() const { return log_; }
  ProgressTracker& tracker() { return tracker_; }
  const ProgressTracker& tracker() const { return tracker_; }
  int randomized_election_timeout() const { return randomized_election_timeout_; }
  bool Promotable() const;
  // Whether this leader has committed an entry of its own term (required before serving reads).
  bool CommittedInCurrentTerm() const;

  // Test hooks.
  void BecomeFollower(uint64_t term, uint64_t lead);
  void BecomeCandidate();
  void BecomePreCandidate();
  void BecomeLeader();
  void set_randomized_election_timeout(int t) { randomized_election_timeout_ = t; }

 private:
  explicit Raft(const Config& c);

  // raft.cc: state changes, ticks, message dispatch.
  void Reset(uint64_t term);
  void ResetRandomizedElectionTimeout();
  void TickElection();
  void TickHeartbeat();
  bool PastElectionTimeout() const;
  void Send(cairnpb::Message m);
  bool AppendEntries(std::vector<cairnpb::Entry> ents);
  absl::Status StepLeader(const cairnpb::Message& m);
  absl::Status StepCandidate(const cairnpb::Message& m);
  absl::Status StepFollower(const cairnpb::Message& m);
  absl::Status HandlePropose(uint64_t from, std::vector<cairnpb::Entry> ents);
  bool HasUnappliedConfChange() const;

  // handle_vote.cc: elections.
  enum class CampaignKind { kPreElection, kElection, kTransfer };
  void CampaignAs(CampaignKind kind);
  void HandleVoteRequest(const cairnpb::Message& m);
  void HandleVoteResponse(const cairnpb::Message& m);

  // replication.cc: the leader's side of the log.
  bool MaybeSendAppend(uint64_t to, bool send_if_empty);
  void SendAppend(uint64_t to) { MaybeSendAppend(to, true); }
  bool SendSnapshot(uint64_t to, Progress* pr);
  void SendHeartbeat(uint64_t to, const std::string& context);
  void BroadcastAppend();
  void BroadcastHeartbeat(const std::string& context);
  bool MaybeCommit();
  void HandleAppendResponse(const cairnpb::Message& m, Progress* pr);
  void HandleHeartbeatResponse(const cairnpb::Message& m, Progress* pr);

  // handle_append.cc: the follower's side.
  void HandleAppend(const cairnpb::Message& m);
  void HandleHeartbeat(const cairnpb::Message& m);
  void HandleSnapshot(const cairnpb::Message& m);
  bool Restore(const cairnpb::Snapshot& s);

  // read_index.cc
  absl::Status LeaderReadIndex(const cairnpb::Message& m);
  void ServeRead(const cairnpb::Message& request, uint64_t index);
  void ReleaseReadsWaitingForCommit();

  // transfer.cc
  void HandleTransferLeader(const cairnpb::Message& m);
  void SendTimeoutNow(uint64_t to);
  void AbortLeaderTransfer() { lead_transferee_ = 0; }

  const uint64_t id_;
  uint64_t term_ = 0;
  uint64_t vote_ = 0;
  uint64_t lead_ = 0;
  Role role_ = Role::kFollower;
  RaftLog log_;
  ProgressTracker tracker_;

  const int election_timeout_;
  const int heartbeat_timeout_;
  int randomized_election_timeout_ = 0;
  // Ticks since the last election timeout reset (followers: since last hearing from a leader).
  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;

  const bool check_quorum_;
  const bool pre_vote_;
  const uint64_t max_msg_size_;
  const bool unsafe_commit_without_quorum_;
  const bool unsafe_read_without_quorum_;
  std::unique_ptr<SeededRandom> own_random_;
  RandomSource* random_;

  uint64_t lead_transferee_ = 0;
  bool proposals_unsent_ = false;
  // Index of the latest conf change the leader has appended; another is refused until it applies.
  uint64_t pending_conf_index_ = 0;
  ReadIndexQueue reads_;
  // Reads that arrived before this leader committed an entry of its term.
  std::vector<cairnpb::Message> reads_waiting_for_commit_;

  std::vector<cairnpb::Message> msgs_;
  std::vector<ReadState> read_states_;
};

}  // namespace cairn::raft

#endif  // CAIRN_RAFT_RAFT_H_
