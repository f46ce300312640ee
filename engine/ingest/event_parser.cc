// EventParser: size check, format selection, and the helpers the formats share.
#include "ingest/event_parser.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>

#include "cairn/json_text.h"
#include "cairn/time.h"
#include "ingest/formats.h"

namespace cairn::ingest {
namespace internal {
namespace {

constexpr size_t kQuoteLimit = 64;  // bytes of a value quoted in a detail
constexpr size_t kInitialJsonCapacity =
    size_t{16} * 1024;                                   // grows on demand up to the message size
constexpr double kMaxExactInteger = 9007199254740992.0;  // 2^53

char LowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// `text` equals `lower` ignoring ASCII case; `lower` is lower case.
bool EqualsIgnoreCase(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (LowerAscii(text[i]) != lower[i]) return false;
  }
  return true;
}

bool EndsWithIgnoreCase(std::string_view text, std::string_view lower) {
  return text.size() >= lower.size() &&
         EqualsIgnoreCase(text.substr(text.size() - lower.size()), lower);
}

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// True unless a messageType parameter names something other than cairn.v1.Event.
bool ProtobufParamsAccepted(std::string_view params) {
  while (!params.empty()) {
    const size_t semi = params.find(';');
    const std::string_view param = params.substr(0, semi);
    params = semi == std::string_view::npos ? std::string_view() : params.substr(semi + 1);
    const size_t eq = param.find('=');
    if (eq == std::string_view::npos) continue;
    if (!EqualsIgnoreCase(TrimSpace(param.substr(0, eq)), "messagetype")) continue;
    std::string_view value = TrimSpace(param.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    if (value != "cairn.v1.Event") return false;
  }
  return true;
}

template <typename Int>
void AppendInteger(Int value, std::string& out) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, res.ptr);
}

}  // namespace

Result Fail(DeadLetterReason reason, std::string detail) {
  return ParseError{reason, std::move(detail)};
}

std::string Quote(std::string_view text) {
  std::string out;
  const size_t n = std::min(text.size(), kQuoteLimit);
  out.reserve(n + 5);
  out.push_back('"');
  for (size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    out.push_back(c >= 0x20 && c < 0x7F ? text[i] : '?');
  }
  if (n < text.size()) out.append("...");
  out.push_back('"');
  return out;
}

std::optional<std::string_view> FindHeader(const RawMessage& msg, std::string_view lower_name) {
  for (const auto& [name, value] : msg.headers) {
    if (EqualsIgnoreCase(name, lower_name)) return value;
  }
  return std::nullopt;
}

ContentKind ClassifyContentType(std::string_view content_type) {
  const size_t semi = content_type.find(';');
  const std::string_view media = TrimSpace(content_type.substr(0, semi));
  if (media.empty() || EqualsIgnoreCase(media, "application/json") ||
      EqualsIgnoreCase(media, "text/json")) {
    return ContentKind::kJson;
  }
  if (EqualsIgnoreCase(media, "application/cloudevents+json")) return ContentKind::kCloudEventsJson;
  if (EndsWithIgnoreCase(media, "+json")) return ContentKind::kJson;
  if (EqualsIgnoreCase(media, "application/x-protobuf") ||
      EqualsIgnoreCase(media, "application/protobuf")) {
    const std::string_view params =
        semi == std::string_view::npos ? std::string_view() : content_type.substr(semi + 1);
    return ProtobufParamsAccepted(params) ? ContentKind::kProtobuf : ContentKind::kUnsupported;
  }
  return ContentKind::kUnsupported;
}

// The parser's buffers are allocated by the first Parse.
JsonDocument::JsonDocument(uint32_t max_depth) : max_depth_(std::max<uint32_t>(max_depth, 1)) {}

Result JsonDocument::Parse(std::string_view json, simdjson::dom::element& root) {
  if (parser_.max_depth() != max_depth_) {
    const size_t capacity = std::max(json.size(), kInitialJsonCapacity);
    if (parser_.allocate(capacity, max_depth_) != simdjson::SUCCESS) {
      return Fail(DeadLetterReason::kTooLarge,
                  "cannot allocate a JSON parser for " + std::to_string(json.size()) + " bytes");
    }
  }
  // simdjson reads up to SIMDJSON_PADDING bytes past the end: parse a copy.
  const size_t padded_size = json.size() + simdjson::SIMDJSON_PADDING;
  if (padded_.size() < padded_size) padded_.resize(padded_size);
  if (!json.empty()) std::memcpy(padded_.data(), json.data(), json.size());
  std::memset(padded_.data() + json.size(), ' ', simdjson::SIMDJSON_PADDING);

  const simdjson::error_code error = parser_.parse(padded_.data(), json.size(), false).get(root);
  switch (error) {
    case simdjson::SUCCESS:
      return std::nullopt;
    case simdjson::DEPTH_ERROR:
      return Fail(DeadLetterReason::kTooDeep,
                  "JSON nested deeper than " + std::to_string(max_depth_) + " levels");
    case simdjson::MEMALLOC:
    case simdjson::CAPACITY:
      return Fail(DeadLetterReason::kTooLarge, std::string("JSON of ") +
                                                   std::to_string(json.size()) +
                                                   " bytes: " + simdjson::error_message(error));
    default:
      return Fail(DeadLetterReason::kMalformed,
                  std::string("invalid JSON: ") + simdjson::error_message(error));
  }
}

void AppendJson(simdjson::dom::element value, std::string& out) {
  using simdjson::dom::element_type;
  switch (value.type()) {
    case element_type::OBJECT: {
      simdjson::dom::object object;
      if (value.get(object) != simdjson::SUCCESS) return;
      out.push_back('{');
      bool first = true;
      for (const simdjson::dom::key_value_pair& member : object) {
        if (!first) out.push_back(',');
        first = false;
        AppendJsonString(member.key, out);
        out.push_back(':');
        AppendJson(member.value, out);
      }
      out.push_back('}');
      return;
    }
    case element_type::ARRAY: {
      simdjson::dom::array array;
      if (value.get(array) != simdjson::SUCCESS) return;
      out.push_back('[');
      bool first = true;
      for (simdjson::dom::element item : array) {
        if (!first) out.push_back(',');
        first = false;
        AppendJson(item, out);
      }
      out.push_back(']');
      return;
    }
    case element_type::STRING: {
      std::string_view s;
      if (value.get(s) == simdjson::SUCCESS) AppendJsonString(s, out);
      return;
    }
    case element_type::INT64: {
      int64_t v = 0;
      if (value.get(v) == simdjson::SUCCESS) AppendInteger(v, out);
      return;
    }
    case element_type::UINT64: {
      uint64_t v = 0;
      if (value.get(v) == simdjson::SUCCESS) AppendInteger(v, out);
      return;
    }
    case element_type::DOUBLE: {
      double v = 0;
      if (value.get(v) != simdjson::SUCCESS) return;
      char buf[32];
      const auto res = std::to_chars(buf, buf + sizeof buf, v);
      out.append(buf, res.ptr);
      return;
    }
    case element_type::BOOL: {
      bool v = false;
      if (value.get(v) == simdjson::SUCCESS) out.append(v ? "true" : "false");
      return;
    }
    case element_type::NULL_VALUE:
      out.append("null");
      return;
  }
}

Result ObjectText(const Member& member, std::string_view name, std::string& out) {
  if (!member.present) {
    out.assign("{}");
    return std::nullopt;
  }
  if (member.value.type() != simdjson::dom::element_type::OBJECT) {
    return Fail(DeadLetterReason::kMalformed, "'" + std::string(name) + "' must be an object");
  }
  out.clear();
  AppendJson(member.value, out);
  return std::nullopt;
}

void AppendNumericMembers(simdjson::dom::element object,
                          std::vector<std::pair<std::string, double>>& out) {
  simdjson::dom::object members;
  if (object.get(members) != simdjson::SUCCESS) return;
  for (const simdjson::dom::key_value_pair& member : members) {
    double number = 0;
    switch (member.value.type()) {
      case simdjson::dom::element_type::INT64: {
        int64_t v = 0;
        if (member.value.get(v) != simdjson::SUCCESS) continue;
        number = static_cast<double>(v);
        break;
      }
      case simdjson::dom::element_type::UINT64: {
        uint64_t v = 0;
        if (member.value.get(v) != simdjson::SUCCESS) continue;
        number = static_cast<double>(v);
        break;
      }
      case simdjson::dom::element_type::DOUBLE:
        if (member.value.get(number) != simdjson::SUCCESS) continue;
        break;
      default:
        continue;
    }
    out.emplace_back(member.key, number);
  }
}

void AppendNumber(double value, std::string& out) {
  if (std::isfinite(value) && std::trunc(value) == value && std::fabs(value) <= kMaxExactInteger) {
    AppendInteger(static_cast<int64_t>(value), out);
    return;
  }
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, res.ptr);
}

Result IdText(const Member& member, std::string_view name, std::string& out) {
  if (!member.present) return std::nullopt;
  switch (member.value.type()) {
    case simdjson::dom::element_type::STRING: {
      std::string_view s;
      if (member.value.get(s) == simdjson::SUCCESS) out.assign(s);
      return std::nullopt;
    }
    case simdjson::dom::element_type::INT64: {
      int64_t v = 0;
      if (member.value.get(v) == simdjson::SUCCESS) AppendInteger(v, out);
      return std::nullopt;
    }
    case simdjson::dom::element_type::UINT64: {
      uint64_t v = 0;
      if (member.value.get(v) == simdjson::SUCCESS) AppendInteger(v, out);
      return std::nullopt;
    }
    case simdjson::dom::element_type::DOUBLE: {
      double v = 0;
      if (member.value.get(v) == simdjson::SUCCESS) AppendNumber(v, out);
      return std::nullopt;
    }
    default:
      return Fail(DeadLetterReason::kMalformed,
                  "'" + std::string(name) + "' must be a string or a number");
  }
}

Result TimestampOf(const Member& member, std::string_view name, TimestampMs fallback_ms,
                   TimestampMs& out_ms) {
  if (!member.present) {
    out_ms = fallback_ms;
    return std::nullopt;
  }
  std::string_view text;
  if (member.value.get(text) != simdjson::SUCCESS) {
    std::string json;
    AppendJson(member.value, json);
    return Fail(DeadLetterReason::kBadTimestamp,
                "'" + std::string(name) + "' is not a string: " + Quote(json));
  }
  const std::optional<TimestampMs> ms = ParseTimestamp(text);
  if (!ms) {
    return Fail(DeadLetterReason::kBadTimestamp,
                "'" + std::string(name) + "' is not an RFC 3339 time: " + Quote(text));
  }
  out_ms = *ms;
  return std::nullopt;
}

Result RequireCustomer(const Event& event) {
  if (event.user_id.empty() && event.anonymous_id.empty()) {
    return Fail(DeadLetterReason::kMissingId, "neither userId nor anonymousId");
  }
  return std::nullopt;
}

std::optional<EventType> TypeFromName(std::string_view name) {
  if (name == "track") return EventType::kTrack;
  if (name == "identify") return EventType::kIdentify;
  if (name == "page") return EventType::kPage;
  if (name == "screen") return EventType::kScreen;
  if (name == "alias") return EventType::kAlias;
  if (name == "group") return EventType::kGroup;
  return std::nullopt;
}

std::string_view FixedName(EventType type) {
  switch (type) {
    case EventType::kTrack:
      return {};
    case EventType::kIdentify:
      return "Identify";
    case EventType::kPage:
      return "Page Viewed";
    case EventType::kScreen:
      return "Screen Viewed";
    case EventType::kAlias:
      return "Alias";
    case EventType::kGroup:
      return "Group";
  }
  return {};
}

}  // namespace internal

std::string_view DeadLetterReasonName(DeadLetterReason reason) {
  switch (reason) {
    case DeadLetterReason::kMalformed:
      return "malformed";
    case DeadLetterReason::kUnknownType:
      return "unknown_type";
    case DeadLetterReason::kMissingId:
      return "missing_id";
    case DeadLetterReason::kMissingField:
      return "missing_field";
    case DeadLetterReason::kBadTimestamp:
      return "bad_timestamp";
    case DeadLetterReason::kTooLarge:
      return "too_large";
    case DeadLetterReason::kTooDeep:
      return "too_deep";
    case DeadLetterReason::kUnsupportedContentType:
      return "unsupported_content_type";
    case DeadLetterReason::kIdentity:
      return "identity";
  }
  return "malformed";
}

struct EventParser::Impl {
  explicit Impl(ParseOptions opts)
      : options(opts), json(opts.max_depth), protobuf(opts.max_depth) {}

  ParseOptions options;
  internal::JsonDocument json;
  internal::ProtobufEventReader protobuf;
};

EventParser::EventParser(ParseOptions options) : impl_(std::make_unique<Impl>(options)) {}

EventParser::~EventParser() = default;

std::optional<ParseError> EventParser::Parse(const RawMessage& msg, Event& out) {
  using internal::ContentKind;
  using internal::Fail;
  out.Clear();
  if (msg.payload.size() > impl_->options.max_bytes) {
    return Fail(DeadLetterReason::kTooLarge, "message is " + std::to_string(msg.payload.size()) +
                                                 " bytes, over the limit of " +
                                                 std::to_string(impl_->options.max_bytes));
  }
  if (internal::FindHeader(msg, "ce_specversion")) {
    return internal::ParseCloudEventBinary(msg, impl_->json, out);
  }
  const std::string_view content_type = internal::FindHeader(msg, "content-type").value_or("");
  simdjson::dom::element root;
  switch (internal::ClassifyContentType(content_type)) {
    case ContentKind::kJson:
      if (auto error = impl_->json.Parse(msg.payload, root)) return error;
      return internal::ParseSegmentJson(root, msg, out);
    case ContentKind::kCloudEventsJson:
      if (auto error = impl_->json.Parse(msg.payload, root)) return error;
      return internal::ParseCloudEventStructured(root, msg, out);
    case ContentKind::kProtobuf:
      return impl_->protobuf.Parse(msg, out);
    case ContentKind::kUnsupported:
      break;
  }
  return Fail(DeadLetterReason::kUnsupportedContentType,
              "content-type " + internal::Quote(content_type) +
                  " is not JSON, CloudEvents JSON or protobuf");
}

}  // namespace cairn::ingest
