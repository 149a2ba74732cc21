#include "tests/raft/test_cluster.h"

#include <cstdio>
#include <cstdlib>

namespace cairn::raft::testing {
namespace {
[[noreturn]] void Fail(const std::string& why) {
  std::fprintf(stderr, "test cluster: %s\n", why.c_str());
  std::abort();
}
}  // namespace

std::vector<cairnpb::Entry> MakeLog(const std::vector<uint64_t>& terms) {
  std::vector<cairnpb::Entry> out;
  for (size_t i = 0; i < terms.size(); ++i) {
    cairnpb::Entry e;
    e.set_index(i + 1);
    e.set_term(terms[i]);
    e.set_data("e" + std::to_string(i + 1));
    out.push_back(e);
  }
  return out;
}

cairnpb::ConfState Voters(const std::vector<uint64_t>& ids) {
  cairnpb::ConfState cs;
  for (uint64_t id : ids) cs.add_voters(id);
  return cs;
}

TestCluster::TestCluster(std::vector<uint64_t> ids, Tweak tweak)
    : TestCluster(ids, {}, {}, std::move(tweak)) {}

TestCluster::TestCluster(std::vector<uint64_t> ids,
                         const std::map<uint64_t, std::vector<uint64_t>>& logs,
                         const std::map<uint64_t, uint64_t>& terms, Tweak tweak)
    : tweak_(std::move(tweak)) {
  for (uint64_t id : ids) {
    Member& m = members_[id];
    m.storage = std::make_unique<MemoryStorage>();
    cairnpb::Snapshot boot;
    *boot.mutable_metadata()->mutable_conf_state() = Voters(ids);
    (void)m.storage->ApplySnapshot(boot);
    if (auto it = logs.find(id); it != logs.end()) (void)m.storage->Append(MakeLog(it->second));
    if (auto it = terms.find(id); it != terms.end()) {
      cairnpb::HardState hs;
      hs.set_term(it->second);
      m.storage->SetHardState(hs);
    }
    Start(id, tweak_);
  }
}

std::unique_ptr<TestCluster> TestCluster::WithLogBootstrap(std::vector<uint64_t> ids) {
  auto c = std::unique_ptr<TestCluster>(new TestCluster({}, {}, {}, {}));
  const BootstrapState boot = BootstrapLog(ids);
  for (uint64_t id : ids) {
    Member& m = c->members_[id];
    m.storage = std::make_unique<MemoryStorage>();
    (void)m.storage->Append(boot.entries);
    m.storage->SetHardState(boot.hard_state);
    c->Start(id, {});
  }
  c->ProcessReadys();
  return c;
}

void TestCluster::AddMember(uint64_t id, const cairnpb::ConfState& cs) {
  Member& m = members_[id];
  m.storage = std::make_unique<MemoryStorage>();
  cairnpb::Snapshot boot;
  *boot.mutable_metadata()->mutable_conf_state() = cs;
  (void)m.storage->ApplySnapshot(boot);
  Start(id, tweak_);
}

void TestCluster::Start(uint64_t id, const Tweak& tweak) {
  Config c;
  c.id = id;
  c.election_tick = 10;
  c.heartbeat_tick = 1;
  c.storage = members_[id].storage.get();
  if (tweak) tweak(c);
  auto node = RawNode::Create(c);
  if (!node.ok()) Fail(node.status().ToString());
  members_[id].node = std::move(*node);
}

void TestCluster::Isolate(uint64_t id) {
  for (auto& [other, m] : members_) {
    if (other == id) continue;
    cut_.insert({id, other});
    cut_.insert({other, id});
  }
}

void TestCluster::Cut(uint64_t a, uint64_t b) {
  cut_.insert({a, b});
  cut_.insert({b, a});
}

void TestCluster::CutOneWay(uint64_t from, uint64_t to) { cut_.insert({from, to}); }

void TestCluster::Heal() {
  cut_.clear();
  dropped_types_.clear();
}

bool TestCluster::Blocked(const cairnpb::Message& m) const {
  return cut_.count({m.from(), m.to()}) != 0 || dropped_types_.count(m.type()) != 0 ||
         members_.count(m.to()) == 0;
}

bool TestCluster::HandleReady(uint64_t id) {
  Member& m = members_.at(id);
  if (!m.node->HasReady()) return false;
  Ready rd = m.node->GetReady();
  if (rd.snapshot) (void)m.storage->ApplySnapshot(*rd.snapshot);
  (void)m.storage->Append(rd.entries);
  if (rd.hard_state) m.storage->SetHardState(*rd.hard_state);
  for (auto& msg : rd.messages) {
    if (!Blocked(msg)) queue_.push_back(std::move(msg));
  }
  for (const auto& e : rd.committed_entries) {
    if (e.type() == cairnpb::ENTRY_CONF_CHANGE) {
      cairnpb::ConfChange cc;
      cc.ParseFromString(e.data());
      m.node->ApplyConfChange(cc);
    }
    m.applied.push_back(e);
  }
  for (auto& r : rd.read_states) m.reads.push_back(std::move(r));
  m.node->Advance(rd);
  return true;
}

void TestCluster::ProcessReadys() {
  for (auto& [id, m] : members_) {
    while (HandleReady(id)) {
    }
  }
}

void TestCluster::Stabilize() {
  for (int round = 0; round < 10000; ++round) {
    ProcessReadys();
    if (queue_.empty()) return;
    std::vector<cairnpb::Message> batch = std::move(queue_);
    queue_.clear();
    for (const auto& msg : batch) {
      if (Blocked(msg)) continue;
      ++delivered_;
      (void)members_.at(msg.to()).node->Step(msg);
    }
  }
  Fail("cluster did not stabilize");
}

void TestCluster::Tick(uint64_t id, int n) {
  for (int i = 0; i < n; ++i) node(id).Tick();
}

void TestCluster::TickAll(int n) {
  for (int i = 0; i < n; ++i) {
    for (auto& [id, m] : members_) m.node->Tick();
  }
}

void TestCluster::Elect(uint64_t id) {
  node(id).Campaign();
  Stabilize();
}

uint64_t TestCluster::Leader() {
  uint64_t best = 0, best_term = 0;
  for (auto& [id, m] : members_) {
    const Raft& r = m.node->raft();
    if (r.role() == Role::kLeader && r.term() >= best_term) {
      best = id;
      best_term = r.term();
    }
  }
  return best;
}

}  // namespace cairn::raft::testing
