#include "tests/raft/simulator.h"

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "raft/memory_storage.h"
#include "raft/raw_node.h"

#ifndef CAIRN_RAFT_SIM_BINARY
#define CAIRN_RAFT_SIM_BINARY "build/bin/raft_sim"
#endif

namespace cairn::raft::sim {
namespace {

// Each epoch is a fault period followed by a calm one in which progress is required.
constexpr int kEpochSteps = 1000;
constexpr int kCalmSteps = 400;
constexpr int kElectionTick = 10;

uint64_t HashBytes(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

uint64_t Mix(uint64_t a, uint64_t b) {
  uint64_t z = a ^ (b + 0x9E3779B97F4A7C15ULL + (a << 6) + (a >> 2));
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  return z ^ (z >> 31);
}

// The replay line for the run in progress, printed if a raft invariant aborts the process.
char g_replay_line[512];

void PrintReplayOnAbort(int) {
  const char prefix[] = "\nraft simulator aborted; replay with: ";
  (void)!write(2, prefix, sizeof(prefix) - 1);
  (void)!write(2, g_replay_line, std::strlen(g_replay_line));
  (void)!write(2, "\n", 1);
  std::signal(SIGABRT, SIG_DFL);
  std::abort();
}

struct AppliedRecord {
  uint64_t term;
  uint64_t data_hash;
  uint64_t state_hash;  // state machine hash after applying this index
};

// The application run by every member: a hash chain over applied entries. Its "value" is the
// applied index, which is what reads observe.
struct StateMachine {
  uint64_t applied = 0;
  uint64_t hash = 0;

  std::string Encode() const { return std::to_string(applied) + ":" + std::to_string(hash); }
  static StateMachine Decode(const std::string& s) {
    StateMachine sm;
    const size_t colon = s.find(':');
    if (colon != std::string::npos) {
      sm.applied = std::stoull(s.substr(0, colon));
      sm.hash = std::stoull(s.substr(colon + 1));
    }
    return sm;
  }
};

struct PendingRead {
  std::string context;
  uint64_t index;
};

class Simulator {
 public:
  explicit Simulator(const Options& o) : opts_(o), rng_(o.seed * 0x2545F4914F6CDD1DULL + 1) {
    std::vector<uint64_t> founders;
    for (int i = 0; i < o.members; ++i) founders.push_back(i + 1);
    const BootstrapState boot = BootstrapLog(founders);
    for (int i = 0; i < o.members; ++i) {
      Member m;
      m.id = i + 1;
      m.storage = std::make_unique<MemoryStorage>();
      (void)m.storage->Append(boot.entries);
      m.storage->SetHardState(boot.hard_state);
      members_.push_back(std::move(m));
    }
    for (auto& m : members_) Start(m);
    next_id_ = o.members + 1;
  }

  Result Run() {
    for (step_ = 0; step_ < opts_.steps && result_.ok; ++step_) {
      const int in_epoch = step_ % kEpochSteps;
      const bool calm = in_epoch >= kEpochSteps - kCalmSteps;
      if (in_epoch == kEpochSteps - kCalmSteps) BeginCalm();
      Step(calm);
      if (result_.ok) CheckStep();
      if (result_.ok && calm) CheckLiveness(in_epoch == kEpochSteps - 1 || step_ == opts_.steps - 1);
    }
    result_.steps_run = step_;
    result_.entries_committed = applied_.size();
    return result_;
  }

 private:
  struct Member {
    uint64_t id = 0;
    std::unique_ptr<MemoryStorage> storage;  // what survives a crash
    std::unique_ptr<SeededRandom> random;
    std::unique_ptr<RawNode> node;            // null while down
    StateMachine sm;
    std::vector<PendingRead> reads;
    cairnpb::ConfState conf;  // membership as applied by this member
    Role last_role = Role::kFollower;
    uint64_t last_term = 0;
  };

  uint64_t Rand(uint64_t n) { return rng_.Uniform(n); }
  bool Chance(int percent) { return Rand(100) < static_cast<uint64_t>(percent); }

  void Fail(const std::string& what) {
    if (!result_.ok) return;
    result_.ok = false;
    result_.failure = "step " + std::to_string(step_) + ": " + what;
    if (opts_.verbose) DumpMembers();
  }

  void DumpMembers() {
    for (auto& m : members_) {
      if (!m.node) {
        std::fprintf(stderr, "  member %llu: down\n", (unsigned long long)m.id);
        continue;
      }
      const Raft& r = m.node->raft();
      std::string voters, learners;
      for (uint64_t v : r.tracker().voters()) voters += std::to_string(v) + ",";
      for (uint64_t v : r.tracker().learners()) learners += std::to_string(v) + ",";
      std::fprintf(stderr,
                   "  member %llu: %s term %llu lead %llu vote %llu commit %llu applied %llu "
                   "last %llu voters {%s} learners {%s}\n",
                   (unsigned long long)m.id, RoleName(r.role()), (unsigned long long)r.term(),
                   (unsigned long long)r.lead(), (unsigned long long)r.vote(),
                   (unsigned long long)r.log().committed(), (unsigned long long)r.log().applied(),
                   (unsigned long long)r.log().LastIndex(), voters.c_str(), learners.c_str());
    }
  }

  void Log(const std::string& what) {
    if (opts_.verbose) std::fprintf(stderr, "[step %d] %s\n", step_, what.c_str());
  }

  void Start(Member& m) {
    // The application restores itself from the latest snapshot, then replays committed entries.
    auto snap = m.storage->GetSnapshot();
    m.sm = StateMachine::Decode(snap->data());
    m.sm.applied = snap->metadata().index();
    m.conf = snap->metadata().conf_state();
    m.reads.clear();
    m.random = std::make_unique<SeededRandom>(rng_.Next());
    Config c;
    c.id = m.id;
    c.election_tick = kElectionTick;
    c.heartbeat_tick = 1;
    c.storage = m.storage.get();
    c.applied = m.sm.applied;
    c.max_size_per_msg = 4096;
    c.max_inflight_msgs = 8;
    c.random = m.random.get();
    c.unsafe_commit_without_quorum = opts_.unsafe_commit_without_quorum;
    c.unsafe_read_without_quorum = opts_.unsafe_read_without_quorum;
    auto node = RawNode::Create(c);
    if (!node.ok()) {
      Fail("restart of member " + std::to_string(m.id) + " failed: " + node.status().ToString());
      return;
    }
    m.node = std::move(*node);
    m.last_role = Role::kFollower;
    m.last_term = m.node->raft().term();
  }

  Member& Pick() { return members_[Rand(members_.size())]; }
  Member* PickUp() {
    std::vector<Member*> up;
    for (auto& m : members_) {
      if (m.node) up.push_back(&m);
    }
    if (up.empty()) return nullptr;
    return up[Rand(up.size())];
  }
  Member& At(uint64_t id) { return members_[id - 1]; }

  // ---- one step ----

  void Step(bool calm) {
    const uint64_t r = Rand(100);
    if (!calm) {
      if (r < 3) {
        Crash(Pick());
      } else if (r < 7) {
        Member& m = Pick();
        if (!m.node) {
          Log("restart " + std::to_string(m.id));
          Start(m);
        }
      } else if (r < 9) {
        PartitionSymmetric();
      } else if (r < 10) {
        const uint64_t a = Rand(members_.size()) + 1, b = Rand(members_.size()) + 1;
        if (a != b) blocked_.insert({a, b});
        Log("one-way partition " + std::to_string(a) + "->" + std::to_string(b));
      } else if (r < 12) {
        blocked_.clear();
        Log("heal");
      } else if (r < 15 && !network_.empty()) {
        DropMessage(Rand(network_.size()));
      } else if (r < 18 && !network_.empty()) {
        network_.push_back(network_[Rand(network_.size())]);  // duplicate
      } else if (r < 20 && Chance(50)) {
        ChangeMembership();
      } else if (r < 20) {
        if (Member* m = PickUp(); m && m->node->raft().role() == Role::kLeader) {
          const uint64_t to = Rand(members_.size()) + 1;
          Log("transfer leadership " + std::to_string(m->id) + "->" + std::to_string(to));
          m->node->TransferLeadership(to);
        }
      }
    }
    if (r >= 20 && r < 22) {
      if (Member* m = PickUp()) Compact(*m);
    } else if (r >= 30 && r < 50) {
      if (Member* m = PickUp()) Propose(*m, "p" + std::to_string(++proposal_seq_));
    } else if (r >= 50 && r < 60) {
      if (Member* m = PickUp()) Read(*m);
    }

    for (auto& m : members_) {
      if (m.node && Chance(50)) m.node->Tick();
    }
    Deliver(calm);
    for (auto& m : members_) {
      // Sometimes a member is slow to persist: its unpersisted state is what a crash loses.
      if (m.node && (calm || Chance(90))) {
        while (result_.ok && m.node->HasReady()) HandleReady(m);
      }
    }
  }

  void PartitionSymmetric() {
    blocked_.clear();
    std::vector<bool> side(members_.size());
    for (size_t i = 0; i < side.size(); ++i) side[i] = Chance(50);
    std::string desc;
    for (size_t i = 0; i < side.size(); ++i) {
      desc += side[i] ? 'A' : 'B';
      for (size_t j = 0; j < side.size(); ++j) {
        if (side[i] != side[j]) blocked_.insert({i + 1, j + 1});
      }
    }
    Log("partition " + desc);
  }

  void Crash(Member& m) {
    if (!m.node) return;
    ++result_.crashes;
    Log("crash " + std::to_string(m.id));
    if (m.node->HasReady() && Chance(33)) {
      // Crash after persisting a Ready but before sending or applying any of it.
      Ready rd = m.node->GetReady();
      if (rd.snapshot) (void)m.storage->ApplySnapshot(*rd.snapshot);
      (void)m.storage->Append(rd.entries);
      if (rd.hard_state) m.storage->SetHardState(*rd.hard_state);
    }
    m.node.reset();
    m.reads.clear();
  }

  void Compact(Member& m) {
    auto snap = m.storage->GetSnapshot();
    const uint64_t snap_index = snap->metadata().index();
    if (m.sm.applied < snap_index + 5) return;
    if (!m.storage->CreateSnapshot(m.sm.applied, m.conf, m.sm.Encode()).ok()) return;
    const uint64_t keep = Rand(4);
    const uint64_t compact_to = m.sm.applied > keep ? m.sm.applied - keep : m.sm.applied;
    if (compact_to > snap_index) (void)m.storage->Compact(compact_to);
    Log("compact " + std::to_string(m.id) + " at " + std::to_string(m.sm.applied));
  }

  // One membership change through the current leader: add a learner under a fresh id (ids are
  // never reused), promote a learner, or remove a voter (possibly the leader itself).
  void ChangeMembership() {
    Member* leader = nullptr;
    for (auto& m : members_) {
      if (m.node && m.node->raft().role() == Role::kLeader &&
          (!leader || m.node->raft().term() > leader->node->raft().term())) {
        leader = &m;
      }
    }
    if (!leader) return;
    const ProgressTracker& tr = leader->node->raft().tracker();
    const size_t max_voters = static_cast<size_t>(opts_.members) + 1;
    cairnpb::ConfChange cc;
    if (!tr.learners().empty()) {
      cc.set_type(cairnpb::CONF_CHANGE_ADD_NODE);
      cc.set_node_id(*tr.learners().begin());
    } else if (tr.voters().size() < max_voters && (tr.voters().size() <= 3 || Chance(50))) {
      if (members_.size() >= 64) return;
      Member m;
      m.id = next_id_;
      m.storage = std::make_unique<MemoryStorage>();  // knows nothing; learns from the leader
      members_.push_back(std::move(m));
      Start(members_.back());
      leader = nullptr;  // members_ may have moved
      cc.set_type(cairnpb::CONF_CHANGE_ADD_LEARNER_NODE);
      cc.set_node_id(next_id_++);
    } else if (tr.voters().size() > 3) {
      std::vector<uint64_t> voters(tr.voters().begin(), tr.voters().end());
      cc.set_type(cairnpb::CONF_CHANGE_REMOVE_NODE);
      cc.set_node_id(voters[Rand(voters.size())]);
    } else {
      return;
    }
    for (auto& m : members_) {
      if (m.node && m.node->raft().role() == Role::kLeader &&
          m.node->ProposeConfChange(cc).ok()) {
        Log("propose conf change type " + std::to_string(cc.type()) + " node " +
            std::to_string(cc.node_id()) + " via " + std::to_string(m.id));
        ++result_.conf_changes_proposed;
        break;
      }
    }
  }

  void Propose(Member& m, const std::string& data) {
    (void)m.node->Propose(data);  // dropped proposals simply never commit
  }

  void Read(Member& m) {
    const std::string ctx = "r" + std::to_string(++read_seq_);
    // Every write applied anywhere before the read starts must be visible to it.
    if (m.node->ReadIndex(ctx).ok()) read_floor_[ctx] = applied_.size();
  }

  void DropMessage(size_t i) {
    const cairnpb::Message m = network_[i];
    network_.erase(network_.begin() + i);
    Undeliverable(m);
  }

  void Undeliverable(const cairnpb::Message& m) {
    Member& from = At(m.from());
    if (!from.node || m.from() == 0) return;
    if (m.type() == cairnpb::MSG_SNAPSHOT) {
      from.node->ReportSnapshot(m.to(), false);
    } else {
      from.node->ReportUnreachable(m.to());
    }
  }

  void Deliver(bool calm) {
    std::vector<cairnpb::Message> kept;
    std::vector<cairnpb::Message> now;
    for (auto& m : network_) {
      if (Chance(50)) {
        now.push_back(std::move(m));
      } else {
        kept.push_back(std::move(m));  // delayed: later messages overtake it
      }
    }
    network_ = std::move(kept);
    for (const auto& m : now) {
      Member& to = At(m.to());
      if (!to.node || blocked_.count({m.from(), m.to()}) || (!calm && Chance(3))) {
        Undeliverable(m);
        continue;
      }
      if (!calm && Chance(2)) network_.push_back(m);  // duplicate, delivered again later
      ++result_.messages_delivered;
      (void)to.node->Step(m);
      if (m.type() == cairnpb::MSG_SNAPSHOT) {
        Member& from = At(m.from());
        if (from.node) from.node->ReportSnapshot(m.to(), true);
      }
    }
  }

  // ---- persisting and applying, with the checks that belong there ----

  void HandleReady(Member& m) {
    Ready rd = m.node->GetReady();
    if (rd.snapshot) {
      if (!m.storage->ApplySnapshot(*rd.snapshot).ok()) Fail("snapshot older than the stored one");
    }
    if (absl::Status s = m.storage->Append(rd.entries); !s.ok()) {
      Fail("storage rejected entries: " + s.ToString());
      return;
    }
    if (rd.hard_state) m.storage->SetHardState(*rd.hard_state);
    CheckLogMatching(m, rd.entries);

    for (auto& msg : rd.messages) network_.push_back(std::move(msg));

    if (rd.snapshot) InstallSnapshot(m, *rd.snapshot);
    for (const auto& e : rd.committed_entries) Apply(m, e);
    for (const auto& rs : rd.read_states) m.reads.push_back(PendingRead{rs.context, rs.index});
    ServeReads(m);
    m.node->Advance(rd);

    const Raft& r = m.node->raft();
    if (r.role() == Role::kLeader && (m.last_role != Role::kLeader || m.last_term != r.term())) {
      ++result_.leaders_elected;
      Log("leader " + std::to_string(m.id) + " term " + std::to_string(r.term()));
      CheckLeaderCompleteness(m);
    }
    m.last_role = r.role();
    m.last_term = r.term();
  }

  void CheckLogMatching(Member& m, const std::vector<cairnpb::Entry>& ents) {
    for (const auto& e : ents) {
      auto prev = m.storage->Term(e.index() - 1);
      const uint64_t prev_term = prev.ok() ? *prev : UINT64_MAX;
      const uint64_t data_hash = Mix(HashBytes(e.data()), e.type());
      auto [it, inserted] = log_entries_.try_emplace({e.index(), e.term()}, data_hash, prev_term);
      if (inserted) continue;
      if (it->second.first != data_hash) {
        Fail("log matching: member " + std::to_string(m.id) + " holds different data at index " +
             std::to_string(e.index()) + " term " + std::to_string(e.term()));
        return;
      }
      if (prev_term != UINT64_MAX && it->second.second != UINT64_MAX &&
          prev_term != it->second.second) {
        Fail("log matching: member " + std::to_string(m.id) + " has a different history before " +
             "index " + std::to_string(e.index()) + " term " + std::to_string(e.term()));
        return;
      }
      if (it->second.second == UINT64_MAX) it->second.second = prev_term;
    }
  }

  void InstallSnapshot(Member& m, const cairnpb::Snapshot& snap) {
    StateMachine sm = StateMachine::Decode(snap.data());
    const uint64_t index = snap.metadata().index();
    if (sm.applied != index) {
      Fail("snapshot metadata index " + std::to_string(index) + " disagrees with its data");
      return;
    }
    if (index == 0 || index > applied_.size() || applied_[index - 1].state_hash != sm.hash) {
      Fail("state machine safety: snapshot at " + std::to_string(index) +
           " does not match the applied history");
      return;
    }
    m.sm = sm;
    m.conf = snap.metadata().conf_state();
    ++result_.snapshots_installed;
  }

  void Apply(Member& m, const cairnpb::Entry& e) {
    if (e.index() != m.sm.applied + 1) {
      Fail("member " + std::to_string(m.id) + " applied index " + std::to_string(e.index()) +
           " after " + std::to_string(m.sm.applied));
      return;
    }
    const uint64_t data_hash = Mix(HashBytes(e.data()), e.type());
    m.sm.hash = Mix(Mix(m.sm.hash, e.term()), data_hash);
    m.sm.applied = e.index();
    if (e.type() == cairnpb::ENTRY_CONF_CHANGE) {
      cairnpb::ConfChange cc;
      if (!cc.ParseFromString(e.data())) {
        Fail("unparseable conf change at index " + std::to_string(e.index()));
        return;
      }
      m.conf = m.node->ApplyConfChange(cc);
    }
    if (e.index() <= applied_.size()) {
      const AppliedRecord& rec = applied_[e.index() - 1];
      if (rec.term != e.term() || rec.data_hash != data_hash || rec.state_hash != m.sm.hash) {
        Fail("state machine safety: member " + std::to_string(m.id) + " applied a different " +
             "entry at index " + std::to_string(e.index()) + " (term " + std::to_string(e.term()) +
             ", first applied with term " + std::to_string(rec.term) + ")");
      }
      return;
    }
    if (e.index() != applied_.size() + 1) {
      Fail("applied history has a gap before index " + std::to_string(e.index()));
      return;
    }
    applied_.push_back(AppliedRecord{e.term(), data_hash, m.sm.hash});
    if (!liveness_marker_.empty() && e.data() == liveness_marker_) liveness_done_ = true;
  }

  void ServeReads(Member& m) {
    std::vector<PendingRead> waiting;
    for (auto& r : m.reads) {
      if (m.sm.applied < r.index) {
        waiting.push_back(std::move(r));
        continue;
      }
      auto it = read_floor_.find(r.context);
      if (it == read_floor_.end()) {
        Fail("read state for a read nobody issued: " + r.context);
        return;
      }
      // The value read is the state at m.sm.applied >= r.index; it must include the floor.
      if (r.index < it->second || m.sm.applied < it->second) {
        Fail("stale read " + r.context + " on member " + std::to_string(m.id) + ": read index " +
             std::to_string(r.index) + " but index " + std::to_string(it->second) +
             " was applied before the read began");
        return;
      }
      ++result_.reads_served;  // a duplicated answer is checked again, which is harmless
    }
    m.reads = std::move(waiting);
  }

  void CheckLeaderCompleteness(Member& m) {
    const uint64_t first = *m.storage->FirstIndex();
    const uint64_t last = *m.storage->LastIndex();
    if (last < applied_.size()) {
      Fail("leader completeness: leader " + std::to_string(m.id) + " log ends at " +
           std::to_string(last) + " but index " + std::to_string(applied_.size()) +
           " was committed");
      return;
    }
    for (uint64_t i = first; i <= applied_.size(); ++i) {
      auto t = m.storage->Term(i);
      if (!t.ok() || *t != applied_[i - 1].term) {
        Fail("leader completeness: leader " + std::to_string(m.id) + " lacks committed index " +
             std::to_string(i));
        return;
      }
    }
  }

  // ---- per-step checks ----

  void CheckStep() {
    for (auto& m : members_) {
      if (!m.node) continue;
      const Raft& r = m.node->raft();
      if (r.role() != Role::kLeader) continue;
      auto [it, inserted] = leader_of_term_.try_emplace(r.term(), m.id);
      if (!inserted && it->second != m.id) {
        Fail("election safety: members " + std::to_string(it->second) + " and " +
             std::to_string(m.id) + " both lead term " + std::to_string(r.term()));
        return;
      }
    }
  }

  void BeginCalm() {
    blocked_.clear();
    for (auto& m : members_) {
      if (!m.node) Start(m);
    }
    liveness_marker_ = "live-" + std::to_string(step_);
    liveness_done_ = false;
    liveness_accepted_ = false;
    Log("calm period begins");
  }

  void CheckLiveness(bool deadline) {
    if (liveness_done_) return;
    // Keep offering the marker until some leader accepts it; a dropped proposal is retried.
    if (!liveness_accepted_ || step_ % 50 == 0) {
      for (auto& m : members_) {
        if (m.node && m.node->raft().role() == Role::kLeader &&
            m.node->Propose(liveness_marker_).ok()) {
          liveness_accepted_ = true;
          break;
        }
      }
    }
    if (deadline) {
      Fail("liveness: no proposal committed within " + std::to_string(kCalmSteps) +
           " steps after faults stopped");
    }
  }

  Options opts_;
  SeededRandom rng_;
  std::vector<Member> members_;
  std::vector<cairnpb::Message> network_;
  std::set<std::pair<uint64_t, uint64_t>> blocked_;
  int step_ = 0;
  uint64_t next_id_ = 0;
  uint64_t proposal_seq_ = 0;
  uint64_t read_seq_ = 0;
  Result result_;

  std::vector<AppliedRecord> applied_;  // index i+1 -> what was applied there
  std::map<std::pair<uint64_t, uint64_t>, std::pair<uint64_t, uint64_t>> log_entries_;
  std::map<uint64_t, uint64_t> leader_of_term_;
  std::map<std::string, uint64_t> read_floor_;
  std::string liveness_marker_;
  bool liveness_done_ = false;
  bool liveness_accepted_ = false;
};

}  // namespace

std::string ReplayCommand(const Options& o) {
  std::string cmd = std::string(CAIRN_RAFT_SIM_BINARY) + " --seed " + std::to_string(o.seed) +
                    " --steps " + std::to_string(o.steps) + " --members " +
                    std::to_string(o.members);
  if (o.unsafe_commit_without_quorum) cmd += " --unsafe-commit-without-quorum";
  if (o.unsafe_read_without_quorum) cmd += " --unsafe-read-without-quorum";
  return cmd;
}

Result RunSimulation(const Options& options) {
  const std::string replay = ReplayCommand(options);
  std::snprintf(g_replay_line, sizeof(g_replay_line), "%s", replay.c_str());
  std::signal(SIGABRT, PrintReplayOnAbort);
  Simulator sim(options);
  Result r = sim.Run();
  std::signal(SIGABRT, SIG_DFL);
  return r;
}

}  // namespace cairn::raft::sim
