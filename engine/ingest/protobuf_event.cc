// Protobuf cairn.v1.Event (proto/cairn/v1/event.proto) -> cairn::Event.
//
// The same rules as Segment JSON: empty `type` means track; track needs
// `event`, alias needs `previous_id`; an unset (or all-zero) timestamp means
// the broker's. Structs become JSON object text; numeric_properties are the
// number values of `properties`, sorted by key (a Struct's map has no order).
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <string>
#include <vector>

#include "cairn/v1/event.pb.h"
#include "ingest/formats.h"

namespace cairn::ingest::internal {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

// google.protobuf.Timestamp's valid range: 0001-01-01 .. 9999-12-31 UTC.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;

uint32_t ValueDepth(const Value& value, uint32_t budget);

// Nesting depth of `s` counting itself as 1; stops counting past `budget`.
uint32_t StructDepth(const Struct& s, uint32_t budget) {
  if (budget == 0) return 1;
  uint32_t deepest = 0;
  for (const auto& [key, value] : s.fields()) {
    deepest = std::max(deepest, ValueDepth(value, budget - 1));
    if (deepest >= budget) break;
  }
  return 1 + deepest;
}

uint32_t ValueDepth(const Value& value, uint32_t budget) {
  switch (value.kind_case()) {
    case Value::kStructValue:
      return StructDepth(value.struct_value(), budget);
    case Value::kListValue: {
      if (budget == 0) return 1;
      uint32_t deepest = 0;
      for (const Value& item : value.list_value().values()) {
        deepest = std::max(deepest, ValueDepth(item, budget - 1));
        if (deepest >= budget) break;
      }
      return 1 + deepest;
    }
    default:
      return 0;
  }
}

}  // namespace

struct ProtobufEventReader::State {
  uint32_t max_depth = 1;
  cairn::v1::Event message;
  std::vector<const google::protobuf::MapPair<std::string, Value>*> numbers;  // sort scratch

  // Sets `out` to the JSON text of struct field `name` ("{}" when unset).
  Result StructText(bool has, const Struct& s, const char* name, std::string& out) {
    if (!has) {
      out.assign("{}");
      return std::nullopt;
    }
    // The Event is depth 1, so its Structs start at depth 2.
    if (1 + StructDepth(s, max_depth) > max_depth) {
      return Fail(DeadLetterReason::kTooDeep, std::string("'") + name + "' nested deeper than " +
                                                  std::to_string(max_depth) + " levels");
    }
    out.clear();
    const auto status = google::protobuf::util::MessageToJsonString(s, &out);
    if (!status.ok()) {
      return Fail(DeadLetterReason::kMalformed,
                  std::string("'") + name + "' is not JSON-representable: " + status.ToString());
    }
    if (out.empty()) out.assign("{}");
    return std::nullopt;
  }
};

ProtobufEventReader::ProtobufEventReader(uint32_t max_depth) : state_(std::make_unique<State>()) {
  state_->max_depth = std::max<uint32_t>(max_depth, 1);
}

ProtobufEventReader::~ProtobufEventReader() = default;

Result ProtobufEventReader::Parse(const RawMessage& msg, Event& out) {
  cairn::v1::Event& m = state_->message;
  if (msg.payload.size() > static_cast<size_t>(INT_MAX)) {
    return Fail(DeadLetterReason::kTooLarge, "protobuf message over 2 GiB");
  }
  bool parsed = false;
  {
    // Bad input (e.g. invalid UTF-8 in a string) is reported as kMalformed;
    // protobuf's own log line for it would flood stderr under bad traffic.
    const google::protobuf::LogSilencer silence;
    parsed = m.ParseFromArray(msg.payload.data(), static_cast<int>(msg.payload.size()));
  }
  if (!parsed) return Fail(DeadLetterReason::kMalformed, "not a valid cairn.v1.Event protobuf");

  if (m.type().empty()) {
    out.type = EventType::kTrack;
  } else {
    const std::optional<EventType> type = TypeFromName(m.type());
    if (!type) return Fail(DeadLetterReason::kUnknownType, "unknown type " + Quote(m.type()));
    out.type = *type;
  }

  out.user_id.assign(m.user_id());
  out.anonymous_id.assign(m.anonymous_id());
  if (auto error = RequireCustomer(out)) return error;

  if (out.type == EventType::kTrack) {
    if (m.event().empty()) return Fail(DeadLetterReason::kMissingField, "track needs 'event'");
    out.name.assign(m.event());
  } else {
    out.name.assign(FixedName(out.type));
  }
  if (out.type == EventType::kAlias) {
    if (m.previous_id().empty()) {
      return Fail(DeadLetterReason::kMissingField, "alias needs 'previous_id'");
    }
    out.previous_id.assign(m.previous_id());
  }

  out.message_id.assign(m.message_id());

  const int64_t seconds = m.has_timestamp() ? m.timestamp().seconds() : 0;
  const int32_t nanos = m.has_timestamp() ? m.timestamp().nanos() : 0;
  if (seconds == 0 && nanos == 0) {
    out.timestamp_ms = msg.broker_timestamp_ms;
  } else if (seconds < kMinTimestampSeconds || seconds > kMaxTimestampSeconds || nanos < 0 ||
             nanos > 999999999) {
    return Fail(DeadLetterReason::kBadTimestamp,
                "'timestamp' out of range: seconds=" + std::to_string(seconds) +
                    " nanos=" + std::to_string(nanos));
  } else {
    out.timestamp_ms = seconds * 1000 + nanos / 1000000;
  }

  State& s = *state_;
  if (auto error =
          s.StructText(m.has_properties(), m.properties(), "properties", out.properties_json)) {
    return error;
  }
  if (auto error = s.StructText(m.has_traits(), m.traits(), "traits", out.traits_json)) {
    return error;
  }
  if (auto error = s.StructText(m.has_context(), m.context(), "context", out.context_json)) {
    return error;
  }

  s.numbers.clear();
  for (const auto& field : m.properties().fields()) {
    if (field.second.kind_case() == Value::kNumberValue &&
        std::isfinite(field.second.number_value())) {
      s.numbers.push_back(&field);
    }
  }
  std::sort(s.numbers.begin(), s.numbers.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
  for (const auto* field : s.numbers) {
    out.numeric_properties.emplace_back(field->first, field->second.number_value());
  }
  return std::nullopt;
}

}  // namespace cairn::ingest::internal
