// CloudEvents 1.0 (Kafka protocol binding) -> cairn::Event.
//
// Mapping, the same in both modes:
//   type -> name (required); "identify" -> EventType::kIdentify, name "Identify",
//           data -> traits_json; any other type -> kTrack, data -> properties_json
//   id -> message_id; time -> timestamp_ms (absent: the broker's timestamp)
//   userid extension -> user_id; anonymousid extension -> anonymous_id;
//   when neither: subject -> user_id, else the message key -> user_id
//   data: a JSON object (absent or an empty binary payload: "{}")
#include <string>
#include <string_view>

#include "cairn/time.h"
#include "ingest/formats.h"

namespace cairn::ingest::internal {
namespace {

// Sets type and name from the CloudEvent type; returns where the data goes.
std::string& ApplyType(std::string_view ce_type, Event& out) {
  if (ce_type == "identify") {
    out.type = EventType::kIdentify;
    out.name.assign(FixedName(EventType::kIdentify));
    out.properties_json.assign("{}");
    return out.traits_json;
  }
  out.type = EventType::kTrack;
  out.name.assign(ce_type);
  out.traits_json.assign("{}");
  return out.properties_json;
}

// The last resorts for the customer: the subject, else the message key.
void FallBackToSubjectOrKey(std::string_view subject, const RawMessage& msg, Event& out) {
  if (!out.user_id.empty() || !out.anonymous_id.empty()) return;
  out.user_id.assign(subject.empty() ? msg.key : subject);
}

}  // namespace

Result ParseCloudEventBinary(const RawMessage& msg, JsonDocument& json, Event& out) {
  const std::string_view ce_type = FindHeader(msg, "ce_type").value_or("");
  if (ce_type.empty()) return Fail(DeadLetterReason::kMissingField, "CloudEvent needs 'ce_type'");

  out.user_id.assign(FindHeader(msg, "ce_userid").value_or(""));
  out.anonymous_id.assign(FindHeader(msg, "ce_anonymousid").value_or(""));
  FallBackToSubjectOrKey(FindHeader(msg, "ce_subject").value_or(""), msg, out);
  if (auto error = RequireCustomer(out)) return error;

  out.message_id.assign(FindHeader(msg, "ce_id").value_or(""));

  if (const auto time = FindHeader(msg, "ce_time")) {
    const std::optional<TimestampMs> ms = ParseTimestamp(*time);
    if (!ms) {
      return Fail(DeadLetterReason::kBadTimestamp,
                  "'ce_time' is not an RFC 3339 time: " + Quote(*time));
    }
    out.timestamp_ms = *ms;
  } else {
    out.timestamp_ms = msg.broker_timestamp_ms;
  }

  const std::string_view content_type = FindHeader(msg, "content-type").value_or("");
  const ContentKind kind = ClassifyContentType(content_type);
  if (kind != ContentKind::kJson && kind != ContentKind::kCloudEventsJson) {
    return Fail(DeadLetterReason::kUnsupportedContentType,
                "CloudEvent data content-type " + Quote(content_type) + " is not JSON");
  }

  std::string& data_json = ApplyType(ce_type, out);
  out.context_json.assign("{}");
  if (msg.payload.empty()) {
    data_json.assign("{}");
    return std::nullopt;
  }
  simdjson::dom::element data;
  if (auto error = json.Parse(msg.payload, data)) return error;
  if (data.type() != simdjson::dom::element_type::OBJECT) {
    return Fail(DeadLetterReason::kMalformed, "CloudEvent data must be a JSON object");
  }
  AppendJson(data, data_json);
  if (out.type == EventType::kTrack) AppendNumericMembers(data, out.numeric_properties);
  return std::nullopt;
}

Result ParseCloudEventStructured(simdjson::dom::element root, const RawMessage& msg, Event& out) {
  simdjson::dom::object object;
  if (root.get(object) != simdjson::SUCCESS) {
    return Fail(DeadLetterReason::kMalformed, "a structured CloudEvent must be a JSON object");
  }

  Member spec_version, type, id, time, subject, user_id, anonymous_id, data, data_base64,
      data_content_type;
  for (const simdjson::dom::key_value_pair& member : object) {
    const std::string_view key = member.key;
    if (key == "specversion") {
      spec_version.Set(member.value);
    } else if (key == "type") {
      type.Set(member.value);
    } else if (key == "id") {
      id.Set(member.value);
    } else if (key == "time") {
      time.Set(member.value);
    } else if (key == "subject") {
      subject.Set(member.value);
    } else if (key == "userid") {
      user_id.Set(member.value);
    } else if (key == "anonymousid") {
      anonymous_id.Set(member.value);
    } else if (key == "data") {
      data.Set(member.value);
    } else if (key == "data_base64") {
      data_base64.Set(member.value);
    } else if (key == "datacontenttype") {
      data_content_type.Set(member.value);
    }
  }

  std::string_view text;
  if (!spec_version.present || spec_version.value.get(text) != simdjson::SUCCESS) {
    return Fail(DeadLetterReason::kMalformed, "a CloudEvent needs a string 'specversion'");
  }
  if (data_base64.present) {
    return Fail(DeadLetterReason::kUnsupportedContentType,
                "CloudEvent 'data_base64' (binary data) is not supported");
  }
  if (data_content_type.present) {
    if (data_content_type.value.get(text) != simdjson::SUCCESS) {
      return Fail(DeadLetterReason::kMalformed, "'datacontenttype' must be a string");
    }
    const ContentKind kind = ClassifyContentType(text);
    if (kind != ContentKind::kJson && kind != ContentKind::kCloudEventsJson) {
      return Fail(DeadLetterReason::kUnsupportedContentType,
                  "CloudEvent datacontenttype " + Quote(text) + " is not JSON");
    }
  }

  std::string_view ce_type;
  if (!type.present) return Fail(DeadLetterReason::kMissingField, "CloudEvent needs 'type'");
  if (type.value.get(ce_type) != simdjson::SUCCESS) {
    return Fail(DeadLetterReason::kMalformed, "CloudEvent 'type' must be a string");
  }
  if (ce_type.empty()) return Fail(DeadLetterReason::kMissingField, "CloudEvent needs 'type'");

  if (auto error = IdText(user_id, "userid", out.user_id)) return error;
  if (auto error = IdText(anonymous_id, "anonymousid", out.anonymous_id)) return error;
  if (out.user_id.empty() && out.anonymous_id.empty()) {
    std::string subject_text;  // rare path: only when neither extension is set
    if (auto error = IdText(subject, "subject", subject_text)) return error;
    FallBackToSubjectOrKey(subject_text, msg, out);
  }
  if (auto error = RequireCustomer(out)) return error;

  if (auto error = IdText(id, "id", out.message_id)) return error;
  if (auto error = TimestampOf(time, "time", msg.broker_timestamp_ms, out.timestamp_ms)) {
    return error;
  }

  std::string& data_json = ApplyType(ce_type, out);
  out.context_json.assign("{}");
  if (auto error = ObjectText(data, "data", data_json)) return error;
  if (data.present && out.type == EventType::kTrack) {
    AppendNumericMembers(data.value, out.numeric_properties);
  }
  return std::nullopt;
}

}  // namespace cairn::ingest::internal
