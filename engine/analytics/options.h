// Configuration of the analytics counters (`analytics:` in the engine config,
// docs/configuration.md and docs/analytics.md).
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace cairn::analytics {

struct IntervalPair {
  std::string from;  // event name, e.g. "Product Added"
  std::string to;    // e.g. "Order Completed"
};

struct Options {
  // Cost of one message per channel (currency units; a channel not listed costs 0).
  std::map<std::string, double> cost_per_message;
  // Event pairs whose conversion interval is measured.
  std::vector<IntervalPair> intervals;
  // Numeric properties of the goal event read as its revenue, first present wins.
  std::vector<std::string> revenue_properties = {"revenue", "total"};
  // Distinct event names counted for the heatmap; later ones count as "(other)".
  size_t max_event_names = 1000;
};

}  // namespace cairn::analytics
