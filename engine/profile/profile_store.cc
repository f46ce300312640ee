#include "profile/profile_store.h"

#include <algorithm>
#include <memory>

#include "cairn/big_endian.h"

namespace cairn::profile {
namespace {

constexpr std::string_view kMemberPrefix = "sm/";
constexpr std::string_view kDailyPrefix = "ph/";

std::string MemberPrefix(std::string_view segment) {
  std::string k(kMemberPrefix);
  k += segment;
  k.push_back('\0');
  return k;
}

}  // namespace

void PutSegmentMember(state::StateStore::Batch& batch, rocksdb::ColumnFamilyHandle* cf,
                      std::string_view segment, int32_t partition, std::string_view customer,
                      bool member) {
  std::string key = MemberPrefix(segment);
  PutU32BE(key, static_cast<uint32_t>(partition));
  key += customer;
  if (member) {
    batch.raw().Put(cf, key, rocksdb::Slice());
  } else {
    batch.raw().Delete(cf, key);
  }
}

void PutDailyCounts(state::StateStore::Batch& batch, rocksdb::ColumnFamilyHandle* cf, int64_t day,
                    int32_t partition, const v1::ProfileStats& stats) {
  std::string key(kDailyPrefix);
  PutU32BE(key, static_cast<uint32_t>(day));
  PutU32BE(key, static_cast<uint32_t>(partition));
  v1::ProfileStats counts;
  *counts.mutable_segments() = stats.segments();
  *counts.mutable_stages() = stats.stages();
  *counts.mutable_rfm_groups() = stats.rfm_groups();
  batch.raw().Put(cf, key, counts.SerializeAsString());
}

std::vector<SegmentMember> SegmentSample(state::StateStore& store, std::string_view segment,
                                         size_t limit) {
  std::vector<SegmentMember> out;
  const std::string prefix = MemberPrefix(segment);
  std::unique_ptr<rocksdb::Iterator> it(
      store.db()->NewIterator(rocksdb::ReadOptions(), store.meta_cf()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix) && out.size() < limit;
       it->Next()) {
    const auto k = it->key();
    if (k.size() < prefix.size() + 4) continue;
    SegmentMember m;
    m.partition = static_cast<int32_t>(GetU32BE(k.data() + prefix.size()));
    m.customer.assign(k.data() + prefix.size() + 4, k.size() - prefix.size() - 4);
    out.push_back(std::move(m));
  }
  return out;
}

v1::ProfileStats SummedStats(state::StateStore& store, std::string_view topic) {
  v1::ProfileStats sum;
  for (const auto& [partition, cp] : store.Checkpoints(topic)) {
    for (const auto& [k, v] : cp.profile().segments()) (*sum.mutable_segments())[k] += v;
    for (const auto& [k, v] : cp.profile().stages()) (*sum.mutable_stages())[k] += v;
    for (const auto& [k, v] : cp.profile().recency_days()) (*sum.mutable_recency_days())[k] += v;
    for (const auto& [k, v] : cp.profile().rfm_groups()) (*sum.mutable_rfm_groups())[k] += v;
  }
  return sum;
}

std::map<int64_t, std::map<std::string, int64_t>> DailyStages(state::StateStore& store,
                                                              int64_t from_day, int64_t to_day) {
  // A partition has a row only for days it changed: carry its last counts forward.
  std::map<int32_t, std::map<int64_t, v1::ProfileStats>> by_partition;
  std::unique_ptr<rocksdb::Iterator> it(
      store.db()->NewIterator(rocksdb::ReadOptions(), store.meta_cf()));
  for (it->Seek(std::string(kDailyPrefix)); it->Valid() && it->key().starts_with(kDailyPrefix);
       it->Next()) {
    const auto k = it->key();
    if (k.size() != kDailyPrefix.size() + 8) continue;
    const int64_t day = GetU32BE(k.data() + kDailyPrefix.size());
    if (day > to_day) break;
    const auto partition = static_cast<int32_t>(GetU32BE(k.data() + kDailyPrefix.size() + 4));
    v1::ProfileStats s;
    if (!s.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) continue;
    by_partition[partition][day] = std::move(s);
  }
  std::map<int64_t, std::map<std::string, int64_t>> out;
  int64_t last_day = -1;  // carry forward only up to the latest day recorded
  for (const auto& [partition, days] : by_partition) {
    if (!days.empty()) last_day = std::max(last_day, days.rbegin()->first);
  }
  to_day = std::min(to_day, last_day);
  for (const auto& [partition, days] : by_partition) {
    if (days.empty()) continue;
    for (int64_t day = std::max(from_day, days.begin()->first); day <= to_day; ++day) {
      auto last = days.upper_bound(day);
      if (last == days.begin()) continue;
      --last;
      auto& d = out[day];
      for (const auto& [stage, n] : last->second.stages()) d[stage] += n;
    }
  }
  return out;
}

}  // namespace cairn::profile
