// The one internal event type. Every accepted input format (Segment JSON,
// CloudEvents binary or structured, protobuf cairn.v1.Event) is parsed into
// this; nothing downstream of ingest knows which format a message came in.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/clock.h"

namespace cairn {

enum class EventType : uint8_t {
  kTrack = 0,
  kIdentify = 1,
  kPage = 2,
  kScreen = 3,
  kAlias = 4,
  kGroup = 5,
};

// "track", "identify", ... as in the Segment spec.
std::string_view EventTypeName(EventType type);

struct Event {
  EventType type = EventType::kTrack;
  std::string user_id;       // Segment userId; may be empty when anonymous_id is set
  std::string anonymous_id;  // Segment anonymousId
  // The name counted in customer state: the track event name; for the other
  // types a fixed name: "Page Viewed", "Screen Viewed", "Identify", "Alias", "Group".
  std::string name;
  std::string message_id;        // producer's dedup id; may be empty
  TimestampMs timestamp_ms = 0;  // event time (the message's, else the broker's)
  std::string properties_json;   // JSON object text, "{}" when absent
  std::string traits_json;       // JSON object text, "{}" when absent (identify)
  std::string context_json;      // JSON object text, "{}" when absent
  std::string previous_id;       // alias: the id being merged into user_id
  // The top-level numeric members of properties, in document order.
  std::vector<std::pair<std::string, double>> numeric_properties;

  // The customer this event is about: userId, else anonymousId.
  const std::string& customer_id() const { return user_id.empty() ? anonymous_id : user_id; }

  // Empties every field, keeping string capacity for reuse on the hot path.
  void Clear();
};

}  // namespace cairn
