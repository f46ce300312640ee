#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "expr/expr.h"

namespace cairn::expr {
namespace {

TEST(Value, ScalarsAndZeroAccessorsOfOtherKinds) {
  EXPECT_TRUE(Value().is_null());
  EXPECT_EQ(Value::Int(-7).int_value(), -7);
  EXPECT_EQ(Value::Uint(7).uint_value(), 7u);
  EXPECT_EQ(Value::Double(1.5).double_value(), 1.5);
  EXPECT_TRUE(Value::Bool(true).bool_value());
  EXPECT_EQ(Value::String("x").string_value(), "x");
  // Asking a value for another kind gives a zero value, never a crash.
  EXPECT_EQ(Value::String("x").int_value(), 0);
  EXPECT_EQ(Value::Int(3).string_value(), "");
  EXPECT_TRUE(Value::Int(3).list().empty());
  EXPECT_TRUE(Value().map().empty());
  EXPECT_EQ(Value::Int(3).Find("a"), nullptr);
  EXPECT_EQ(KindName(Kind::kTimestamp), "google.protobuf.Timestamp");
  EXPECT_EQ(KindName(Kind::kNull), "null_type");
}

TEST(Value, CopiesShareStorage) {
  const Value a = Value::String(std::string(1000, 'x'));
  const Value b = a;  // NOLINT(performance-unnecessary-copy-initialization)
  EXPECT_EQ(&a.string_value(), &b.string_value());
  const Value list = Value::List({a, b});
  const Value list2 = list;
  EXPECT_EQ(&list.list(), &list2.list());
}

TEST(Value, HeterogeneousNumericEquality) {
  EXPECT_TRUE(Value::Int(1).Equals(Value::Uint(1)));
  EXPECT_TRUE(Value::Int(1).Equals(Value::Double(1.0)));
  EXPECT_TRUE(Value::Uint(1).Equals(Value::Double(1.0)));
  EXPECT_FALSE(Value::Int(-1).Equals(Value::Uint(UINT64_MAX)));
  EXPECT_FALSE(Value::Int(1).Equals(Value::Double(1.5)));
  EXPECT_FALSE(Value::Double(std::nan("")).Equals(Value::Double(std::nan(""))));
  EXPECT_FALSE(Value::Int(1).Equals(Value::String("1")));
  EXPECT_FALSE(Value::String("a").Equals(Value::Bytes("a")));
  EXPECT_TRUE(Value().Equals(Value::Null()));
}

TEST(Value, ListAndMapEquality) {
  EXPECT_TRUE(Value::List({Value::Int(1), Value::String("a")})
                  .Equals(Value::List({Value::Double(1), Value::String("a")})));
  EXPECT_FALSE(Value::List({Value::Int(1)}).Equals(Value::List({Value::Int(1), Value::Int(2)})));
  const Value m1 =
      Value::Map({{Value::String("a"), Value::Int(1)}, {Value::String("b"), Value::Int(2)}});
  const Value m2 =
      Value::Map({{Value::String("b"), Value::Uint(2)}, {Value::String("a"), Value::Int(1)}});
  EXPECT_TRUE(m1.Equals(m2));  // order does not matter
  EXPECT_FALSE(m1.Equals(Value::Map({{Value::String("a"), Value::Int(1)}})));
}

TEST(Value, FindInSmallAndLargeMaps) {
  for (const int size : {3, 16, 17, 200}) {
    ValueMap entries;
    for (int i = 0; i < size; ++i) {
      entries.emplace_back(Value::String("k" + std::to_string(i)), Value::Int(i));
      entries.emplace_back(Value::Int(1000 + i), Value::Int(-i));
    }
    const Value m = Value::Map(std::move(entries));
    for (int i = 0; i < size; ++i) {
      const Value* v = m.Find("k" + std::to_string(i));
      ASSERT_NE(v, nullptr) << size << " " << i;
      EXPECT_EQ(v->int_value(), i);
      // Numeric keys match across int, uint and integral doubles.
      ASSERT_NE(m.Find(Value::Int(1000 + i)), nullptr);
      ASSERT_NE(m.Find(Value::Uint(static_cast<uint64_t>(1000 + i))), nullptr);
      ASSERT_NE(m.Find(Value::Double(1000.0 + i)), nullptr);
      EXPECT_EQ(m.Find(Value::Double(1000.5 + i)), nullptr);
    }
    EXPECT_EQ(m.Find("missing"), nullptr);
    EXPECT_EQ(m.Find(Value::Bytes("k1")), nullptr);
  }
}

TEST(Value, FromJson) {
  const Value v = Value::FromJson(
      R"({"total": 150.5, "items": 3, "big": 18446744073709551615, "name": "Ann",
          "tags": ["a", "b"], "ok": true, "none": null, "nested": {"x": {"y": -1}}})");
  ASSERT_EQ(v.kind(), Kind::kMap);
  EXPECT_EQ(v.Find("total")->kind(), Kind::kDouble);
  EXPECT_EQ(v.Find("items")->kind(), Kind::kInt);
  EXPECT_EQ(v.Find("big")->kind(), Kind::kDouble);  // beyond int64
  EXPECT_EQ(v.Find("name")->string_value(), "Ann");
  EXPECT_EQ(v.Find("tags")->list().size(), 2u);
  EXPECT_TRUE(v.Find("ok")->bool_value());
  EXPECT_TRUE(v.Find("none")->is_null());
  EXPECT_EQ(v.Find("nested")->Find("x")->Find("y")->int_value(), -1);
  EXPECT_EQ(Value::FromJson("42").int_value(), 42);
  EXPECT_EQ(Value::FromJson("\"s\"").string_value(), "s");
}

TEST(Value, FromJsonBadInputIsNull) {
  for (const char* bad : {"", "{", "[1,", "{\"a\":}", "nul", "\"\\x\"", "{\"a\" 1}", "1 2"}) {
    EXPECT_TRUE(Value::FromJson(bad).is_null()) << bad;
  }
  // Deeper than the JSON parser allows: null, not a crash.
  EXPECT_TRUE(Value::FromJson(std::string(5000, '[') + std::string(5000, ']')).is_null());
  EXPECT_TRUE(Value::FromJson(std::string("\xff\xfe", 2)).is_null());
}

TEST(Value, FromJsonRepeatedKeysLastWins) {
  const Value v = Value::FromJson(R"({"a": 1, "b": 2, "a": 3})");
  EXPECT_EQ(v.map().size(), 2u);
  EXPECT_EQ(v.Find("a")->int_value(), 3);
}

TEST(Value, ToJsonAndDebugString) {
  const Value v = Value::Map({
      {Value::String("t"), Value::TimestampFromMs(1767225600123)},
      {Value::String("d"), Value::DurationFromMs(1500)},
      {Value::String("b"), Value::Bytes("hi!")},
      {Value::String("n"), Value::Double(std::nan(""))},
      {Value::String("x"), Value::Double(2)},
      {Value::String("q"), Value::String("a\"b\n")},
      {Value::Int(7), Value::Uint(8)},
  });
  EXPECT_EQ(v.ToJson(),
            R"({"t":"2026-01-01T00:00:00.123Z","d":"1.5s","b":"aGkh","n":"NaN","x":2.0,)"
            R"("q":"a\"b\n","7":8})");
  EXPECT_EQ(v.DebugString(),
            R"({"t": timestamp("2026-01-01T00:00:00.123Z"), "d": duration("1.5s"), )"
            R"("b": b"hi!", "n": NaN, "x": 2.0, "q": "a\"b\n", 7: 8u})");
  // ToJson reads back.
  EXPECT_EQ(Value::FromJson(v.ToJson()).Find("q")->string_value(), "a\"b\n");
}

TEST(Value, TimestampsAndDurations) {
  const Value t = Value::TimestampFromMs(-1);  // 1969-12-31T23:59:59.999Z
  EXPECT_EQ(t.timestamp_seconds(), -1);
  EXPECT_EQ(t.timestamp_nanos(), 999000000);
  EXPECT_EQ(t.millis(), -1);
  EXPECT_EQ(Value::TimestampNanos(10, 1500000000).timestamp_seconds(), 11);
  EXPECT_EQ(Value::DurationFromMs(-1500).duration_nanos(), -1500000000);
  EXPECT_EQ(Value::DurationFromMs(-1500).millis(), -1500);
  EXPECT_EQ(Value::DurationNanos(90, 5).duration_nanos(), 90000000005);
}

TEST(Value, ParseDurationMs) {
  EXPECT_EQ(*ParseDurationMs("90d"), 90LL * 86400 * 1000);
  EXPECT_EQ(*ParseDurationMs("2d12h"), 60LL * 3600 * 1000);
  EXPECT_EQ(*ParseDurationMs("1h30m"), 90LL * 60 * 1000);
  EXPECT_EQ(*ParseDurationMs("1.5s"), 1500);
  EXPECT_EQ(*ParseDurationMs("-10ms"), -10);
  EXPECT_EQ(*ParseDurationMs("0"), 0);
  EXPECT_EQ(*ParseDurationMs("1500us"), 1);
  for (const char* bad :
       {"", "5", "5x", "d", "1h-5m", "--1s", "1.s.", "99999999999999999999999999999999d"}) {
    const auto r = ParseDurationMs(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
  EXPECT_NE(ParseDurationMs("5x").status().message().find("unknown unit 'x'"), std::string::npos);
}

TEST(Value, TypeValues) {
  const Value t = Value::TypeValue("int");
  EXPECT_EQ(t.kind(), Kind::kType);
  EXPECT_EQ(t.string_value(), "int");
  EXPECT_TRUE(t.Equals(Value::TypeValue("int")));
  EXPECT_FALSE(t.Equals(Value::TypeValue("uint")));
}

}  // namespace
}  // namespace cairn::expr
