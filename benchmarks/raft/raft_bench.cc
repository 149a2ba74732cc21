// Proposals committed per second by an in-memory 3-member raft group: the cost of the state
// machine itself (no disk, no network). Figures are printed, never asserted.
#include <benchmark/benchmark.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "raft/memory_storage.h"
#include "raft/raw_node.h"

namespace cairn::raft {
namespace {

class Group {
 public:
  explicit Group(int members) {
    cairnpb::ConfState cs;
    for (int i = 1; i <= members; ++i) cs.add_voters(i);
    for (int i = 1; i <= members; ++i) {
      auto& m = members_.emplace_back();
      m.storage = std::make_unique<MemoryStorage>();
      cairnpb::Snapshot boot;
      *boot.mutable_metadata()->mutable_conf_state() = cs;
      (void)m.storage->ApplySnapshot(boot);
      m.random = std::make_unique<SeededRandom>(i);
      Config c;
      c.id = i;
      c.storage = m.storage.get();
      c.random = m.random.get();
      m.node = std::move(*RawNode::Create(c));
    }
    members_[0].node->Campaign();
    Pump();
  }

  RawNode& leader() { return *members_[0].node; }
  uint64_t leader_applied() const { return members_[0].applied; }

  // Runs Readys and delivers messages until the group is quiet.
  void Pump() {
    bool busy = true;
    while (busy) {
      busy = false;
      for (auto& m : members_) {
        while (m.node->HasReady()) {
          busy = true;
          Ready rd = m.node->GetReady();
          (void)m.storage->Append(rd.entries);
          if (rd.hard_state) m.storage->SetHardState(*rd.hard_state);
          for (auto& msg : rd.messages) network_.push_back(std::move(msg));
          if (!rd.committed_entries.empty()) m.applied = rd.committed_entries.back().index();
          m.node->Advance(rd);
        }
      }
      while (!network_.empty()) {
        busy = true;
        cairnpb::Message msg = std::move(network_.front());
        network_.pop_front();
        (void)members_[msg.to() - 1].node->Step(msg);
      }
    }
  }

  // Keeps the log short so memory stays flat over long runs.
  void Compact() {
    for (auto& m : members_) {
      const uint64_t first = *m.storage->FirstIndex();
      if (m.applied > first + 10000) (void)m.storage->Compact(m.applied - 1000);
    }
  }

 private:
  struct Member {
    std::unique_ptr<MemoryStorage> storage;
    std::unique_ptr<SeededRandom> random;
    std::unique_ptr<RawNode> node;
    uint64_t applied = 0;
  };
  std::vector<Member> members_;
  std::deque<cairnpb::Message> network_;
};

// Proposes `batch` 128-byte commands, then runs the group until they are committed and applied
// on the leader.
void BM_ProposalsCommitted(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  Group group(3);
  const std::string payload(128, 'x');
  for (auto _ : state) {
    const uint64_t target = group.leader_applied() + batch;
    for (int i = 0; i < batch; ++i) {
      if (!group.leader().Propose(payload).ok()) state.SkipWithError("proposal dropped");
    }
    group.Pump();
    if (group.leader_applied() < target) state.SkipWithError("proposals did not commit");
    group.Compact();
  }
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["proposals/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * batch), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ProposalsCommitted)->Arg(1)->Arg(16)->Arg(256);

}  // namespace
}  // namespace cairn::raft

BENCHMARK_MAIN();
