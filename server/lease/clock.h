// The lessor's notion of time: a monotonic clock behind an interface so tests can move time by hand.
// Implementations must be thread-safe; Now() never goes backwards.
#pragma once

#include <chrono>

namespace cairn::lease {

class Clock {
 public:
  using Time = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;

  virtual ~Clock() = default;
  virtual Time Now() const = 0;

  // std::chrono::steady_clock; lives for the whole process.
  static const Clock* Steady();
};

}  // namespace cairn::lease
