// Internal to engine/ingest: what the per-format parsers share. Not installed,
// not included outside engine/ingest/*.cc.
//
// Every function here is noexcept in spirit: none throws on any input bytes,
// and every "reason" it reports is a DeadLetterReason of the public contract.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/event.h"
#include "ingest/event_parser.h"

namespace cairn::ingest::internal {

// Parse results: nullopt on success, else why the message is dead-lettered.
using Result = std::optional<ParseError>;

Result Fail(DeadLetterReason reason, std::string detail);

// `text` as a double-quoted, printable, bounded string for error details.
std::string Quote(std::string_view text);

// ----- headers and content types -----

// The value of the first header whose name equals `lower_name` ignoring ASCII
// case (`lower_name` must be lower case); nullopt when absent.
std::optional<std::string_view> FindHeader(const RawMessage& msg, std::string_view lower_name);

enum class ContentKind : uint8_t {
  kJson,             // absent, application/json, text/json, */*+json
  kCloudEventsJson,  // application/cloudevents+json
  kProtobuf,         // application/(x-)protobuf[;messageType=cairn.v1.Event]
  kUnsupported,      // anything else
};

// Classifies a content-type value. The media type and parameter names are
// compared ignoring ASCII case; parameters other than messageType are ignored.
ContentKind ClassifyContentType(std::string_view content_type);

// ----- JSON -----

// Owns a reusable simdjson parser and padded input buffer. The element a
// successful Parse returns is valid until the next Parse.
class JsonDocument {
 public:
  explicit JsonDocument(uint32_t max_depth);

  // kTooDeep when nested deeper than max_depth (the root counts as 1),
  // kTooLarge when the parser cannot get memory for it, kMalformed for any
  // other error (including an empty document).
  Result Parse(std::string_view json, simdjson::dom::element& root);

 private:
  simdjson::dom::parser parser_;
  std::string padded_;  // input copy; size() >= input + SIMDJSON_PADDING
  size_t max_depth_;
};

// A member looked up in an object. A member whose value is null counts as
// absent; when a key repeats, the first occurrence wins.
struct Member {
  simdjson::dom::element value;
  bool present = false;

  void Set(simdjson::dom::element v) {
    if (!present && !v.is_null()) {
      value = v;
      present = true;
    }
  }
};

// Appends the minified JSON text of `value` (object keys in document order).
void AppendJson(simdjson::dom::element value, std::string& out);

// Sets `out` to the JSON object text of `member`, or "{}" when absent;
// kMalformed when it is present but not an object.
Result ObjectText(const Member& member, std::string_view name, std::string& out);

// Appends the top-level numeric members of `object` as (key, value), in
// document order. Non-numeric members are skipped.
void AppendNumericMembers(simdjson::dom::element object,
                          std::vector<std::pair<std::string, double>>& out);

// Sets `out` to an id given as a string or a number (integers without a
// fraction, e.g. 42 -> "42"). Absent leaves `out` empty. kMalformed for
// other JSON kinds.
Result IdText(const Member& member, std::string_view name, std::string& out);

// Appends the shortest round-trip decimal text of `value`; integral values
// within +-2^53 print without a fraction or exponent.
void AppendNumber(double value, std::string& out);

// Sets `out_ms` from an RFC 3339 string member, else to `fallback_ms` when
// absent. kBadTimestamp (quoting the value) when present but not a string or
// not a valid timestamp.
Result TimestampOf(const Member& member, std::string_view name, TimestampMs fallback_ms,
                   TimestampMs& out_ms);

// kMissingId unless the event has a user id or an anonymous id.
Result RequireCustomer(const Event& event);

// The Segment type named `name` ("track", ...), exact and case-sensitive.
std::optional<EventType> TypeFromName(std::string_view name);

// The name counted for a non-track event ("Page Viewed", ...); empty for track.
std::string_view FixedName(EventType type);

// ----- formats -----

// Segment-spec JSON: `root` is the parsed payload.
Result ParseSegmentJson(simdjson::dom::element root, const RawMessage& msg, Event& out);

// CloudEvents structured mode: `root` is the parsed payload.
Result ParseCloudEventStructured(simdjson::dom::element root, const RawMessage& msg, Event& out);

// CloudEvents binary mode: attributes in ce_* headers, the data in the payload.
Result ParseCloudEventBinary(const RawMessage& msg, JsonDocument& json, Event& out);

// Protobuf cairn.v1.Event. Owns the reused message and scratch space.
class ProtobufEventReader {
 public:
  explicit ProtobufEventReader(uint32_t max_depth);
  ~ProtobufEventReader();
  ProtobufEventReader(const ProtobufEventReader&) = delete;
  ProtobufEventReader& operator=(const ProtobufEventReader&) = delete;

  Result Parse(const RawMessage& msg, Event& out);

 private:
  struct State;  // the reused cairn.v1.Event and sort scratch
  std::unique_ptr<State> state_;
};

}  // namespace cairn::ingest::internal
