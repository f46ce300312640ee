// Big-endian integers in byte strings: the RocksDB key encodings (customers,
// history, timers, outbox, checkpoints) sort numerically this way.
#pragma once

#include <cstdint>
#include <string>

namespace cairn {

inline void PutU32BE(std::string& out, uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 8), static_cast<char>(v)};
  out.append(b, 4);
}

inline void PutU64BE(std::string& out, uint64_t v) {
  PutU32BE(out, static_cast<uint32_t>(v >> 32));
  PutU32BE(out, static_cast<uint32_t>(v));
}

// `p` must point at 4 (8) readable bytes.
inline uint32_t GetU32BE(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | u[3];
}

inline uint64_t GetU64BE(const char* p) { return (uint64_t{GetU32BE(p)} << 32) | GetU32BE(p + 4); }

}  // namespace cairn
