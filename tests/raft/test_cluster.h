// A small, fault-free (unless told) in-process cluster of RawNodes for rule-level unit tests.
// Messages are delivered in FIFO order by Stabilize(); links can be cut to model partitions.
// Each node persists into its own MemoryStorage exactly as the RawNode contract prescribes.
#ifndef CAIRN_TESTS_RAFT_TEST_CLUSTER_H_
#define CAIRN_TESTS_RAFT_TEST_CLUSTER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "raft/memory_storage.h"
#include "raft/raw_node.h"

namespace cairn::raft::testing {

// A log whose entry i+1 has terms[i] (data "e<index>").
std::vector<cairnpb::Entry> MakeLog(const std::vector<uint64_t>& terms);
cairnpb::ConfState Voters(const std::vector<uint64_t>& ids);

class TestCluster {
 public:
  using Tweak = std::function<void(Config&)>;

  // A fresh group whose members are `ids` (all voters).
  explicit TestCluster(std::vector<uint64_t> ids, Tweak tweak = {});
  // A fresh group bootstrapped the production way: membership as the first log entries
  // (BootstrapLog), already applied when this returns.
  static std::unique_ptr<TestCluster> WithLogBootstrap(std::vector<uint64_t> ids);
  // A group whose member i starts with the given log and term (for log-shape scenarios).
  TestCluster(std::vector<uint64_t> ids, const std::map<uint64_t, std::vector<uint64_t>>& logs,
              const std::map<uint64_t, uint64_t>& terms, Tweak tweak = {});

  RawNode& node(uint64_t id) { return *members_.at(id).node; }
  Raft& raft(uint64_t id) { return members_.at(id).node->mutable_raft(); }
  MemoryStorage& storage(uint64_t id) { return *members_.at(id).storage; }
  const std::vector<cairnpb::Entry>& applied(uint64_t id) { return members_.at(id).applied; }
  std::vector<ReadState>& reads(uint64_t id) { return members_.at(id).reads; }
  size_t messages_delivered() const { return delivered_; }

  // Adds a member that knows the given configuration (empty: a member that knows nothing and
  // learns everything from the leader).
  void AddMember(uint64_t id, const cairnpb::ConfState& cs);

  void Isolate(uint64_t id);             // cut every link to and from id
  void Cut(uint64_t a, uint64_t b);      // both directions
  void CutOneWay(uint64_t from, uint64_t to);
  void Heal();
  // Drops every message of this type (until Heal()).
  void DropType(cairnpb::MessageType t) { dropped_types_.insert(t); }

  // Handles every Ready and delivers every message until the cluster is quiet.
  void Stabilize();
  // Runs Readys and queues their messages without delivering them.
  void ProcessReadys();
  void Tick(uint64_t id, int n = 1);
  void TickAll(int n = 1);
  // Makes `id` campaign and settles the cluster.
  void Elect(uint64_t id);
  // The leader with the highest term, 0 if none.
  uint64_t Leader();

  std::vector<cairnpb::Message>& pending() { return queue_; }

 private:
  struct Member {
    std::unique_ptr<MemoryStorage> storage;
    std::unique_ptr<RawNode> node;
    std::vector<cairnpb::Entry> applied;
    std::vector<ReadState> reads;
  };
  void Start(uint64_t id, const Tweak& tweak);
  bool HandleReady(uint64_t id);
  bool Blocked(const cairnpb::Message& m) const;

  std::map<uint64_t, Member> members_;
  std::set<std::pair<uint64_t, uint64_t>> cut_;
  std::set<cairnpb::MessageType> dropped_types_;
  std::vector<cairnpb::Message> queue_;
  size_t delivered_ = 0;
  Tweak tweak_;
};

}  // namespace cairn::raft::testing

#endif  // CAIRN_TESTS_RAFT_TEST_CLUSTER_H_
