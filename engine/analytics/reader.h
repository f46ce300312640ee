// The read side of journey analytics: sums the counters of the `analytics`
// column family (keys.h) over partitions and the hour buckets of a range.
// A read is a prefix scan of one journey / event / pair: its cost grows with
// hours x partitions x metrics of that name, never with the event history.
//
// Threading: any thread (RocksDB reads); the HTTP API calls these.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "analytics/recorder.h"
#include "cairn/clock.h"
#include "cairn/status.h"
#include "state/state_store.h"

namespace cairn::analytics {

// [from, to): an hour bucket counts when its start is inside.
struct Range {
  TimestampMs from = 0;
  TimestampMs to = std::numeric_limits<TimestampMs>::max();
};

// scope ("" journey, "s:<step>", "a:<arm>") -> metric -> value. Running
// counters (in_step) are current whatever the range.
using Counters = std::map<std::string, std::map<std::string, int64_t>>;

// Every journey's counters (or only `journey` when not empty).
Result<std::map<std::string, Counters>> ReadJourneys(state::StateStore& store, const Range& range,
                                                     std::string_view journey = {});

struct Heatmap {
  std::array<std::array<uint64_t, 24>, 7> cells{};  // [Mon..Sun][local hour]
  uint64_t total = 0;
};
// `event` by local weekday x hour in IANA zone `tz` (an hour bucket goes to
// the local time of its start). InvalidArgument for an unknown zone.
Result<Heatmap> ReadHeatmap(state::StateStore& store, std::string_view event, const Range& range,
                            std::string_view tz);

struct Intervals {
  uint64_t count = 0;
  std::vector<double> bounds;    // seconds, kIntervalBuckets entries, last +inf
  std::vector<uint64_t> counts;  // per bucket
};
Result<Intervals> ReadIntervals(state::StateStore& store, std::string_view from_event,
                                std::string_view to_event, const Range& range);

struct PathCount {
  std::vector<std::string> steps;
  uint64_t count = 0;
};
// The `limit` most frequent step sequences of instances of `journey` that
// exited in the range, most frequent first (ties by sequence).
Result<std::vector<PathCount>> ReadPaths(state::StateStore& store, std::string_view journey,
                                         const Range& range, size_t limit);

// Customers per RFM group (`rfm`) or lifecycle stage per day, for the last
// `days` days recorded (the profile stage's daily "ph/" rows, summed over
// partitions, a partition's last row carried forward): day -> name -> count.
std::map<int64_t, std::map<std::string, int64_t>> ReadDaily(state::StateStore& store, bool rfm,
                                                            int64_t days);

}  // namespace cairn::analytics
