// Seeds keyed by (run seed, index): batch k of a run, or the dream of policy step k, draws from
// its own generator seed, so a resumed run draws what the uninterrupted one drew, and runs of
// different seeds draw differently.
#pragma once

#include <cstdint>

namespace wm::core {

// SplitMix64's finaliser: neighbouring inputs give unrelated outputs.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

inline uint64_t seed_for(uint64_t seed, uint64_t index) { return splitmix64(splitmix64(seed) ^ index); }

}  // namespace wm::core
