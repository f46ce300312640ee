// The hot-customer cache: customer records of recent batches, so a batch does
// not read RocksDB for customers it has seen lately.
//
// Bounded by entry count, least-recently-used out first. Entries dirtied by
// the batch in hand are never evicted: Evict() runs after the batch's write.
// Owned and used by the ingest thread only.
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

#include "cairn/v1/state.pb.h"

namespace cairn::state {

class CustomerCache {
 public:
  struct Entry {
    int32_t partition = 0;
    std::string key;  // StateStore::CustomerKey(partition, id)
    v1::CustomerState state;
    bool dirty = false;  // changed by the batch in hand, not yet written
  };

  explicit CustomerCache(size_t capacity) : capacity_(capacity) {}

  // The entry for `key`, marked most recently used; nullptr when absent.
  Entry* Find(std::string_view key);
  // Adds an entry (replacing any with the same key) and returns it.
  Entry* Insert(int32_t partition, std::string key, v1::CustomerState state);
  // Drops least-recently-used clean entries until size() <= capacity.
  void Evict();
  // Forgets every entry of `partition` (it was revoked). Dirty ones too: the
  // caller writes the batch first.
  void DropPartition(int32_t partition);

  size_t size() const { return map_.size(); }
  size_t capacity() const { return capacity_; }

 private:
  size_t capacity_;
  std::list<Entry> lru_;  // front = most recently used
  std::unordered_map<std::string_view, std::list<Entry>::iterator> map_;  // views into Entry::key
};

}  // namespace cairn::state
