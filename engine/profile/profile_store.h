// What the profile stage keeps in RocksDB beside the customer records, in the
// state store's default column family, written in the batch that changed it:
//   "sm/" <segment> \0 <partition u32 BE> <customer id>  -> ""   segment members
//   "ph/" <day u32 BE> <partition u32 BE>  -> v1::ProfileStats    the day's last counts
// The live counts themselves are in each partition's checkpoint
// (v1::PartitionCheckpoint.profile). Reads are thread-safe (the HTTP API).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/status.h"
#include "state/state_store.h"

namespace cairn::profile {

void PutSegmentMember(state::StateStore::Batch& batch, rocksdb::ColumnFamilyHandle* cf,
                      std::string_view segment, int32_t partition, std::string_view customer,
                      bool member);
// Records `stats` (segments and stages only) as the counts of `day` (days
// since the epoch) for the partition; a later write the same day replaces it.
void PutDailyCounts(state::StateStore::Batch& batch, rocksdb::ColumnFamilyHandle* cf, int64_t day,
                    int32_t partition, const v1::ProfileStats& stats);

struct SegmentMember {
  int32_t partition = 0;
  std::string customer;
};
// Up to `limit` members of the segment, in key order.
std::vector<SegmentMember> SegmentSample(state::StateStore& store, std::string_view segment,
                                         size_t limit);
// The live counts summed over the partitions checkpointed for `topic`.
v1::ProfileStats SummedStats(state::StateStore& store, std::string_view topic);
// Stage counts per day in [from_day, to_day], summed over partitions.
std::map<int64_t, std::map<std::string, int64_t>> DailyStages(state::StateStore& store,
                                                              int64_t from_day, int64_t to_day);

}  // namespace cairn::profile
