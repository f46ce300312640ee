#include "expr/expr.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "journey/scope.h"

namespace cairn::expr {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr TimestampMs kNow = 1767225600000;  // 2026-01-01T00:00:00Z

Value Str(const char* s) { return Value::String(s); }

// The journey variables (journey/scope.h) with a sample customer; counts
// Resolve calls per slot.
class JourneyActivation : public Activation {
 public:
  JourneyActivation() : values_(6), resolves_(6, 0) {
    values_[journey::kEventSlot] = Value::Map({
        {Str("name"), Str("Order Completed")},
        {Str("type"), Str("track")},
        {Str("timestamp"), Value::TimestampFromMs(kNow - 3600 * 1000)},
        {Str("message_id"), Str("m-1")},
        {Str("properties"),
         Value::FromJson(R"({"total": 150.5, "items": 3, "cart_id": "c-9", "currency": "EUR",
                             "shipped_at": "2025-12-30T10:00:00Z", "tags": ["new", "gift"]})")},
        {Str("context"), Value::FromJson(R"({"locale": "de-DE"})")},
        {Str("traits"), Value::FromJson("{}")},
    });
    values_[journey::kEntrySlot] = Value::Map({
        {Str("name"), Str("Checkout Started")},
        {Str("properties"), Value::FromJson(R"({"cart_id": "c-9"})")},
    });
    values_[journey::kTraitsSlot] =
        Value::FromJson(R"({"country": "DE", "plan": "pro", "email": "Ann@Example.com ",
                            "age": 41, "consent": {"email": true}})");
    values_[journey::kCustomerSlot] = Value::Map({
        {Str("id"), Str("user-1")},
        {Str("events_total"), Value::Int(12)},
        {Str("labels"), Value::List({Str("vip")})},
        {Str("events"),
         Value::Map(
             {{Str("Order Completed"),
               Value::Map({{Str("count"), Value::Int(4)},
                           {Str("first_at"), Value::TimestampFromMs(kNow - 400LL * 86400000)},
                           {Str("last_at"), Value::TimestampFromMs(kNow - 120LL * 86400000)},
                           {Str("sums"), Value::Map({{Str("total"), Value::Double(12500)}})}})}})},
    });
    values_[journey::kInstanceSlot] =
        Value::Map({{Str("journey"), Str("winback")}, {Str("loops"), Value::Int(0)}});
  }
  Value Resolve(int slot) const override {
    ++resolves_[slot];
    return values_[slot];
  }
  TimestampMs Now() const override { return kNow; }
  int resolves(int slot) const { return resolves_[slot]; }

 private:
  std::vector<Value> values_;
  mutable std::vector<int> resolves_;
};

const SourceLocation kAt{"winback.yaml", 12, 12};

Result<Value> Evaluate(std::string_view source, const Limits& limits = {}) {
  auto program = Compile(source, journey::JourneyDeclarations(), kAt, limits);
  if (!program.ok()) return program.status();
  return program->Eval(JourneyActivation());
}

std::string CompileError(std::string_view source, const Limits& limits = {}) {
  auto program = Compile(source, journey::JourneyDeclarations(), kAt, limits);
  return program.ok() ? "compiled" : program.status().message();
}

std::string EvalError(std::string_view source) {
  auto r = Evaluate(source);
  return r.ok() ? "no error: " + r->DebugString() : r.status().message();
}

bool True(std::string_view source) {
  auto r = Evaluate(source);
  EXPECT_TRUE(r.ok()) << source << ": " << r.status().message();
  if (!r.ok()) return false;
  EXPECT_EQ(r->kind(), Kind::kBool) << source << " gave " << r->DebugString();
  return r->kind() == Kind::kBool && r->bool_value();
}

// ---- the journey examples from docs/expressions.md

TEST(Expr, JourneyExamples) {
  EXPECT_TRUE(True("event.properties.total > 100.0 && traits.country == 'DE'"));
  EXPECT_TRUE(True("event.properties.total > 100 && traits.country in ['DE', 'AT', 'CH']"));
  EXPECT_TRUE(True("customer.events['Order Completed'].sums.total > 10000"));
  EXPECT_TRUE(True("days_since(customer.events['Order Completed'].last_at) > 90"));
  EXPECT_TRUE(True("event.properties.cart_id == entry.properties.cart_id"));
  EXPECT_TRUE(True("customer.events['Order Completed'].count >= 3 && 'vip' in customer.labels"));
  EXPECT_TRUE(True("has(traits.consent) && traits.consent.email"));
  EXPECT_TRUE(True("!has(event.properties.coupon)"));
  EXPECT_TRUE(True("timestamp(event.properties.shipped_at) > now - duration('3d')"));
  EXPECT_TRUE(True("event.timestamp.getHours('Europe/Berlin') == 0"));
  EXPECT_TRUE(True("traits.email.trim().lowerAscii().endsWith('@example.com')"));
  EXPECT_TRUE(True("event.properties.tags.exists(t, t == 'gift')"));
  EXPECT_TRUE(True("size(event.properties.tags) == 2 && event.properties.items == 3u"));
  EXPECT_TRUE(True("instance.loops < 3 && instance.journey.startsWith('win')"));
  EXPECT_TRUE(True("days_until(now + duration('36h')) == 1.5"));
  EXPECT_TRUE(True("hours_since(event.timestamp) == 1.0"));
}

TEST(Expr, ResolvesOnlyUsedSlotsOncePerEval) {
  auto program = Compile("traits.country == 'DE' && traits.plan == 'pro' && traits.age > 18",
                         journey::JourneyDeclarations(), kAt);
  ASSERT_TRUE(program.ok()) << program.status().message();
  EXPECT_EQ(program->used_slots(), std::vector<int>{journey::kTraitsSlot});
  JourneyActivation activation;
  ASSERT_TRUE(program->EvalBool(activation).ok());
  ASSERT_TRUE(program->EvalBool(activation).ok());
  EXPECT_EQ(activation.resolves(journey::kTraitsSlot), 2);
  EXPECT_EQ(activation.resolves(journey::kEventSlot), 0);
}

// ---- checker messages, with file:line:col

TEST(Expr, UnknownFieldOfClosedObjectSuggests) {
  EXPECT_EQ(CompileError("event.nmae == 'x'"),
            "winback.yaml:12:18: unknown field 'nmae' on event; did you mean 'name'?");
  EXPECT_EQ(CompileError("customer.events['Order Completed'].cnt > 1"),
            "winback.yaml:12:47: unknown field 'cnt' on customer.events['Order Completed']; did "
            "you mean 'count'?");
  EXPECT_THAT(CompileError("has(customer.emial)"), HasSubstr("unknown field 'emial' on customer"));
  EXPECT_THAT(CompileError("instance.zzz"),
              HasSubstr("unknown field 'zzz' on instance (it has arm, entered_at"));
  // Open maps accept any key.
  EXPECT_EQ(CompileError("traits.anything == 1 && event.properties.whatever"), "compiled");
}

TEST(Expr, UnknownVariableAndFunction) {
  EXPECT_EQ(CompileError("evnt.name == 'x'"),
            "winback.yaml:12:12: unknown variable 'evnt'; did you mean 'event'?");
  EXPECT_EQ(CompileError("sise(traits)"),
            "winback.yaml:12:12: unknown function 'sise'; did you mean 'size'?");
  EXPECT_EQ(CompileError("[1].all(x, y > 0)"), "winback.yaml:12:23: unknown variable 'y'");
}

TEST(Expr, WrongOperandTypes) {
  EXPECT_EQ(CompileError("'a' + 1"), "winback.yaml:12:16: '+' cannot be applied to string and int");
  EXPECT_THAT(CompileError("size(1)"),
              HasSubstr("size() cannot be applied to (int); it accepts size(string), size(bytes)"));
  EXPECT_THAT(CompileError("size('a', 'b')"), HasSubstr("size() takes 1 argument(s), not 2"));
  EXPECT_THAT(CompileError("event.name.startsWith(1)"),
              HasSubstr("startsWith() cannot be applied to (string, int)"));
  EXPECT_THAT(CompileError("customer.events_total + 1.5"),
              HasSubstr("'+' cannot be applied to int and double (numbers of different types"));
  EXPECT_THAT(CompileError("event.name > 3"), HasSubstr("'>' cannot compare string with int"));
  EXPECT_THAT(CompileError("event.name == 3"), HasSubstr("never equal"));
  EXPECT_THAT(CompileError("customer.id.first"),
              HasSubstr("customer.id is string, which has no field 'first'"));
  EXPECT_THAT(CompileError("'x' in event.name"), HasSubstr("to search text use .contains()"));
  EXPECT_THAT(CompileError("customer.events_total && true"), HasSubstr("'&&' needs bool operands"));
  EXPECT_THAT(CompileError("!customer.id"), HasSubstr("'!' needs a bool"));
  EXPECT_THAT(CompileError("customer.labels['x']"), HasSubstr("a list index must be an int"));
  EXPECT_THAT(CompileError("event.name.matches('(')"), HasSubstr("invalid regular expression"));
  EXPECT_THAT(CompileError("now.getHours('Mars/Olympus')"), HasSubstr("unknown time zone"));
  EXPECT_THAT(CompileError("timestamp('2026-13-01T00:00:00Z') < now"),
              HasSubstr("timestamp('2026-13-01T00:00:00Z'): a date or time field is out of range"));
  EXPECT_THAT(CompileError("duration('90x')"), HasSubstr("unknown unit 'x'"));
  EXPECT_THAT(CompileError("has(traits)"), HasSubstr("has() needs a field selection"));
  EXPECT_THAT(CompileError("{'a': 1, 'a': 2}"), HasSubstr("repeated key \"a\""));
  EXPECT_THAT(CompileError("traits.all(x)"), HasSubstr("all() takes a variable name"));
  EXPECT_THAT(CompileError("days_since('2026-01-01')"),
              HasSubstr("days_since() cannot be applied"));
}

TEST(Expr, SeveralErrorsOnePerLine) {
  EXPECT_EQ(CompileError("evnt.name == 'x' || customer.idd == 'y'"),
            "winback.yaml:12:12: unknown variable 'evnt'; did you mean 'event'?\n"
            "winback.yaml:12:41: unknown field 'idd' on customer; did you mean 'id'?");
}

TEST(Expr, ConditionMustBeBool) {
  const auto& decls = journey::JourneyDeclarations();
  EXPECT_TRUE(CompileCondition("traits.country == 'DE'", decls, kAt).ok());
  EXPECT_TRUE(CompileCondition("traits.vip", decls, kAt).ok());  // dyn: checked at run time
  const auto sum = CompileCondition("event.properties.total + 1", decls, kAt);
  ASSERT_FALSE(sum.ok());
  EXPECT_EQ(sum.status().message(),
            "winback.yaml:12:12: a condition must give true or false, but this gives int");
  EXPECT_FALSE(CompileCondition("customer.events_total", decls, kAt).ok());
  EXPECT_TRUE(Compile("customer.events_total", decls, kAt).ok());
  // At run time a dyn that is not a bool is an error of EvalBool.
  auto program = CompileCondition("traits.country", decls, kAt);
  ASSERT_TRUE(program.ok());
  const auto r = program->EvalBool(JourneyActivation());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "winback.yaml:12:12: the condition gave \"DE\", not true or false");
}

// ---- syntax

TEST(Expr, SyntaxErrorsPointAtTheProblem) {
  EXPECT_EQ(CompileError("traits.country == 'DE"), "winback.yaml:12:30: unterminated string");
  EXPECT_EQ(CompileError("traits.country = 'DE'"),
            "winback.yaml:12:27: unexpected '='; compare with '=='");
  EXPECT_EQ(CompileError("(1 + 2"), "winback.yaml:12:18: expected ')' but found end of expression");
  EXPECT_EQ(CompileError("1 +"), "winback.yaml:12:15: unexpected end of expression");
  EXPECT_EQ(CompileError("a b"), "winback.yaml:12:14: unexpected 'b'");
  EXPECT_THAT(CompileError("traits.x & true"), HasSubstr("'and' is written '&&'"));
  EXPECT_THAT(CompileError("if == 1"), HasSubstr("'if' is a reserved word"));
  EXPECT_THAT(CompileError("Foo{a: 1}"), HasSubstr("creating messages"));
  EXPECT_THAT(CompileError("9223372036854775808"), HasSubstr("out of range"));
  EXPECT_THAT(CompileError("'\\q'"), HasSubstr("unknown escape \\q"));
  EXPECT_THAT(CompileError("'a\nb'"), HasSubstr("line break inside a string"));
  EXPECT_THAT(CompileError("\"\\uD800\""), HasSubstr("not a valid Unicode code point"));
  EXPECT_THAT(CompileError(std::string("'\xff'")), HasSubstr("not valid UTF-8"));
  EXPECT_THAT(CompileError("x # y"), HasSubstr("unexpected character '#'"));
}

TEST(Expr, LocationsCountLinesAndCodePoints) {
  // A block scalar: the text starts on the line after "when: |".
  const std::string error = Compile("traits.country == 'DE' &&\n  evnt.name == 'ü'",
                                    journey::JourneyDeclarations(), {"j.yaml", 7, 5})
                                .status()
                                .message();
  EXPECT_EQ(error, "j.yaml:8:3: unknown variable 'evnt'; did you mean 'event'?");
  EXPECT_EQ(Compile("'ünïcode' + 1", {}, {"j.yaml", 1, 1}).status().message(),
            "j.yaml:1:11: '+' cannot be applied to string and int");
  EXPECT_THAT(Compile("x", {}, {}).status().message(), StartsWith("<expression>:1:1: "));
}

TEST(Expr, Literals) {
  const auto eval = [](std::string_view s) {
    auto r = Evaluate(s);
    return r.ok() ? r->DebugString() : "error: " + r.status().message();
  };
  EXPECT_EQ(eval("-9223372036854775808"), "-9223372036854775808");
  EXPECT_EQ(
      eval("0x1F + 0xffu"),
      "error: winback.yaml:12:17: '+' cannot be applied to int and uint (numbers of different "
      "types: convert one side with int(), uint() or double())")
      << "compile-time";
  EXPECT_EQ(eval("0x1F"), "31");
  EXPECT_EQ(eval("18446744073709551615u"), "18446744073709551615u");
  EXPECT_EQ(eval("1.5e3"), "1500.0");
  EXPECT_EQ(eval(".5"), "0.5");
  EXPECT_EQ(eval("'a\\tb\\x41\\u00e9\\101'"), "\"a\\tbAéA\"");
  EXPECT_EQ(eval("r'a\\tb'"), "\"a\\\\tb\"");
  EXPECT_EQ(eval("'''two\nlines'''"), "\"two\\nlines\"");
  EXPECT_EQ(eval("b'\\xff\\x00a'"), "b\"\\xff\\x00a\"");
  EXPECT_EQ(eval("[1, 'a', null, true, [], {}]"), "[1, \"a\", null, true, [], {}]");
  EXPECT_EQ(eval("{'a': 1, 2: 'b', true: 3u}"), "{\"a\": 1, 2: \"b\", true: 3u}");
  EXPECT_EQ(eval("duration('90d') == duration('2160h')"), "true");
  EXPECT_EQ(eval("string(duration('1h30m'))"), "\"5400s\"");
  EXPECT_EQ(eval("timestamp('2026-01-01T10:00:00+02:00')"), "timestamp(\"2026-01-01T08:00:00Z\")");
  EXPECT_EQ(eval("type(now) == google.protobuf.Timestamp && type(1) == int"), "true");
  EXPECT_EQ(eval("// comment\n  1 + // more\n 2"), "3");
}

TEST(Expr, Arithmetic) {
  EXPECT_TRUE(True("1 + 2 * 3 - 4 / 2 % 3 == 5"));
  EXPECT_TRUE(True("7 / -2 == -3 && 7 % -2 == 1"));
  EXPECT_TRUE(True("2.0 * 1.5 == 3.0 && 1.0 / 0.0 > 1e308"));
  EXPECT_TRUE(True("'ab' + 'c' == 'abc' && [1] + [2, 3] == [1, 2, 3] && b'a' + b'b' == b'ab'"));
  EXPECT_TRUE(
      True("timestamp('2026-01-01T00:00:00Z') + duration('1d') == "
           "timestamp('2026-01-02T00:00:00Z')"));
  EXPECT_TRUE(
      True("timestamp('2026-01-02T00:00:00Z') - timestamp('2026-01-01T00:00:00Z') == "
           "duration('24h')"));
  EXPECT_TRUE(True("duration('1h') - duration('90m') == duration('-30m')"));
  EXPECT_THAT(EvalError("customer.events_total * 9223372036854775807"),
              HasSubstr("winback.yaml:12:34: integer overflow"));
  EXPECT_THAT(EvalError("customer.events_total / (customer.events_total - 12)"),
              HasSubstr("division by zero"));
  EXPECT_THAT(EvalError("customer.events_total % 0"), HasSubstr("modulus by zero"));
  EXPECT_THAT(EvalError("event.properties.total + 1"),
              HasSubstr("'+' cannot be applied to double and int (numbers of different types"));
  EXPECT_THAT(EvalError("now + duration('3650000d')"), HasSubstr("out of range"));
}

TEST(Expr, HeterogeneousComparison) {
  EXPECT_TRUE(True("1 == 1.0 && 1u == 1 && 2 > 1.5 && 1u < 2 && -1 < 1u"));
  EXPECT_TRUE(True("event.properties.items == 3.0 && event.properties.total > 150"));
  EXPECT_TRUE(True("dyn(1) != 'a' && [1, 2] == [1.0, 2u] && {'a': 1} == {'a': 1.0}"));
  EXPECT_TRUE(True("'abc' < 'abd' && b'a' < b'b' && false < true"));
  EXPECT_TRUE(True("!(0.0/0.0 == 0.0/0.0) && !(0.0/0.0 < 1.0)"));
  EXPECT_THAT(EvalError("traits.country < 1"), HasSubstr("'<' cannot compare string with int"));
}

TEST(Expr, LogicIsCommutativeOverErrors) {
  // event.properties.missing is a runtime error (no such key).
  EXPECT_FALSE(True("event.properties.missing > 1 && false"));
  EXPECT_FALSE(True("false && event.properties.missing > 1"));
  EXPECT_TRUE(True("event.properties.missing > 1 || true"));
  EXPECT_TRUE(True("true || event.properties.missing > 1"));
  EXPECT_TRUE(True("traits.country == 'DE' || traits.nope"));
  EXPECT_EQ(EvalError("event.properties.missing > 1 && true"),
            "winback.yaml:12:29: no such key: 'missing'");
  EXPECT_EQ(EvalError("true && event.properties.missing > 1"),
            "winback.yaml:12:37: no such key: 'missing'");
  // Both sides fail: the left error is reported.
  EXPECT_EQ(EvalError("traits.a || traits.b"), "winback.yaml:12:19: no such key: 'a'");
  EXPECT_THAT(EvalError("traits.age || false"), HasSubstr("'||' needs bool operands, got int"));
  EXPECT_TRUE(True("traits.country == 'DE' ? true : traits.nope"));
  EXPECT_TRUE(True("[1, 0].exists(x, 1 / x == 1)"));  // an error elsewhere is absorbed
  EXPECT_FALSE(True("[0, 1].all(x, 1 / x == 2)"));
  EXPECT_THAT(EvalError("[0, 1].all(x, 1 / x == 1)"), HasSubstr("division by zero"));
}

TEST(Expr, MembershipIndexAndHas) {
  EXPECT_TRUE(True("'DE' in ['DE', 'FR'] && 2 in [1.0, 2.0] && 'plan' in traits"));
  EXPECT_TRUE(True("!('x' in traits) && 1 in {1u: 'a'}"));
  EXPECT_TRUE(True("event.properties['total'] == event.properties.total"));
  EXPECT_TRUE(True("customer.labels[0] == 'vip' && [7, 8][1u] == 8"));
  EXPECT_TRUE(True("has(event.properties.total) && !has(customer.events.Signup)"));
  EXPECT_TRUE(True("{'content-type': 1}.`content-type` == 1"));
  EXPECT_THAT(EvalError("customer.labels[1]"),
              HasSubstr("index 1 out of range (the list has 1 items)"));
  EXPECT_THAT(EvalError("customer.events['Signup'].count"), HasSubstr("no such key: \"Signup\""));
  EXPECT_THAT(EvalError("traits.country.x"), HasSubstr("cannot select field 'x' on string value"));
  EXPECT_THAT(EvalError("event.traits.a.b"), HasSubstr("no such key: 'a'"));
}

TEST(Expr, Macros) {
  EXPECT_TRUE(True("[1, 2, 3].all(x, x > 0) && [1, 2, 3].exists(x, x == 2)"));
  EXPECT_TRUE(True("[1, 2, 3].exists_one(x, x > 2) && ![1, 2, 3].exists_one(x, x > 1)"));
  EXPECT_TRUE(True("[1, 2, 3].map(x, x * 2) == [2, 4, 6]"));
  EXPECT_TRUE(True("[1, 2, 3].map(x, x > 1, x * 10) == [20, 30]"));
  EXPECT_TRUE(True("[1, 2, 3].filter(x, x % 2 == 1) == [1, 3]"));
  EXPECT_TRUE(True("traits.filter(k, k.startsWith('c')).size() == 2"));  // over map keys
  EXPECT_TRUE(True("[[1, 2], [3]].map(l, l.map(x, x + 1)) == [[2, 3], [4]]"));
  EXPECT_TRUE(True("[1, 2].all(x, [3, 4].all(y, x < y))"));
  EXPECT_TRUE(True("[1].exists(traits, traits == 1)"));  // a local shadows a variable
  EXPECT_THAT(EvalError("traits.country.all(x, true)"), HasSubstr("cannot iterate over string"));
}

TEST(Expr, Conversions) {
  EXPECT_TRUE(True("int('42') == 42 && uint(42) == 42u && double('1.5') == 1.5"));
  EXPECT_TRUE(True("int(-1.9) == -1 && string(1.5) == '1.5' && string(true) == 'true'"));
  EXPECT_TRUE(True("bool('true') && bytes('a') == b'a' && string(b'a') == 'a'"));
  EXPECT_TRUE(True("int(timestamp('1970-01-01T00:01:00Z')) == 60"));
  EXPECT_TRUE(True("string(timestamp('2026-01-01T00:00:00.5Z')) == '2026-01-01T00:00:00.5Z'"));
  EXPECT_TRUE(True("type(traits) == map && type([]) == list && type(null) == null_type"));
  EXPECT_TRUE(True("double(event.properties.items) * 1.1 > 3.0"));
  EXPECT_THAT(EvalError("int(traits.country)"), HasSubstr("int(): 'DE' is not an integer"));
  EXPECT_THAT(EvalError("uint(-customer.events_total)"), HasSubstr("uint() overflow"));
  EXPECT_THAT(EvalError("timestamp(traits.country)"), HasSubstr("not an RFC 3339 timestamp"));
}

TEST(Expr, StringsAndTime) {
  EXPECT_TRUE(True("size('ünï') == 3 && size(b'\\xff\\x00') == 2 && 'ünï'.size() == 3"));
  EXPECT_TRUE(
      True("'Hello'.contains('ell') && 'Hello'.startsWith('He') && 'Hello'.endsWith('lo')"));
  EXPECT_TRUE(True("'Hello'.matches('^H.*o$') && matches('abc', 'b') && !'abc'.matches('^b')"));
  EXPECT_TRUE(True("traits.email.matches(event.properties.currency) == false"));  // dynamic regex
  EXPECT_TRUE(True("'ÄbC'.lowerAscii() == 'Äbc' && 'abc'.upperAscii() == 'ABC'"));
  EXPECT_TRUE(True("' \\t x \\n'.trim() == 'x'"));
  const std::string ts = "timestamp('2026-03-29T00:30:00Z')";  // a Sunday; DST starts in Berlin
  EXPECT_TRUE(True(ts + ".getFullYear() == 2026 && " + ts + ".getMonth() == 2 && " + ts +
                   ".getDate() == 29 && " + ts + ".getDayOfMonth() == 28"));
  EXPECT_TRUE(True(ts + ".getDayOfWeek() == 0 && " + ts + ".getDayOfYear() == 87"));
  EXPECT_TRUE(True(ts + ".getHours('Europe/Berlin') == 1 && " + ts +
                   ".getHours('America/New_York') == 20"));
  EXPECT_TRUE(True(ts + ".getHours('+05:30') == 6 && " + ts + ".getMinutes('+05:30') == 0"));
  EXPECT_THAT(EvalError(ts + ".getHours(traits.country)"), HasSubstr("unknown time zone 'DE'"));
  EXPECT_TRUE(True("duration('90m').getHours() == 1 && duration('90m').getMinutes() == 90"));
  EXPECT_TRUE(
      True("duration('1.5s').getMilliseconds() == 500 && duration('1.5s').getSeconds() == 1"));
  EXPECT_TRUE(True("now == timestamp('2026-01-01T00:00:00Z')"));
  EXPECT_TRUE(True("days_since(timestamp('2025-12-31T12:00:00Z')) == 0.5"));
}

// ---- limits

TEST(Expr, DeepNestingIsAnErrorNotACrash) {
  Limits big_source;
  big_source.max_source_bytes = 1 << 20;
  const std::string parens = std::string(100000, '(') + "1" + std::string(100000, ')');
  EXPECT_THAT(CompileError(parens, big_source),
              HasSubstr("nested too deeply (more than 64 levels)"));
  for (const std::string& deep :
       {std::string(100000, '['), std::string(50000, '-') + "x", std::string(50001, '!') + "x",
        "a" + std::string(100000, '.') + "b",
        [] {
          std::string s = "x";
          for (int i = 0; i < 30000; ++i) s += ".f";
          return s;
        }(),
        [] {
          std::string s = "1";
          for (int i = 0; i < 30000; ++i) s += " + 1";
          return s;
        }(),
        [] {
          std::string s = "1";
          for (int i = 0; i < 30000; ++i) s = "f(" + s + ")";
          return s;
        }(),
        [] {
          std::string s;
          for (int i = 0; i < 30000; ++i) s += "true ? 1 : ";
          return s + "2";
        }()}) {
    EXPECT_NE(CompileError(deep, big_source), "compiled") << deep.substr(0, 20);
  }
  // Within the limit is fine; a higher limit allows more.
  EXPECT_EQ(CompileError(std::string(60, '(') + "1" + std::string(60, ')')), "compiled");
  Limits deeper;
  deeper.max_depth = 200;
  EXPECT_EQ(CompileError(std::string(150, '[') + std::string(150, ']'), deeper), "compiled");
}

TEST(Expr, LongOrChainsAreBalanced) {
  std::string many = "traits.country == 'C0'";
  for (int i = 1; i < 500; ++i) many += " || traits.country == 'C" + std::to_string(i) + "'";
  many += " || traits.country == 'DE'";
  Limits limits;
  limits.max_source_bytes = 1 << 16;
  auto r = Evaluate(many, limits);  // 501 conditions, 10 levels deep
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->bool_value());
}

TEST(Expr, SourceLengthLimit) {
  Limits small;
  small.max_source_bytes = 10;
  EXPECT_EQ(CompileError("1 + 2 + 3 + 4", small),
            "winback.yaml:12:12: the expression is 13 bytes long; the limit is 10");
}

TEST(Expr, StepLimit) {
  Limits limits;
  limits.max_steps = 1000;
  auto program =
      Compile("traits.items.all(x, x >= 0)", {{{"traits", Type::MapOf(Type::Dyn())}}}, kAt, limits);
  ASSERT_TRUE(program.ok());
  class Big : public Activation {
   public:
    Value Resolve(int) const override {
      ValueList items(100000, Value::Int(1));
      return Value::Map({{Value::String("items"), Value::List(std::move(items))}});
    }
    TimestampMs Now() const override { return 0; }
  };
  const auto r = program->Eval(Big());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "winback.yaml:12:25: evaluation took more than 1000 steps (the limit)");
  limits.max_steps = 1000000;
  EXPECT_TRUE(
      Compile("traits.items.all(x, x >= 0)", {{{"traits", Type::MapOf(Type::Dyn())}}}, kAt, limits)
          ->Eval(Big())
          .ok());
}

// ---- programs

TEST(Expr, EmptyProgramIsAnError) {
  Program empty;
  EXPECT_FALSE(empty.Eval(JourneyActivation()).ok());
  EXPECT_EQ(empty.source(), "");
  EXPECT_EQ(empty.result_type().base, Type::Base::kDyn);
}

TEST(Expr, ResultTypes) {
  const auto type_of = [](std::string_view s) {
    return Compile(s, journey::JourneyDeclarations(), kAt)->result_type().base;
  };
  using B = Type::Base;
  EXPECT_EQ(type_of("traits.country"), B::kDyn);
  EXPECT_EQ(type_of("customer.events_total + 1"), B::kInt);
  EXPECT_EQ(type_of("customer.events['x'].last_at"), B::kTimestamp);
  EXPECT_EQ(type_of("customer.events['x'].sums.total"), B::kDouble);
  EXPECT_EQ(type_of("customer.labels.map(l, size(l))"), B::kList);
  EXPECT_EQ(type_of("now - customer.first_seen"), B::kDuration);
  EXPECT_EQ(type_of("days_since(now)"), B::kDouble);
}

TEST(Expr, ConstantsAreFolded) {
  auto p = Compile("timestamp('2026-01-01T00:00:00Z') + duration('1d')", {}, kAt);
  ASSERT_TRUE(p.ok());
  class Counting : public Activation {
   public:
    Value Resolve(int) const override { return Value(); }
    TimestampMs Now() const override { return 0; }
  };
  // Folded to one constant: one evaluation step is enough.
  Limits one_step;
  one_step.max_steps = 1;
  auto folded = Compile(
      "timestamp('2026-01-01T00:00:00Z') + duration('1d') > "
      "timestamp('2026-01-01T00:00:00Z')",
      {}, kAt, one_step);
  ASSERT_TRUE(folded.ok());
  EXPECT_TRUE(*folded->EvalBool(Counting()));
}

TEST(Expr, CopiesShareAndEvaluateConcurrently) {
  auto program = Compile(
      "event.properties.total > 100.0 && traits.country == 'DE' && "
      "customer.labels.exists(l, l == 'vip') && days_since(customer.events['Order "
      "Completed'].last_at) > 90",
      journey::JourneyDeclarations(), kAt);
  ASSERT_TRUE(program.ok());
  const Program copy = *program;
  EXPECT_EQ(&copy.source(), &program->source());
  std::atomic<int> trues{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      JourneyActivation activation;
      for (int i = 0; i < 2000; ++i) {
        const auto r = copy.EvalBool(activation);
        if (r.ok() && *r) ++trues;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(trues.load(), 8000);
}

TEST(Expr, ActivationThatThrowsIsAnError) {
  class Throwing : public Activation {
   public:
    Value Resolve(int) const override { throw std::runtime_error("boom"); }
    TimestampMs Now() const override { return 0; }
  };
  auto program = Compile("traits.a", journey::JourneyDeclarations(), kAt);
  ASSERT_TRUE(program.ok());
  const auto r = program->Eval(Throwing());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("boom"));
}

// Fields of `traits` answered one by one (as the profile's EvalScope does).
class FieldActivation : public Activation {
 public:
  FieldActivation()
      : traits_(Value::FromJson(
            R"({"orders": 4, "revenue": 812.5, "plan": "pro", "nan": 0, "zero": 0.0})")) {}
  Value Resolve(int slot) const override {
    return slot == journey::kTraitsSlot ? traits_ : Value();
  }
  bool ResolveField(int slot, std::string_view field, Value* out, bool* found) const override {
    if (slot != journey::kTraitsSlot) return false;
    ++fields;
    const Value* v = traits_.Find(field);
    *found = v != nullptr;
    if (v != nullptr) *out = field == "nan" ? Value::Double(std::nan("")) : *v;
    return true;
  }
  TimestampMs Now() const override { return kNow; }
  mutable int fields = 0;

 private:
  Value traits_;
};

TEST(Expr, ComparisonsAreAnsweredWithoutTheInterpreterAsEvalBoolWould) {
  struct Case {
    const char* source;
    bool fast;  // EvalComparisons answers
  };
  const Case cases[] = {
      {"traits.orders >= 3 && traits.revenue > 800.0", true},
      {"traits.orders >= 5 && traits.revenue > 800.0", true},  // decided by the left
      {"traits.orders >= 5 || traits.revenue > 800.0", true},  // decided by the right
      {"3 <= traits.orders && 900.0 > traits.revenue", true},  // constant on the left
      {"traits.orders == 4 && traits.plan != 'free'", true},
      {"traits.orders > 3.5 || traits.zero < 0", true},     // int against double
      {"traits.nan > 1.0 || traits.nan <= 1.0", true},      // NaN: unordered, false
      {"traits.orders >= 5 && traits.missing > 1", true},   // false && error: false
      {"traits.orders >= 3 && traits.missing > 1", false},  // error: EvalBool says it
      {"traits.missing > 1 || traits.orders >= 3", false},  // error first: EvalBool
      {"traits.plan > 3", false},                           // cannot compare: error
      {"traits.orders + 1 > 3", false},                     // not a comparison of a field
      {"has(traits.orders) && traits.orders > 1", false},
      {"traits.orders > 1 && event.name == 'x'", false},  // event: not field by field
  };
  for (const auto& c : cases) {
    auto p = CompileCondition(c.source, journey::JourneyDeclarations(), kAt);
    ASSERT_TRUE(p.ok()) << c.source << ": " << p.status().ToString();
    FieldActivation a;
    const auto fast = p->EvalComparisons(a);
    const auto slow = p->EvalBool(a);
    EXPECT_EQ(fast.has_value(), c.fast) << c.source;
    if (fast) {
      ASSERT_TRUE(slow.ok()) << c.source;
      EXPECT_EQ(*fast, *slow) << c.source;
    }
  }
  // No interpreter: fields are read one by one, only those needed.
  auto p = CompileCondition("traits.orders >= 5 && traits.revenue > 1.0",
                            journey::JourneyDeclarations(), kAt);
  ASSERT_TRUE(p.ok());
  FieldActivation a;
  EXPECT_EQ(p->EvalComparisons(a), std::optional<bool>(false));
  EXPECT_EQ(a.fields, 1);
}

}  // namespace
}  // namespace cairn::expr
