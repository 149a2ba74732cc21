// Blocking on an operation that reports its one outcome through a callback (the write pipeline's
// proposals and read barriers), for the member's own threads that have nothing else to do meanwhile
// (auto-compaction, the corruption monitor). Never call it on a thread the outcome needs: the
// pipeline's writer thread, or a gRPC callback thread.
#pragma once

#include <functional>
#include <future>
#include <memory>

#include "absl/status/status.h"

namespace cairn::server {

// Calls `start` with a callback that `start`'s operation must run exactly once (on any thread, possibly
// before `start` returns), and returns the status it was given.
inline absl::Status WaitForOutcome(const std::function<void(std::function<void(absl::Status)>)>& start) {
  auto promise = std::make_shared<std::promise<absl::Status>>();
  std::future<absl::Status> outcome = promise->get_future();
  start([promise](absl::Status s) { promise->set_value(std::move(s)); });
  return outcome.get();
}

}  // namespace cairn::server
