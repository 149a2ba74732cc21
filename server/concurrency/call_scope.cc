#include "server/concurrency/call_scope.h"

#include <vector>

namespace cairn::concurrency {

namespace {
constexpr char kTokenMetadata[] = "token";  // etcd's name for the auth token
}  // namespace

CallScope::CallScope(const grpc::CallbackServerContext& caller) {
  const auto& metadata = caller.client_metadata();
  if (auto it = metadata.find(kTokenMetadata); it != metadata.end()) {
    token_.assign(it->second.data(), it->second.size());
  }
}

void CallScope::Prepare(grpc::ClientContext& context) const {
  if (!token_.empty()) context.AddMetadata(kTokenMetadata, token_);
}

bool CallScope::Attach(std::shared_ptr<grpc::ClientContext> context) {
  absl::MutexLock lock(&mu_);
  if (cancelled_) return false;
  const grpc::ClientContext* key = context.get();
  attached_.emplace(key, std::move(context));
  return true;
}

void CallScope::Detach(const grpc::ClientContext* context) {
  std::shared_ptr<grpc::ClientContext> released;  // destroyed after the lock is dropped
  absl::MutexLock lock(&mu_);
  auto it = attached_.find(context);
  if (it == attached_.end()) return;
  released = std::move(it->second);
  attached_.erase(it);
}

void CallScope::Cancel() {
  std::vector<std::shared_ptr<grpc::ClientContext>> to_cancel;
  {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return;
    cancelled_ = true;
    for (auto& [key, context] : attached_) to_cancel.push_back(context);
  }
  for (auto& context : to_cancel) context->TryCancel();
}

bool CallScope::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

}  // namespace cairn::concurrency
