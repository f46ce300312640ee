// The merge operator of the `analytics` column family: every value is a
// signed 64-bit counter (8 bytes, little-endian) and a merge adds. Written
// with Merge() in the same WriteBatch as the state change that moved it, so
// counters are exactly-once like the rest of the state.
//
// Header-only (RocksDB's UInt64AddOperator is not exported by Debian's
// librocksdb), so the state store can install it without linking this module.
#pragma once

#include <rocksdb/merge_operator.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

namespace cairn::analytics {

inline int64_t DecodeCounter(const rocksdb::Slice& s) {
  if (s.size() != 8) return 0;  // not a counter: counts as 0 (never crashes a read)
  uint64_t u = 0;
  for (int i = 7; i >= 0; --i) u = (u << 8) | static_cast<unsigned char>(s.data()[i]);
  return static_cast<int64_t>(u);
}

inline std::string EncodeCounter(int64_t v) {
  std::string out(8, '\0');
  auto u = static_cast<uint64_t>(v);
  for (size_t i = 0; i < 8; ++i) {
    out[i] = static_cast<char>(u & 0xff);
    u >>= 8;
  }
  return out;
}

class CounterMergeOperator final : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& /*key*/, const rocksdb::Slice* existing,
             const rocksdb::Slice& value, std::string* new_value,
             rocksdb::Logger* /*logger*/) const override {
    const int64_t base = existing == nullptr ? 0 : DecodeCounter(*existing);
    // Wrapping add: counters never get near 2^63; no UB either way.
    *new_value = EncodeCounter(static_cast<int64_t>(static_cast<uint64_t>(base) +
                                                    static_cast<uint64_t>(DecodeCounter(value))));
    return true;
  }
  const char* Name() const override { return "cairn.CounterAdd"; }
};

inline std::shared_ptr<rocksdb::MergeOperator> NewCounterMergeOperator() {
  return std::make_shared<CounterMergeOperator>();
}

}  // namespace cairn::analytics
