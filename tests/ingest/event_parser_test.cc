#include "ingest/event_parser.h"

#include <google/protobuf/struct.pb.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "cairn/v1/event.pb.h"

namespace cairn::ingest {
namespace {

using namespace std::string_view_literals;
using Headers = std::vector<std::pair<std::string_view, std::string_view>>;
using Numbers = std::vector<std::pair<std::string, double>>;

constexpr TimestampMs kBroker = 1767225600000;         // 2026-01-01T00:00:00Z
constexpr TimestampMs kNov23At8 = 1795420800000;       // 2026-11-23T08:00:00Z
constexpr TimestampMs kNov23Midnight = 1795392000000;  // 2026-11-23T00:00:00Z

RawMessage Msg(std::string_view payload, Headers headers = {}, std::string_view key = {}) {
  RawMessage m;
  m.payload = payload;
  m.headers = std::move(headers);
  m.key = key;
  m.broker_timestamp_ms = kBroker;
  return m;
}

class EventParserTest : public ::testing::Test {
 protected:
  // Parses and expects success.
  Event Ok(const RawMessage& msg) {
    Event e;
    auto error = parser_.Parse(msg, e);
    EXPECT_FALSE(error.has_value()) << DeadLetterReasonName(error->reason) << ": " << error->detail
                                    << "\n  payload: " << msg.payload;
    return e;
  }
  Event Ok(std::string_view json) { return Ok(Msg(json)); }

  // Parses and expects failure with `reason`; returns the detail.
  std::string Fails(const RawMessage& msg, DeadLetterReason reason) {
    Event e;
    auto error = parser_.Parse(msg, e);
    if (!error.has_value()) {
      ADD_FAILURE() << "parsed, expected " << DeadLetterReasonName(reason)
                    << "\n  payload: " << msg.payload.substr(0, 200);
      return {};
    }
    EXPECT_EQ(DeadLetterReasonName(error->reason), DeadLetterReasonName(reason))
        << error->detail << "\n  payload: " << msg.payload.substr(0, 200);
    EXPECT_FALSE(error->detail.empty());
    return error->detail;
  }
  std::string Fails(std::string_view json, DeadLetterReason reason) {
    return Fails(Msg(json), reason);
  }

  EventParser parser_;
};

std::string Nested(int depth) {
  return std::string(static_cast<size_t>(depth), '[') +
         std::string(static_cast<size_t>(depth), ']');
}

// ---------------------------------------------------------------- names

TEST(DeadLetterReasonNameTest, NamesArePublicContract) {
  EXPECT_EQ(DeadLetterReasonName(DeadLetterReason::kMalformed), "malformed");
  EXPECT_EQ(DeadLetterReasonName(DeadLetterReason::kUnknownType), "unknown_type");
  EXPECT_EQ(DeadLetterReasonName(DeadLetterReason::kMissingId), "missing_id");
  EXPECT_EQ(DeadLetterReasonName(DeadLetterReason::kMissingField), "missing_field");
  EXPECT_EQ(DeadLetterReasonName(DeadLetterReason::kBadTimestamp), "bad_timestamp");
  EXPECT_EQ(DeadLetterReasonName(DeadLetterReason::kTooLarge), "too_large");
  EXPECT_EQ(DeadLetterReasonName(DeadLetterReason::kTooDeep), "too_deep");
  EXPECT_EQ(DeadLetterReasonName(DeadLetterReason::kUnsupportedContentType),
            "unsupported_content_type");
}

// ---------------------------------------------------------------- Segment JSON

TEST_F(EventParserTest, SegmentTrackMapsEveryField) {
  const Event e = Ok(R"({
    "type": "track",
    "userId": "u-1",
    "anonymousId": "anon-1",
    "event": "Order Completed",
    "messageId": "msg-1",
    "timestamp": "2026-11-23T08:00:00.123Z",
    "properties": { "total": 59.97, "currency": "USD", "items": [1, {"sku": "a"}], "quantity": 3 },
    "traits": { "plan": "pro" },
    "context": { "ip": "10.0.0.1", "library": { "name": "analytics.js" } },
    "sentAt": "2026-11-23T08:00:01Z"
  })");
  EXPECT_EQ(e.type, EventType::kTrack);
  EXPECT_EQ(e.user_id, "u-1");
  EXPECT_EQ(e.anonymous_id, "anon-1");
  EXPECT_EQ(e.customer_id(), "u-1");
  EXPECT_EQ(e.name, "Order Completed");
  EXPECT_EQ(e.message_id, "msg-1");
  EXPECT_EQ(e.timestamp_ms, kNov23At8 + 123);
  EXPECT_EQ(e.properties_json,
            R"({"total":59.97,"currency":"USD","items":[1,{"sku":"a"}],"quantity":3})");
  EXPECT_EQ(e.traits_json, R"({"plan":"pro"})");
  EXPECT_EQ(e.context_json, R"({"ip":"10.0.0.1","library":{"name":"analytics.js"}})");
  EXPECT_EQ(e.previous_id, "");
  EXPECT_EQ(e.numeric_properties, (Numbers{{"total", 59.97}, {"quantity", 3}}));
}

TEST_F(EventParserTest, SegmentAbsentObjectsAreEmptyObjects) {
  const Event e = Ok(R"({"type":"track","anonymousId":"a","event":"X","properties":null})");
  EXPECT_EQ(e.user_id, "");
  EXPECT_EQ(e.customer_id(), "a");
  EXPECT_EQ(e.properties_json, "{}");
  EXPECT_EQ(e.traits_json, "{}");
  EXPECT_EQ(e.context_json, "{}");
  EXPECT_TRUE(e.numeric_properties.empty());
  EXPECT_EQ(e.message_id, "");
}

TEST_F(EventParserTest, SegmentFixedNamesPerType) {
  struct Case {
    const char* json;
    EventType type;
    const char* name;
  };
  const Case cases[] = {
      {R"({"type":"page","userId":"u","name":"Catalog"})", EventType::kPage, "Page Viewed"},
      {R"({"type":"screen","userId":"u"})", EventType::kScreen, "Screen Viewed"},
      {R"({"type":"identify","userId":"u","traits":{"email":"a@b.c"}})", EventType::kIdentify,
       "Identify"},
      {R"({"type":"group","userId":"u","groupId":"g"})", EventType::kGroup, "Group"},
      {R"({"type":"alias","userId":"u","previousId":"anon"})", EventType::kAlias, "Alias"},
      {R"({"userId":"u","event":"Implied Track"})", EventType::kTrack, "Implied Track"},
  };
  for (const Case& c : cases) {
    const Event e = Ok(c.json);
    EXPECT_EQ(e.type, c.type) << c.json;
    EXPECT_EQ(e.name, c.name) << c.json;
  }
}

TEST_F(EventParserTest, SegmentIdentifyKeepsTraits) {
  const Event e = Ok(R"({"type":"identify","userId":"u","traits":{"email":"a@b.c","age":30}})");
  EXPECT_EQ(e.traits_json, R"({"email":"a@b.c","age":30})");
  EXPECT_EQ(e.properties_json, "{}");
  EXPECT_TRUE(e.numeric_properties.empty());
}

TEST_F(EventParserTest, SegmentAlias) {
  Event e = Ok(R"({"type":"alias","userId":"u-9","previousId":"anon-3"})");
  EXPECT_EQ(e.user_id, "u-9");
  EXPECT_EQ(e.previous_id, "anon-3");
  e = Ok(R"({"type":"alias","userId":"u-9","previousId":77})");
  EXPECT_EQ(e.previous_id, "77");
  EXPECT_NE(
      Fails(R"({"type":"alias","userId":"u"})", DeadLetterReason::kMissingField).find("previousId"),
      std::string::npos);
  Fails(R"({"type":"alias","userId":"u","previousId":""})", DeadLetterReason::kMissingField);
  Fails(R"({"type":"alias","userId":"u","previousId":{}})", DeadLetterReason::kMissingField);
}

TEST_F(EventParserTest, NumbersAsIds) {
  Event e = Ok(R"({"type":"track","userId":42,"anonymousId":-7,"event":"E","messageId":9})");
  EXPECT_EQ(e.user_id, "42");
  EXPECT_EQ(e.anonymous_id, "-7");
  EXPECT_EQ(e.message_id, "9");
  e = Ok(R"({"type":"track","userId":18446744073709551615,"event":"E"})");
  EXPECT_EQ(e.user_id, "18446744073709551615");
  e = Ok(R"({"type":"track","userId":1e3,"event":"E"})");
  EXPECT_EQ(e.user_id, "1000");
  e = Ok(R"({"type":"track","userId":12.0,"event":"E"})");
  EXPECT_EQ(e.user_id, "12");
  e = Ok(R"({"type":"track","userId":1.5,"event":"E"})");
  EXPECT_EQ(e.user_id, "1.5");
  e = Ok(R"({"type":"track","userId":null,"anonymousId":0,"event":"E"})");
  EXPECT_EQ(e.user_id, "");
  EXPECT_EQ(e.anonymous_id, "0");
  Fails(R"({"type":"track","userId":true,"event":"E"})", DeadLetterReason::kMalformed);
  Fails(R"({"type":"track","userId":["u"],"event":"E"})", DeadLetterReason::kMalformed);
  Fails(R"({"type":"track","userId":"u","event":"E","messageId":{}})",
        DeadLetterReason::kMalformed);
}

TEST_F(EventParserTest, NumericPropertiesInDocumentOrder) {
  const Event e = Ok(R"({"type":"track","userId":"u","event":"E","properties":{
      "z":1, "name":"x", "a":2.5, "neg":-3, "flag":true, "nil":null, "obj":{"n":5},
      "arr":[1], "big":18446744073709551615, "exp":1e2, "numstr":"7"}})");
  EXPECT_EQ(
      e.numeric_properties,
      (Numbers{
          {"z", 1.0}, {"a", 2.5}, {"neg", -3.0}, {"big", 18446744073709551615.0}, {"exp", 100.0}}));
}

TEST_F(EventParserTest, MinifiedTextEscapesStrings) {
  const Event e =
      Ok(R"({"type":"track","userId":"u","event":"E","properties":{"q":"a\"b\\c\n\t\u0001/é€"}})");
  EXPECT_EQ(e.properties_json, "{\"q\":\"a\\\"b\\\\c\\n\\t\\u0001/\xC3\xA9\xE2\x82\xAC\"}");
  simdjson::dom::parser p;
  simdjson::dom::element root;
  ASSERT_EQ(p.parse(e.properties_json).get(root), simdjson::SUCCESS);
  std::string_view q;
  ASSERT_EQ(root["q"].get(q), simdjson::SUCCESS);
  EXPECT_EQ(q, "a\"b\\c\n\t\x01/\xC3\xA9\xE2\x82\xAC");
}

TEST_F(EventParserTest, TimestampPrecedenceAndFallback) {
  // timestamp wins over originalTimestamp; sentAt/receivedAt are never used.
  Event e = Ok(R"({"type":"track","userId":"u","event":"E","timestamp":"2026-11-23T08:00:00Z",
                   "originalTimestamp":"2020-01-01T00:00:00Z"})");
  EXPECT_EQ(e.timestamp_ms, kNov23At8);
  e = Ok(R"({"type":"track","userId":"u","event":"E","originalTimestamp":"2026-11-23T08:00:00Z",
             "sentAt":"2020-01-01T00:00:00Z"})");
  EXPECT_EQ(e.timestamp_ms, kNov23At8);
  e = Ok(R"({"type":"track","userId":"u","event":"E","sentAt":"2020-01-01T00:00:00Z",
             "receivedAt":"2020-01-01T00:00:00Z"})");
  EXPECT_EQ(e.timestamp_ms, kBroker);
  e = Ok(R"({"type":"track","userId":"u","event":"E","timestamp":null})");
  EXPECT_EQ(e.timestamp_ms, kBroker);
}

TEST_F(EventParserTest, TimestampWithOffsetAndDateOnly) {
  Event e = Ok(
      R"({"type":"track","userId":"u","event":"E","timestamp":"2026-11-23T10:00:00.250+02:00"})");
  EXPECT_EQ(e.timestamp_ms, kNov23At8 + 250);
  e = Ok(R"({"type":"track","userId":"u","event":"E","timestamp":"2026-11-23T03:30:00-04:30"})");
  EXPECT_EQ(e.timestamp_ms, kNov23At8);
  e = Ok(R"({"type":"track","userId":"u","event":"E","timestamp":"2026-11-23"})");
  EXPECT_EQ(e.timestamp_ms, kNov23Midnight);
}

// ---------------------------------------------------------------- dead-letter reasons

TEST_F(EventParserTest, MalformedJson) {
  Fails("{not json", DeadLetterReason::kMalformed);
  Fails("", DeadLetterReason::kMalformed);
  Fails("   ", DeadLetterReason::kMalformed);
  Fails(R"({"type":"track","userId":"u","event":"E"} trailing)", DeadLetterReason::kMalformed);
  Fails(R"({"type":"track","userId":"u","event":"E)", DeadLetterReason::kMalformed);
  Fails(std::string_view("{\"a\":\"\xff\"}"), DeadLetterReason::kMalformed);  // invalid UTF-8
  Fails("[1,2]", DeadLetterReason::kMalformed);                               // not an object
  Fails("\"track\"", DeadLetterReason::kMalformed);
  Fails(R"({"type":5,"userId":"u"})", DeadLetterReason::kMalformed);
  Fails(R"({"type":"track","userId":"u","event":"E","properties":"x"})",
        DeadLetterReason::kMalformed);
  Fails(R"({"type":"track","userId":"u","event":"E","context":[]})", DeadLetterReason::kMalformed);
  Fails(R"({"type":"identify","userId":"u","traits":1})", DeadLetterReason::kMalformed);
  const std::string detail = Fails(R"({"type":"track","userId":"u","event":"E","properties":"x"})",
                                   DeadLetterReason::kMalformed);
  EXPECT_NE(detail.find("'properties' must be an object"), std::string::npos) << detail;
}

TEST_F(EventParserTest, MissingId) {
  Fails(R"({"type":"track","event":"X"})", DeadLetterReason::kMissingId);
  Fails(R"({"type":"track","userId":"","anonymousId":null,"event":"X"})",
        DeadLetterReason::kMissingId);
  Fails(R"({"type":"identify","traits":{}})", DeadLetterReason::kMissingId);
}

TEST_F(EventParserTest, MissingField) {
  EXPECT_NE(Fails(R"({"type":"track","userId":"u"})", DeadLetterReason::kMissingField)
                .find("track needs 'event'"),
            std::string::npos);
  Fails(R"({"type":"track","userId":"u","event":""})", DeadLetterReason::kMissingField);
  Fails(R"({"type":"track","userId":"u","event":7})", DeadLetterReason::kMissingField);
  Fails(R"({"userId":"u"})", DeadLetterReason::kMissingField);  // no type, no event
}

TEST_F(EventParserTest, TooLarge) {
  const std::string spaces(300000, ' ');
  const std::string detail = Fails(spaces, DeadLetterReason::kTooLarge);
  EXPECT_NE(detail.find("300000"), std::string::npos) << detail;
  EXPECT_NE(detail.find("262144"), std::string::npos) << detail;
}

TEST_F(EventParserTest, SizeLimitIsInclusive) {
  EventParser small({.max_bytes = 64, .max_depth = 32});
  std::string json = R"({"type":"track","userId":"u","event":"E"})";
  json.resize(64, ' ');
  Event e;
  EXPECT_FALSE(small.Parse(Msg(json), e).has_value());
  json.push_back(' ');
  auto error = small.Parse(Msg(json), e);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->reason, DeadLetterReason::kTooLarge);
}

TEST_F(EventParserTest, TooDeep) {
  const std::string deep =
      R"({"type":"track","userId":"u","event":"E","properties":{"a":)" + Nested(40) + "}}";
  const std::string detail = Fails(deep, DeadLetterReason::kTooDeep);
  EXPECT_NE(detail.find("32"), std::string::npos) << detail;
  // The root object and properties are 2 levels: 30 more arrays make exactly 32.
  const std::string at_limit =
      R"({"type":"track","userId":"u","event":"E","properties":{"a":)" + Nested(30) + "}}";
  const Event e = Ok(at_limit);
  EXPECT_EQ(e.properties_json, R"({"a":)" + Nested(30) + "}");
  Fails(R"({"type":"track","userId":"u","event":"E","properties":{"a":)" + Nested(31) + "}}",
        DeadLetterReason::kTooDeep);
}

TEST_F(EventParserTest, MaxDepthOption) {
  EventParser shallow({.max_bytes = 1024, .max_depth = 3});
  Event e;
  EXPECT_FALSE(
      shallow.Parse(Msg(R"({"userId":"u","event":"E","properties":{"a":{}}})"), e).has_value());
  auto error = shallow.Parse(Msg(R"({"userId":"u","event":"E","properties":{"a":[[]]}})"), e);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->reason, DeadLetterReason::kTooDeep);
}

TEST_F(EventParserTest, UnknownType) {
  const std::string detail =
      Fails(R"({"type":"purchase","userId":"u","event":"E"})", DeadLetterReason::kUnknownType);
  EXPECT_NE(detail.find("purchase"), std::string::npos) << detail;
  Fails(R"({"type":"Track","userId":"u","event":"E"})", DeadLetterReason::kUnknownType);
  Fails(R"({"type":"","userId":"u","event":"E"})", DeadLetterReason::kUnknownType);
}

TEST_F(EventParserTest, BadTimestamp) {
  std::string detail =
      Fails(R"({"type":"track","userId":"u","event":"E","timestamp":"last tuesday"})",
            DeadLetterReason::kBadTimestamp);
  EXPECT_NE(detail.find("\"last tuesday\""), std::string::npos) << detail;
  detail = Fails(R"({"type":"track","userId":"u","event":"E","timestamp":1767225600000})",
                 DeadLetterReason::kBadTimestamp);
  EXPECT_NE(detail.find("1767225600000"), std::string::npos) << detail;
  Fails(R"({"type":"track","userId":"u","event":"E","originalTimestamp":"2026-13-01T00:00:00Z"})",
        DeadLetterReason::kBadTimestamp);
  Fails(R"({"type":"track","userId":"u","event":"E","timestamp":"2026-11-23T08:00:00"})",
        DeadLetterReason::kBadTimestamp);  // a time needs a zone
  Fails(R"({"type":"track","userId":"u","event":"E","timestamp":""})",
        DeadLetterReason::kBadTimestamp);
}

TEST_F(EventParserTest, UnsupportedContentType) {
  const std::string detail =
      Fails(Msg(R"({"type":"track","userId":"u","event":"E"})", {{"content-type", "text/csv"}}),
            DeadLetterReason::kUnsupportedContentType);
  EXPECT_NE(detail.find("text/csv"), std::string::npos) << detail;
  Fails(Msg("a,b", {{"content-type", "application/octet-stream"}}),
        DeadLetterReason::kUnsupportedContentType);
  Fails(Msg("x", {{"content-type", "application/x-protobuf;messageType=other.v1.Thing"}}),
        DeadLetterReason::kUnsupportedContentType);
}

TEST_F(EventParserTest, JsonContentTypes) {
  const std::string_view json = R"({"type":"track","userId":"u","event":"E"})";
  for (const char* ct : {"application/json", "application/json; charset=utf-8", "text/json",
                         "application/vnd.segment+json", "APPLICATION/JSON", ""}) {
    EXPECT_EQ(Ok(Msg(json, {{"content-type", ct}})).name, "E") << ct;
  }
}

TEST_F(EventParserTest, HeaderNamesAreCaseInsensitive) {
  Fails(Msg(R"({"type":"track","userId":"u","event":"E"})", {{"Content-Type", "text/csv"}}),
        DeadLetterReason::kUnsupportedContentType);
  const Event e = Ok(Msg(R"({"total":5})", {{"CE_SpecVersion", "1.0"},
                                            {"Ce_Type", "Order Completed"},
                                            {"CE_ID", "id-1"},
                                            {"ce_UserId", "u-1"},
                                            {"CONTENT-TYPE", "application/json"}}));
  EXPECT_EQ(e.name, "Order Completed");
  EXPECT_EQ(e.message_id, "id-1");
  EXPECT_EQ(e.user_id, "u-1");
  const Event s = Ok(Msg(R"({"specversion":"1.0","type":"T","userid":"u"})",
                         {{"Content-Type", "application/cloudevents+json"}}));
  EXPECT_EQ(s.name, "T");
}

// ---------------------------------------------------------------- CloudEvents binary

TEST_F(EventParserTest, CloudEventBinaryMapsEveryField) {
  const Event e = Ok(Msg(R"({"order_id":"o-1","total":59.97,"quantity":3,"coupon":null})",
                         {{"ce_specversion", "1.0"},
                          {"ce_type", "Order Completed"},
                          {"ce_source", "/shop/web"},
                          {"ce_id", "msg-7"},
                          {"ce_time", "2026-11-23T08:00:00.5Z"},
                          {"ce_userid", "u-1"},
                          {"ce_anonymousid", "anon-1"},
                          {"content-type", "application/json"}},
                         "key-1"));
  EXPECT_EQ(e.type, EventType::kTrack);
  EXPECT_EQ(e.name, "Order Completed");
  EXPECT_EQ(e.message_id, "msg-7");
  EXPECT_EQ(e.timestamp_ms, kNov23At8 + 500);
  EXPECT_EQ(e.user_id, "u-1");
  EXPECT_EQ(e.anonymous_id, "anon-1");
  EXPECT_EQ(e.properties_json, R"({"order_id":"o-1","total":59.97,"quantity":3,"coupon":null})");
  EXPECT_EQ(e.traits_json, "{}");
  EXPECT_EQ(e.context_json, "{}");
  EXPECT_EQ(e.numeric_properties, (Numbers{{"total", 59.97}, {"quantity", 3}}));
}

TEST_F(EventParserTest, CloudEventBinaryCustomerFallbacks) {
  Event e =
      Ok(Msg("{}", {{"ce_specversion", "1.0"}, {"ce_type", "T"}, {"ce_anonymousid", "a"}}, "key"));
  EXPECT_EQ(e.user_id, "");
  EXPECT_EQ(e.anonymous_id, "a");
  e = Ok(Msg("{}", {{"ce_specversion", "1.0"}, {"ce_type", "T"}, {"ce_subject", "s"}}, "key"));
  EXPECT_EQ(e.user_id, "s");
  EXPECT_EQ(e.anonymous_id, "");
  e = Ok(Msg("{}", {{"ce_specversion", "1.0"}, {"ce_type", "T"}}, "key"));
  EXPECT_EQ(e.user_id, "key");
  Fails(Msg("{}", {{"ce_specversion", "1.0"}, {"ce_type", "T"}}), DeadLetterReason::kMissingId);
}

TEST_F(EventParserTest, CloudEventBinaryRules) {
  const Headers base = {{"ce_specversion", "1.0"}, {"ce_type", "T"}, {"ce_userid", "u"}};
  // No ce_time: the broker's timestamp. Empty payload: "{}". No content-type: JSON.
  Event e = Ok(Msg("", base));
  EXPECT_EQ(e.timestamp_ms, kBroker);
  EXPECT_EQ(e.properties_json, "{}");
  EXPECT_EQ(e.message_id, "");

  Fails(Msg("{}", {{"ce_specversion", "1.0"}, {"ce_userid", "u"}}),
        DeadLetterReason::kMissingField);
  Fails(Msg("{}", {{"ce_specversion", "1.0"}, {"ce_type", ""}, {"ce_userid", "u"}}),
        DeadLetterReason::kMissingField);

  Headers bad_time = base;
  bad_time.emplace_back("ce_time", "yesterday");
  EXPECT_NE(Fails(Msg("{}", bad_time), DeadLetterReason::kBadTimestamp).find("yesterday"),
            std::string::npos);

  Headers offset_time = base;
  offset_time.emplace_back("ce_time", "2026-11-23T09:00:00+01:00");
  EXPECT_EQ(Ok(Msg("{}", offset_time)).timestamp_ms, kNov23At8);

  Fails(Msg("[1]", base), DeadLetterReason::kMalformed);
  Fails(Msg("{oops", base), DeadLetterReason::kMalformed);
  Fails(Msg(R"({"a":)" + Nested(40) + "}", base), DeadLetterReason::kTooDeep);

  Headers csv = base;
  csv.emplace_back("content-type", "text/csv");
  Fails(Msg("a,b", csv), DeadLetterReason::kUnsupportedContentType);
  Headers proto = base;
  proto.emplace_back("content-type", "application/x-protobuf");
  Fails(Msg("", proto), DeadLetterReason::kUnsupportedContentType);
}

TEST_F(EventParserTest, CloudEventBinaryIdentify) {
  const Event e = Ok(Msg(R"({"email":"a@b.c","age":30})",
                         {{"ce_specversion", "1.0"}, {"ce_type", "identify"}, {"ce_userid", "u"}}));
  EXPECT_EQ(e.type, EventType::kIdentify);
  EXPECT_EQ(e.name, "Identify");
  EXPECT_EQ(e.traits_json, R"({"email":"a@b.c","age":30})");
  EXPECT_EQ(e.properties_json, "{}");
  EXPECT_TRUE(e.numeric_properties.empty());
}

// ---------------------------------------------------------------- CloudEvents structured

TEST_F(EventParserTest, CloudEventStructuredMapsEveryField) {
  const Event e = Ok(Msg(R"({"specversion":"1.0","type":"Checkout Started","source":"/web",
      "id":"ce-1","time":"2026-11-23T08:00:00Z","subject":"ignored","userid":"u-2",
      "anonymousid":"anon-2","datacontenttype":"application/json",
      "data":{"cart_id":"c-1","total":12.5}})",
                         {{"content-type", "application/cloudevents+json; charset=utf-8"}}));
  EXPECT_EQ(e.type, EventType::kTrack);
  EXPECT_EQ(e.name, "Checkout Started");
  EXPECT_EQ(e.message_id, "ce-1");
  EXPECT_EQ(e.timestamp_ms, kNov23At8);
  EXPECT_EQ(e.user_id, "u-2");
  EXPECT_EQ(e.anonymous_id, "anon-2");
  EXPECT_EQ(e.properties_json, R"({"cart_id":"c-1","total":12.5})");
  EXPECT_EQ(e.traits_json, "{}");
  EXPECT_EQ(e.context_json, "{}");
  EXPECT_EQ(e.numeric_properties, (Numbers{{"total", 12.5}}));
}

TEST_F(EventParserTest, CloudEventStructuredRules) {
  const Headers ce = {{"content-type", "application/cloudevents+json"}};
  Event e = Ok(Msg(R"({"specversion":"1.0","type":"T","subject":"s"})", ce, "key"));
  EXPECT_EQ(e.user_id, "s");
  EXPECT_EQ(e.timestamp_ms, kBroker);
  EXPECT_EQ(e.properties_json, "{}");
  e = Ok(Msg(R"({"specversion":"1.0","type":"T"})", ce, "key"));
  EXPECT_EQ(e.user_id, "key");
  e = Ok(Msg(R"({"specversion":"1.0","type":"identify","userid":"u","data":{"plan":"pro"}})", ce));
  EXPECT_EQ(e.type, EventType::kIdentify);
  EXPECT_EQ(e.traits_json, R"({"plan":"pro"})");

  Fails(Msg(R"({"specversion":"1.0","type":"T"})", ce), DeadLetterReason::kMissingId);
  Fails(Msg(R"({"specversion":"1.0","userid":"u"})", ce), DeadLetterReason::kMissingField);
  Fails(Msg(R"({"type":"T","userid":"u"})", ce), DeadLetterReason::kMalformed);
  Fails(Msg(R"({"specversion":"1.0","type":"T","userid":"u","data":"text"})", ce),
        DeadLetterReason::kMalformed);
  Fails(Msg(R"({"specversion":"1.0","type":"T","userid":"u","data_base64":"AAEC"})", ce),
        DeadLetterReason::kUnsupportedContentType);
  Fails(Msg(R"({"specversion":"1.0","type":"T","userid":"u","datacontenttype":"text/plain"})", ce),
        DeadLetterReason::kUnsupportedContentType);
  Fails(Msg(R"({"specversion":"1.0","type":"T","userid":"u","time":"soon"})", ce),
        DeadLetterReason::kBadTimestamp);
  Fails(Msg("[]", ce), DeadLetterReason::kMalformed);
  Fails(Msg("{", ce), DeadLetterReason::kMalformed);
}

// ---------------------------------------------------------------- protobuf

cairn::v1::Event FullProto() {
  cairn::v1::Event p;
  p.set_type("track");
  p.set_user_id("u-3");
  p.set_anonymous_id("anon-3");
  p.set_event("Order Completed");
  p.set_message_id("pb-1");
  p.mutable_timestamp()->set_seconds(kNov23At8 / 1000);
  p.mutable_timestamp()->set_nanos(123456789);
  auto& props = *p.mutable_properties()->mutable_fields();
  props["total"].set_number_value(59.97);
  props["currency"].set_string_value("USD");
  props["quantity"].set_number_value(3);
  props["gift"].set_bool_value(false);
  (*p.mutable_traits()->mutable_fields())["plan"].set_string_value("pro");
  (*p.mutable_context()->mutable_fields())["ip"].set_string_value("10.0.0.1");
  return p;
}

TEST_F(EventParserTest, ProtobufMapsEveryField) {
  const std::string bytes = FullProto().SerializeAsString();
  const Event e = Ok(Msg(bytes, {{"content-type", "application/x-protobuf"}}));
  EXPECT_EQ(e.type, EventType::kTrack);
  EXPECT_EQ(e.user_id, "u-3");
  EXPECT_EQ(e.anonymous_id, "anon-3");
  EXPECT_EQ(e.name, "Order Completed");
  EXPECT_EQ(e.message_id, "pb-1");
  EXPECT_EQ(e.timestamp_ms, kNov23At8 + 123);
  EXPECT_EQ(e.traits_json, R"({"plan":"pro"})");
  EXPECT_EQ(e.context_json, R"({"ip":"10.0.0.1"})");
  EXPECT_EQ(e.numeric_properties, (Numbers{{"quantity", 3}, {"total", 59.97}}));  // sorted
  // Map order is unspecified: check the object's members, not its text.
  simdjson::dom::parser p;
  simdjson::dom::element root;
  ASSERT_EQ(p.parse(e.properties_json).get(root), simdjson::SUCCESS) << e.properties_json;
  double total = 0;
  std::string_view currency;
  bool gift = true;
  EXPECT_EQ(root["total"].get(total), simdjson::SUCCESS);
  EXPECT_EQ(total, 59.97);
  EXPECT_EQ(root["currency"].get(currency), simdjson::SUCCESS);
  EXPECT_EQ(currency, "USD");
  EXPECT_EQ(root["gift"].get(gift), simdjson::SUCCESS);
  EXPECT_FALSE(gift);
  EXPECT_EQ(e.properties_json.find(' '), std::string::npos) << "not minified";
}

TEST_F(EventParserTest, ProtobufContentTypeVariants) {
  const std::string bytes = FullProto().SerializeAsString();
  for (const char* ct :
       {"application/x-protobuf", "application/protobuf",
        "application/protobuf; messageType=cairn.v1.Event",
        "application/x-protobuf;messageType=\"cairn.v1.Event\"", "Application/X-Protobuf"}) {
    EXPECT_EQ(Ok(Msg(bytes, {{"content-type", ct}})).name, "Order Completed") << ct;
  }
}

TEST_F(EventParserTest, ProtobufRules) {
  const Headers pb = {{"content-type", "application/protobuf"}};
  auto parse_ok = [&](const cairn::v1::Event& p) {
    const std::string bytes = p.SerializeAsString();
    return Ok(Msg(bytes, pb));
  };
  auto parse_fails = [&](const cairn::v1::Event& p, DeadLetterReason reason) {
    const std::string bytes = p.SerializeAsString();
    return Fails(Msg(bytes, pb), reason);
  };

  cairn::v1::Event p;
  p.set_user_id("u");
  p.set_event("E");
  Event e = parse_ok(p);  // empty type: track; no timestamp: broker; no structs: "{}"
  EXPECT_EQ(e.type, EventType::kTrack);
  EXPECT_EQ(e.name, "E");
  EXPECT_EQ(e.timestamp_ms, kBroker);
  EXPECT_EQ(e.properties_json, "{}");
  EXPECT_EQ(e.traits_json, "{}");
  EXPECT_EQ(e.context_json, "{}");

  p.mutable_timestamp();  // present but the epoch itself: still the broker's
  EXPECT_EQ(parse_ok(p).timestamp_ms, kBroker);
  p.mutable_properties();  // present but empty
  EXPECT_EQ(parse_ok(p).properties_json, "{}");

  cairn::v1::Event identify;
  identify.set_type("identify");
  identify.set_anonymous_id("a");
  (*identify.mutable_traits()->mutable_fields())["age"].set_number_value(30);
  e = parse_ok(identify);
  EXPECT_EQ(e.type, EventType::kIdentify);
  EXPECT_EQ(e.name, "Identify");
  EXPECT_EQ(e.customer_id(), "a");
  EXPECT_EQ(e.traits_json, R"({"age":30})");

  cairn::v1::Event alias;
  alias.set_type("alias");
  alias.set_user_id("u");
  parse_fails(alias, DeadLetterReason::kMissingField);
  alias.set_previous_id("anon");
  EXPECT_EQ(parse_ok(alias).previous_id, "anon");

  cairn::v1::Event bad = p;
  bad.set_type("purchase");
  EXPECT_NE(parse_fails(bad, DeadLetterReason::kUnknownType).find("purchase"), std::string::npos);
  bad = p;
  bad.clear_user_id();
  parse_fails(bad, DeadLetterReason::kMissingId);
  bad = p;
  bad.clear_event();
  parse_fails(bad, DeadLetterReason::kMissingField);
  bad = p;
  bad.mutable_timestamp()->set_seconds(kNov23At8 / 1000);
  bad.mutable_timestamp()->set_nanos(-1);
  parse_fails(bad, DeadLetterReason::kBadTimestamp);
  bad.mutable_timestamp()->set_nanos(0);
  bad.mutable_timestamp()->set_seconds(400000000000);  // past year 9999
  parse_fails(bad, DeadLetterReason::kBadTimestamp);

  bad = p;
  google::protobuf::Value* v = &(*bad.mutable_properties()->mutable_fields())["deep"];
  for (int i = 0; i < 40; ++i) v = v->mutable_list_value()->add_values();
  v->set_number_value(1);
  parse_fails(bad, DeadLetterReason::kTooDeep);

  Fails(Msg("\xff\xff\xff\xff garbage", pb), DeadLetterReason::kMalformed);
  Fails(Msg(std::string_view("\x12\x02\xc3\x28", 4), pb),
        DeadLetterReason::kMalformed);  // bad UTF-8
}

// ---------------------------------------------------------------- reuse

TEST_F(EventParserTest, ReuseDoesNotLeakFields) {
  const std::string full = R"({"type":"alias","userId":"u-1","anonymousId":"a-1",
      "previousId":"p-1","messageId":"m-1","timestamp":"2026-11-23T08:00:00Z",
      "properties":{"total":5},"traits":{"t":1},"context":{"c":1}})";
  Event e;
  ASSERT_FALSE(parser_.Parse(Msg(full), e).has_value());
  ASSERT_EQ(e.previous_id, "p-1");

  ASSERT_FALSE(parser_.Parse(Msg(R"({"anonymousId":"a-2","event":"E"})"), e).has_value());
  EXPECT_EQ(e.type, EventType::kTrack);
  EXPECT_EQ(e.user_id, "");
  EXPECT_EQ(e.anonymous_id, "a-2");
  EXPECT_EQ(e.name, "E");
  EXPECT_EQ(e.message_id, "");
  EXPECT_EQ(e.timestamp_ms, kBroker);
  EXPECT_EQ(e.properties_json, "{}");
  EXPECT_EQ(e.traits_json, "{}");
  EXPECT_EQ(e.context_json, "{}");
  EXPECT_EQ(e.previous_id, "");
  EXPECT_TRUE(e.numeric_properties.empty());

  // An error in between, a much larger message, then a small one again.
  EXPECT_TRUE(parser_.Parse(Msg("{bad"), e).has_value());
  std::string large = R"({"userId":"u","event":"E","properties":{"s":")";
  large.append(100000, 'x');
  large.append(R"(","n":1}})");
  ASSERT_FALSE(parser_.Parse(Msg(large), e).has_value());
  EXPECT_EQ(e.properties_json.size(), 100000u + 14u);
  ASSERT_FALSE(
      parser_.Parse(Msg(R"({"userId":"v","event":"F","properties":{"n":2}})"), e).has_value());
  EXPECT_EQ(e.user_id, "v");
  EXPECT_EQ(e.properties_json, R"({"n":2})");
  EXPECT_EQ(e.numeric_properties, (Numbers{{"n", 2}}));

  // Formats interleave on one parser.
  const std::string pb = FullProto().SerializeAsString();
  ASSERT_FALSE(parser_.Parse(Msg(pb, {{"content-type", "application/x-protobuf"}}), e).has_value());
  ASSERT_FALSE(
      parser_.Parse(Msg("{}", {{"ce_specversion", "1.0"}, {"ce_type", "T"}}, "k"), e).has_value());
  EXPECT_EQ(e.user_id, "k");
  EXPECT_EQ(e.anonymous_id, "");
  EXPECT_EQ(e.message_id, "");
  EXPECT_TRUE(e.numeric_properties.empty());
}

// ---------------------------------------------------------------- fuzz

// A successful parse always yields a usable event.
void ExpectUsable(const Event& e, simdjson::dom::parser& json) {
  EXPECT_FALSE(e.customer_id().empty());
  EXPECT_FALSE(e.name.empty());
  for (const std::string* text : {&e.properties_json, &e.traits_json, &e.context_json}) {
    simdjson::dom::element root;
    ASSERT_EQ(json.parse(*text).get(root), simdjson::SUCCESS) << *text;
    EXPECT_TRUE(root.is_object()) << *text;
  }
}

TEST_F(EventParserTest, FuzzedInputNeverCrashes) {
  struct Seed {
    std::string payload;
    Headers headers;
  };
  cairn::v1::Event proto = FullProto();
  (*proto.mutable_properties()->mutable_fields())["nested"]
      .mutable_struct_value()
      ->mutable_fields()
      ->
      operator[]("list")
      .mutable_list_value()
      ->add_values()
      ->set_string_value("x");
  const std::vector<Seed> seeds = {
      {R"({"type":"track","userId":"u-1","anonymousId":"a","event":"Order Completed",
          "messageId":"m","timestamp":"2026-11-23T08:00:00.123+02:00",
          "properties":{"total":59.97,"n":[1,2,{"x":null}],"s":"a\"b\\u00e9"},
          "traits":{"t":true},"context":{"c":{"d":[]}}})",
       {}},
      {R"({"type":"alias","userId":12,"previousId":3.5e2})",
       {{"content-type", "application/json"}}},
      {R"({"type":"identify","anonymousId":"x","traits":{"age":30,"tags":["a","b"]}})", {}},
      {R"({"total":5,"items":[{"sku":"a","q":1}]})",
       {{"ce_specversion", "1.0"},
        {"ce_type", "Order Completed"},
        {"ce_id", "1"},
        {"ce_time", "2026-11-23T08:00:00Z"},
        {"ce_userid", "u"}}},
      {R"({"specversion":"1.0","type":"T","id":"i","time":"2026-11-23","subject":"s",
          "data":{"k":[1,2,3],"v":-1.5e-3}})",
       {{"content-type", "application/cloudevents+json"}}},
      {proto.SerializeAsString(), {{"content-type", "application/x-protobuf"}}},
  };

  std::mt19937 rng(7);
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  const std::string_view interesting = "{}[]\":,\\ 0123456789.eE-+tfnul\x00\x7f\x80\xc3\xff"sv;
  simdjson::dom::parser check;
  EventParser fuzz_parser({.max_bytes = 4096, .max_depth = 8});
  const auto start = std::chrono::steady_clock::now();
  int ok = 0, failed = 0;
  std::string payload;
  for (int i = 0; i < 20000; ++i) {
    const Seed& seed = seeds[pick(seeds.size())];
    payload = seed.payload;
    const size_t mutations = pick(4) == 0 ? 2 + pick(3) : 1;  // mostly one
    for (size_t m = 0; m < mutations; ++m) {
      switch (pick(4)) {
        case 0:  // flip bits of one byte
          if (!payload.empty()) {
            payload[pick(payload.size())] ^= static_cast<char>(1 + pick(255));
          }
          break;
        case 1:  // truncate
          payload.resize(payload.empty() ? 0 : pick(payload.size() + 1));
          break;
        case 2:  // insert a random byte
          payload.insert(payload.begin() + static_cast<std::ptrdiff_t>(pick(payload.size() + 1)),
                         static_cast<char>(pick(256)));
          break;
        default:  // insert a structural byte
          payload.insert(payload.begin() + static_cast<std::ptrdiff_t>(pick(payload.size() + 1)),
                         interesting[pick(interesting.size())]);
          break;
      }
    }
    RawMessage msg = Msg(payload, seed.headers, i % 2 == 0 ? "key" : "");
    Event e;
    std::optional<ParseError> error;
    EXPECT_NO_THROW(error = (i % 3 == 0 ? parser_ : fuzz_parser).Parse(msg, e));
    if (error.has_value()) {
      ++failed;
      EXPECT_FALSE(error->detail.empty());
      EXPECT_NE(DeadLetterReasonName(error->reason), "");
    } else {
      ++ok;
      ExpectUsable(e, check);
    }
    if (::testing::Test::HasFailure()) break;
  }
  RecordProperty("parsed", ok);
  RecordProperty("dead_lettered", failed);
  EXPECT_EQ(ok + failed, 20000);
  EXPECT_GT(ok, 0);
  EXPECT_GT(failed, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(60));
}

}  // namespace
}  // namespace cairn::ingest
