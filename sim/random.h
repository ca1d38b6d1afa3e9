// The simulator's random numbers: SplitMix64 with an exact bounded mapping.
//
// Both are specified here, not taken from the standard library, so the same
// seed gives the same choices on every machine, compiler and library
// (std::uniform_int_distribution differs between implementations).
#ifndef GEVENTPP_SIM_RANDOM_H_
#define GEVENTPP_SIM_RANDOM_H_

#include <cstdint>

namespace gevent {
namespace sim {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, n), n >= 1, without modulo bias: draws below
  // 2^64 mod n are rejected and redrawn.
  uint64_t Below(uint64_t n) {
    if (n <= 1) return 0;
    const uint64_t reject_below = (0 - n) % n;  // 2^64 mod n
    for (;;) {
      uint64_t x = Next();
      if (x >= reject_below) return x % n;
    }
  }

 private:
  uint64_t state_;
};

}  // namespace sim
}  // namespace gevent

#endif  // GEVENTPP_SIM_RANDOM_H_
