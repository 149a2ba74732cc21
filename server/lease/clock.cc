#include "server/lease/clock.h"

namespace cairn::lease {
namespace {

class SteadyClock final : public Clock {
 public:
  Time Now() const override { return std::chrono::steady_clock::now(); }
};

}  // namespace

const Clock* Clock::Steady() {
  static const SteadyClock* clock = new SteadyClock();  // never destroyed: usable during static teardown
  return clock;
}

}  // namespace cairn::lease
