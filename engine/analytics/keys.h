// Keys of the `analytics` column family (values: counters, counter_merge.h).
//
//   <kind char> <field> \0 <field> \0 ... \0 <hour u32 BE> <partition u32 BE>
//
//   'j' journey \0 scope \0 metric   journey counters; scope "" = the journey,
//                                    "s:<step>" a step, "a:<arm>" a split arm
//   'e' event name                   events (heatmap); "(other)" past the name bound
//   'i' from \0 to \0 <bucket u8>    conversion intervals between two events
//   'p' journey \0 path              exited instances by the steps they visited
//                                    (the first 12, joined by \x1f)
//   'n' event name                   the names counted under 'e' (hour 0, partition 0)
//
// hour = event or decision time / 1 h (hours since the epoch); kRunningHour
// marks counters that are not time-bucketed ("in step now"). The kind and the
// names come first so that a read of one journey or one event is one prefix
// scan; hours and partitions of the same name are summed by the reader.
// Names never contain \0 (it is replaced by a space when a key is built).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/clock.h"

namespace cairn::analytics {

inline constexpr char kJourneyKind = 'j';
inline constexpr char kEventKind = 'e';
inline constexpr char kIntervalKind = 'i';
inline constexpr char kNameKind = 'n';
inline constexpr char kPathKind = 'p';
inline constexpr uint32_t kRunningHour = 0xffffffffU;
inline constexpr int64_t kHourMs = int64_t{3600} * 1000;

// The hour bucket of `ms` (clamped to [0, kRunningHour)).
uint32_t HourOf(TimestampMs ms);

// <kind><f0>\0<f1>\0...<fn> without the hour and partition suffix.
std::string KeyPrefix(char kind, const std::vector<std::string_view>& fields);
// The prefix plus \0, the hour and the partition.
std::string Key(char kind, const std::vector<std::string_view>& fields, uint32_t hour,
                int32_t partition);

struct ParsedKey {
  char kind = 0;
  std::vector<std::string_view> fields;  // views into the key
  uint32_t hour = 0;
  int32_t partition = 0;
};
// false for a key this module did not write.
bool ParseKey(std::string_view key, ParsedKey& out);

}  // namespace cairn::analytics
