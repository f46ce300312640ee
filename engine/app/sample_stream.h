// A realistic synthetic event stream for the demo and for publishing by hand:
// shoppers over simulated months signing up, browsing, adding to cart,
// checking out, ordering (with totals), receiving and redeeming coupons.
// Mostly Segment JSON, some CloudEvents (binary mode), a few malformed
// messages and producer retries (repeated messageIds), all from a seed.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cairn/clock.h"

namespace cairn::app {

struct SampleOptions {
  int customers = 3000;
  int days = 180;                        // simulated span of the stream
  TimestampMs start_ms = 1767225600000;  // 2026-01-01T00:00:00Z
  uint64_t seed = 42;
  double malformed_share = 0.002;  // of messages
  double retry_share = 0.002;      // messages sent twice with the same messageId
  double cloudevents_share = 0.05;
};

struct SampleRecord {
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
  bool malformed = false;
  bool retry = false;  // a repeat of the previous record of this customer
};

// What the generator produced, to check against what the engine counted.
struct SampleSummary {
  uint64_t records = 0;
  uint64_t malformed = 0;
  uint64_t retries = 0;
  uint64_t orders = 0;
  double revenue = 0;
};

// All records, ordered by event time.
std::vector<SampleRecord> GenerateSample(const SampleOptions& options, SampleSummary* summary);

}  // namespace cairn::app
