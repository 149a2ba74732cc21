// Bookkeeping for ReadIndex (linearizable reads, Raft thesis §6.4): each read waits, in arrival
// order, until a quorum of voters has acknowledged a heartbeat that carried its context, which
// proves the leader was still the leader when it recorded the read's index. Internal to raft.
#ifndef CAIRN_RAFT_READ_INDEX_H_
#define CAIRN_RAFT_READ_INDEX_H_

#include <cstdint>
#include <deque>
#include <set>
#include <string>
#include <vector>

#include "cairnpb/raft.pb.h"

namespace cairn::raft {

// A read the caller may serve once its state machine has applied `index`.
struct ReadState {
  uint64_t index = 0;
  std::string context;  // the caller's read id, as given to RawNode::ReadIndex
};

class ReadIndexQueue {
 public:
  struct Pending {
    uint64_t index;
    cairnpb::Message request;  // from: who asked (the leader itself, or a follower)
    std::set<uint64_t> acks;
  };

  // Queues a read at `index`; a second request with the same context is ignored.
  void Add(uint64_t index, const cairnpb::Message& request);
  // Records that `from` acknowledged the heartbeat round for `context`. Returns the number of
  // acknowledgements for it (0 if unknown).
  size_t Ack(const std::string& context, uint64_t from);
  // Removes and returns every read up to and including the one with `context`: confirming a later
  // round confirms the earlier ones too.
  std::vector<Pending> Release(const std::string& context);
  // The context of the newest queued read ("" when none).
  std::string LastContext() const;
  void Clear() { queue_.clear(); }
  size_t size() const { return queue_.size(); }

 private:
  std::deque<Pending> queue_;
};

}  // namespace cairn::raft

#endif  // CAIRN_RAFT_READ_INDEX_H_
