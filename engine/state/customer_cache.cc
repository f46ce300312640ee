#include "state/customer_cache.h"

namespace cairn::state {

CustomerCache::Entry* CustomerCache::Find(std::string_view key) {
  auto it = map_.find(key);
  if (it == map_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return &*it->second;
}

CustomerCache::Entry* CustomerCache::Insert(int32_t partition, std::string key,
                                            v1::CustomerState state) {
  if (auto it = map_.find(key); it != map_.end()) {
    lru_.erase(it->second);
    map_.erase(it);
  }
  lru_.push_front(Entry{partition, std::move(key), std::move(state), false});
  map_.emplace(lru_.front().key, lru_.begin());
  return &lru_.front();
}

void CustomerCache::Evict() {
  auto it = lru_.end();
  while (map_.size() > capacity_ && it != lru_.begin()) {
    --it;
    if (it->dirty) continue;
    map_.erase(it->key);
    it = lru_.erase(it);
  }
}

void CustomerCache::DropPartition(int32_t partition) {
  for (auto it = lru_.begin(); it != lru_.end();) {
    if (it->partition == partition) {
      map_.erase(it->key);
      it = lru_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace cairn::state
