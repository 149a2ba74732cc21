#include "server/peer/unreachable_notifier.h"

#include <utility>

namespace cairn::peer {

UnreachableNotifier::UnreachableNotifier(std::function<void(uint64_t)> callback)
    : callback_(std::move(callback)), thread_([this] { Run(); }) {}

UnreachableNotifier::~UnreachableNotifier() { Stop(); }

void UnreachableNotifier::Mark(uint64_t peer) {
  absl::MutexLock lock(&mu_);
  if (!stopping_) pending_.insert(peer);
}

void UnreachableNotifier::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    pending_.clear();
  }
  absl::MutexLock lock(&join_mu_);
  if (thread_.joinable()) thread_.join();
}

void UnreachableNotifier::Run() {
  for (;;) {
    absl::btree_set<uint64_t> batch;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](UnreachableNotifier* n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(n->mu_) {
            return n->stopping_ || !n->pending_.empty();
          },
          this));
      if (stopping_) return;
      batch.swap(pending_);
    }
    if (!callback_) continue;
    for (uint64_t peer : batch) callback_(peer);
  }
}

}  // namespace cairn::peer
