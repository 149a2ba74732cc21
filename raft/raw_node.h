// RawNode: the public face of the raft state machine. Pure and deterministic: no threads, no
// I/O, no clock. Time is Tick(); randomness comes from Config::random.
//
// Driving loop (one thread; RawNode is not thread-safe):
//   1. Feed inputs: Tick() at a fixed interval, Step() for every message from a peer,
//      Propose()/ProposeConfChange()/ReadIndex()/TransferLeadership() for local requests.
//   2. If HasReady(), take GetReady() and perform it IN THIS ORDER:
//        a. persist: rd.snapshot (if any) into storage, then rd.entries (appended, replacing any
//           stored entries from rd.entries[0].index on), then rd.hard_state (if any). When
//           rd.must_sync, these writes must be durable (fsync'ed) before going on.
//        b. send rd.messages. Sending before (a) is durable would break safety: a vote or an
//           acknowledgement could be lost in a crash after the peer relied on it.
//        c. apply: install rd.snapshot into the state machine, then rd.committed_entries in
//           order (for ENTRY_CONF_CHANGE, call ApplyConfChange()). Serve rd.read_states once
//           the applied index reaches each state's index.
//   3. Advance(rd). Call it before the next GetReady(); inputs may be fed in between.
//
// Bootstrapping a new group: every founding member writes BootstrapLog(voters) into its storage
// before its first Create(): the founding membership becomes the first log entries, so a member
// added later (which starts with an empty storage) learns it by replaying the log. Like any
// committed entries, they come out in the first Ready and must be applied (ApplyConfChange);
// until then the member does not campaign. (Tests with a fixed membership may instead report it
// as InitialState::conf_state of an empty index-0 snapshot; members added to such a group would
// not learn the founding membership.) Restarting: create with the same storage and
// Config::applied = the state machine's applied index.
//
// Batching: proposals accepted between two GetReady() calls leave in one append per follower
// (up to Config::max_size_per_msg), so a caller that drains its request queue before each Ready
// gets batching for free.
//
// Errors: Propose/ReadIndex fail fast with ProposalDroppedError (absl::StatusCode::kUnavailable,
// see raft.h) when there is no leader or a transfer is in progress; such a request was NOT
// accepted. An accepted proposal may still be lost (leader change, message loss): the caller
// matches committed entries to proposals and times out the rest. Invariant violations (bugs,
// storage that lost acknowledged data) abort the process.
#ifndef CAIRN_RAFT_RAW_NODE_H_
#define CAIRN_RAFT_RAW_NODE_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "raft/raft.h"

namespace cairn::raft {

// Volatile state the caller may want to observe; reported in a Ready when it changes.
struct SoftState {
  uint64_t lead = 0;
  Role role = Role::kFollower;
  bool operator==(const SoftState& o) const { return lead == o.lead && role == o.role; }
};

// One batch of work. See the driving loop above for what to do with each part.
struct Ready {
  std::optional<SoftState> soft_state;
  std::optional<cairnpb::HardState> hard_state;
  std::vector<ReadState> read_states;
  std::vector<cairnpb::Entry> entries;       // to persist; may be moved from once persisted
  uint64_t last_entry_index = 0;             // of `entries` (0: none), what Advance marks stable
  uint64_t last_entry_term = 0;
  std::optional<cairnpb::Snapshot> snapshot;  // to persist and install
  std::vector<cairnpb::Entry> committed_entries;  // to apply, in order
  std::vector<cairnpb::Message> messages;   // to send after persisting
  bool must_sync = false;                   // entries or term/vote changed: fsync before sending
};

struct ProgressStatus {
  uint64_t match = 0;
  uint64_t next = 0;
  ProgressState state = ProgressState::kProbe;
  bool is_learner = false;
};

struct NodeStatus {
  uint64_t id = 0;
  cairnpb::HardState hard_state;
  SoftState soft_state;
  uint64_t applied = 0;
  uint64_t lead_transferee = 0;
  std::map<uint64_t, ProgressStatus> progress;  // filled only on the leader
};

// The founding log of a new group: one ENTRY_CONF_CHANGE (ADD_NODE) per voter at term 1, already
// committed. Persist `entries` and `hard_state` before creating the founding members.
struct BootstrapState {
  std::vector<cairnpb::Entry> entries;
  cairnpb::HardState hard_state;
};
BootstrapState BootstrapLog(const std::vector<uint64_t>& voters);

class RawNode {
 public:
  static absl::StatusOr<std::unique_ptr<RawNode>> Create(const Config& config);

  void Tick() { raft_->Tick(); }
  // Starts an election now, if this member is a voter.
  void Campaign() { raft_->Campaign(); }
  absl::Status Propose(std::string data);
  // Proposes one membership change; it takes effect when its committed entry is applied. On the
  // leader: FailedPrecondition while the previous change (or the leader's first no-op) is not yet
  // applied. A follower forwards it; a leader that cannot accept a forwarded change turns it into
  // an empty entry, so callers must match applied changes, not rely on an error.
  absl::Status ProposeConfChange(const cairnpb::ConfChange& cc);
  // A message from a peer. InvalidArgument for a message raft must never receive from the network.
  absl::Status Step(const cairnpb::Message& m);
  // Asks for a linearizable read point; `context` identifies the read (unique, non-empty) and
  // comes back in a ReadState. If leadership changes first, no answer comes: retry on timeout.
  absl::Status ReadIndex(std::string context);
  // Asks the leader to hand leadership to `transferee`. Best effort; observe the soft state.
  void TransferLeadership(uint64_t transferee);
  cairnpb::ConfState ApplyConfChange(const cairnpb::ConfChange& cc) {
    return raft_->ApplyConfChange(cc);
  }
  void ReportUnreachable(uint64_t id) { raft_->ReportUnreachable(id); }
  void ReportSnapshot(uint64_t id, bool ok) { raft_->ReportSnapshot(id, ok); }

  bool HasReady() const;
  Ready GetReady();
  void Advance(const Ready& rd);

  NodeStatus Status() const;
  // The underlying state machine, for tests and the simulator's checks.
  const Raft& raft() const { return *raft_; }
  Raft& mutable_raft() { return *raft_; }

 private:
  explicit RawNode(std::unique_ptr<Raft> r);
  SoftState CurrentSoftState() const { return SoftState{raft_->lead(), raft_->role()}; }

  std::unique_ptr<Raft> raft_;
  SoftState prev_soft_;
  cairnpb::HardState prev_hard_;
};

}  // namespace cairn::raft

#endif  // CAIRN_RAFT_RAW_NODE_H_
