// FNV-1a, 64-bit: a stable hash (the same across builds and machines) for
// short keys where no attacker chooses the input to collide.
#pragma once

#include <cstdint>
#include <string_view>

namespace cairn {

inline uint64_t Fnv1a64(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace cairn
