// cairn::peer::UnreachableNotifier — delivers "peer X is unreachable" to raft's driver from one
// thread of its own, so the places that notice (Send, a sender thread stuck in a write) never
// run the owner's callback themselves. Repeated reports for a peer not yet delivered merge.
//
// Mark: any thread, never blocks. The callback runs on the notifier's thread, never after Stop().
#pragma once

#include <cstdint>
#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_set.h"
#include "absl/synchronization/mutex.h"

namespace cairn::peer {

class UnreachableNotifier {
 public:
  explicit UnreachableNotifier(std::function<void(uint64_t peer)> callback);
  ~UnreachableNotifier();  // Stop()

  void Mark(uint64_t peer);
  // Drops what is not yet delivered and joins the thread. Idempotent; not from the callback.
  void Stop();

 private:
  void Run();

  const std::function<void(uint64_t)> callback_;
  absl::Mutex mu_;
  absl::btree_set<uint64_t> pending_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Mutex join_mu_;
  std::thread thread_;  // last member
};

}  // namespace cairn::peer
