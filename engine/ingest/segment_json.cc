// Segment-spec JSON (https://segment.com/docs/connections/spec/) -> cairn::Event.
#include <string>
#include <string_view>

#include "ingest/formats.h"

namespace cairn::ingest::internal {

Result ParseSegmentJson(simdjson::dom::element root, const RawMessage& msg, Event& out) {
  simdjson::dom::object object;
  if (root.get(object) != simdjson::SUCCESS) {
    return Fail(DeadLetterReason::kMalformed, "a Segment event must be a JSON object");
  }

  // One pass over the members; the rest of the object is ignored.
  Member type, user_id, anonymous_id, event, message_id, timestamp, original_timestamp, properties,
      traits, context, previous_id;
  for (const simdjson::dom::key_value_pair& member : object) {
    const std::string_view key = member.key;
    if (key == "type") {
      type.Set(member.value);
    } else if (key == "userId") {
      user_id.Set(member.value);
    } else if (key == "anonymousId") {
      anonymous_id.Set(member.value);
    } else if (key == "event") {
      event.Set(member.value);
    } else if (key == "messageId") {
      message_id.Set(member.value);
    } else if (key == "timestamp") {
      timestamp.Set(member.value);
    } else if (key == "originalTimestamp") {
      original_timestamp.Set(member.value);
    } else if (key == "properties") {
      properties.Set(member.value);
    } else if (key == "traits") {
      traits.Set(member.value);
    } else if (key == "context") {
      context.Set(member.value);
    } else if (key == "previousId") {
      previous_id.Set(member.value);
    }
  }

  // type: absent means track when there is an `event`.
  if (!type.present && !event.present) {
    return Fail(DeadLetterReason::kMissingField, "no 'type' (and no 'event' to imply track)");
  }
  out.type = EventType::kTrack;
  if (type.present) {
    std::string_view name;
    if (type.value.get(name) != simdjson::SUCCESS) {
      return Fail(DeadLetterReason::kMalformed, "'type' must be a string");
    }
    const std::optional<EventType> parsed = TypeFromName(name);
    if (!parsed) return Fail(DeadLetterReason::kUnknownType, "unknown type " + Quote(name));
    out.type = *parsed;
  }

  if (auto error = IdText(user_id, "userId", out.user_id)) return error;
  if (auto error = IdText(anonymous_id, "anonymousId", out.anonymous_id)) return error;
  if (auto error = RequireCustomer(out)) return error;

  if (out.type == EventType::kTrack) {
    std::string_view name;
    if (!event.present || event.value.get(name) != simdjson::SUCCESS || name.empty()) {
      return Fail(DeadLetterReason::kMissingField, "track needs 'event'");
    }
    out.name.assign(name);
  } else {
    out.name.assign(FixedName(out.type));
  }

  if (out.type == EventType::kAlias) {
    // Any failure to read previousId as a string or number means it is missing.
    if (IdText(previous_id, "previousId", out.previous_id) || out.previous_id.empty()) {
      return Fail(DeadLetterReason::kMissingField, "alias needs 'previousId'");
    }
  }

  if (auto error = IdText(message_id, "messageId", out.message_id)) return error;

  const bool has_timestamp = timestamp.present;
  if (auto error = TimestampOf(has_timestamp ? timestamp : original_timestamp,
                               has_timestamp ? "timestamp" : "originalTimestamp",
                               msg.broker_timestamp_ms, out.timestamp_ms)) {
    return error;
  }

  if (auto error = ObjectText(properties, "properties", out.properties_json)) return error;
  if (auto error = ObjectText(traits, "traits", out.traits_json)) return error;
  if (auto error = ObjectText(context, "context", out.context_json)) return error;
  if (properties.present) AppendNumericMembers(properties.value, out.numeric_properties);
  return std::nullopt;
}

}  // namespace cairn::ingest::internal
