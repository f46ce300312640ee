// Turns one Kafka message into a cairn::Event, or says why it cannot.
//
// The format is chosen per message:
//   - header ce_specversion present            -> CloudEvents binary mode
//   - content-type application/cloudevents+json -> CloudEvents structured mode
//   - content-type application/x-protobuf or application/protobuf
//     (optionally ";messageType=cairn.v1.Event") -> protobuf cairn.v1.Event
//   - otherwise                                 -> Segment-spec JSON
// JSON is parsed with simdjson. An EventParser is NOT thread-safe (it owns
// simdjson buffers it reuses); use one per consumer thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/clock.h"
#include "cairn/event.h"

namespace cairn::ingest {

// Why a message went to the dead-letter topic. The name is the value of the
// `cairn.dlq.reason` header and is part of the public contract (docs/events.md).
enum class DeadLetterReason : uint8_t {
  kMalformed,               // "malformed": not valid JSON / protobuf / CloudEvent
  kUnknownType,             // "unknown_type": `type` is not track/identify/page/screen/alias/group
  kMissingId,               // "missing_id": neither userId nor anonymousId
  kMissingField,            // "missing_field": a required field (e.g. track's `event`) is absent
  kBadTimestamp,            // "bad_timestamp": timestamp present but not RFC 3339 / ISO 8601
  kTooLarge,                // "too_large": message bigger than ParseOptions::max_bytes
  kTooDeep,                 // "too_deep": JSON nesting deeper than ParseOptions::max_depth
  kUnsupportedContentType,  // "unsupported_content_type": content-type we do not read
  kIdentity,                // "identity": an internal identity record that cannot be applied
};

std::string_view DeadLetterReasonName(DeadLetterReason reason);

struct ParseError {
  DeadLetterReason reason;
  std::string detail;  // human-readable, e.g. "line 1 col 14: expected ':'"
};

// A Kafka message as the parser sees it; views into librdkafka's buffers.
struct RawMessage {
  std::string_view payload;
  std::string_view key;
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  TimestampMs broker_timestamp_ms = 0;  // used when the event carries no timestamp
};

struct ParseOptions {
  size_t max_bytes = 256 * 1024;
  uint32_t max_depth = 32;
};

class EventParser {
 public:
  explicit EventParser(ParseOptions options = {});
  ~EventParser();
  EventParser(const EventParser&) = delete;
  EventParser& operator=(const EventParser&) = delete;

  // Fills `out` (cleared first) and returns nullopt, or returns why not.
  // Never throws; any input bytes are safe.
  std::optional<ParseError> Parse(const RawMessage& msg, Event& out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn::ingest
