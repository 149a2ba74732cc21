#include "server/concurrency/cancel_scope.h"

#include <vector>

namespace cairn::concurrency {

bool CancelScope::Attach(std::shared_ptr<grpc::ClientContext> context) {
  absl::MutexLock lock(&mu_);
  if (cancelled_) return false;
  const grpc::ClientContext* key = context.get();
  attached_.emplace(key, std::move(context));
  return true;
}

void CancelScope::Detach(const grpc::ClientContext* context) {
  std::shared_ptr<grpc::ClientContext> released;  // destroyed after the lock is dropped
  absl::MutexLock lock(&mu_);
  auto it = attached_.find(context);
  if (it == attached_.end()) return;
  released = std::move(it->second);
  attached_.erase(it);
}

void CancelScope::Cancel() {
  std::vector<std::shared_ptr<grpc::ClientContext>> to_cancel;
  {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return;
    cancelled_ = true;
    for (auto& [key, context] : attached_) to_cancel.push_back(context);
  }
  for (auto& context : to_cancel) context->TryCancel();
}

bool CancelScope::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

}  // namespace cairn::concurrency
