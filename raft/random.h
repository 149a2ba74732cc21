// The only source of randomness in raft (randomized election timeouts). Injected so a simulator
// can drive every choice from one seed.
#ifndef CAIRN_RAFT_RANDOM_H_
#define CAIRN_RAFT_RANDOM_H_

#include <cstdint>

namespace cairn::raft {

class RandomSource {
 public:
  virtual ~RandomSource() = default;
  // A uniformly distributed value in [0, bound); bound > 0.
  virtual uint64_t Uniform(uint64_t bound) = 0;
};

// Small, fast, seedable generator (SplitMix64). Deterministic for a given seed.
class SeededRandom : public RandomSource {
 public:
  explicit SeededRandom(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  uint64_t Uniform(uint64_t bound) override { return Next() % bound; }

 private:
  uint64_t state_;
};

}  // namespace cairn::raft

#endif  // CAIRN_RAFT_RANDOM_H_
