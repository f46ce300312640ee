// Bad input never crashes: random, mutated and grammar-generated expressions
// go through Compile, and whatever compiles is evaluated. Bounded in count
// and time; the seed is fixed (CAIRN_FUZZ_SEED overrides it) so a failure
// reproduces.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "expr/expr.h"
#include "journey/scope.h"

namespace cairn::expr {
namespace {

constexpr int kMaxCases = 100000;
constexpr auto kMaxTime = std::chrono::seconds(8);

class SampleActivation : public Activation {
 public:
  SampleActivation() {
    const Value event = Value::Map({
        {Value::String("name"), Value::String("Order Completed")},
        {Value::String("timestamp"), Value::TimestampFromMs(1767225600000)},
        {Value::String("properties"),
         Value::FromJson(R"({"total": 150.5, "n": 9223372036854775807, "s": "ü\u0000x",
                             "list": [1, 2.5, "a", null, [], {}], "m": {"k": {"k": 1}},
                             "at": "2026-01-01T00:00:00Z", "neg": -9223372036854775807})")},
    });
    values_ = {event,
               event,
               Value::FromJson(R"({"country": "DE", "age": 40, "tz": "Asia/Tokyo"})"),
               Value::Map({{Value::String("labels"), Value::List({Value::String("vip")})},
                           {Value::String("events"), Value::Map({})}}),
               Value(),
               Value::Map({{Value::String("old"), Value::Int(1)}})};
  }
  Value Resolve(int slot) const override { return values_[static_cast<size_t>(slot)]; }
  TimestampMs Now() const override { return 1767225600000; }

 private:
  std::vector<Value> values_;
};

const std::vector<std::string> kCorpus = {
    "event.properties.total > 100.0 && traits.country == 'DE'",
    "customer.events['Order Completed'].sums.total > 10000",
    "days_since(customer.events['Order Completed'].last_at) > 90",
    "event.properties.list.exists(x, x == 'a') || event.properties.list.all(y, y != null)",
    "[1, 2, 3].map(x, x * 2).filter(y, y > 2).size() == 2",
    "timestamp(event.properties.at).getHours(traits.tz) + 1",
    "has(event.properties.m.k) ? event.properties.m.k.k : -1",
    "event.properties.n + 1 > 0 || 1 / 0 == 1",
    "'abc'.matches('^a.c$') && b'\\xff' + b'\\x00' != b'' && r'\\d' == '\\\\d'",
    "{'a': 1, 2u: [1.5, -0.0], true: {}}[true] == {}",
    "duration('90d') + now - timestamp('2026-01-01T00:00:00Z') > duration('1h')",
    "int('42') + uint(7) == 49 ? string(1.5e300 * 1e300) : type(null)",
    "event.properties.s.size() == 3 && event.properties.s.upperAscii().trim() != ''",
    "customer.labels.exists_one(l, l.startsWith('v')) && !('x' in customer.labels)",
    "'''multi\nline''' + \"\\u00e9\\U0001F600\\101\" + `x`",
};

const std::vector<std::string> kPieces = {
    "event",
    "entry",
    "traits",
    "customer",
    "instance",
    "change",
    "now",
    ".",
    "properties",
    "total",
    "name",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "'",
    "\"",
    "'''",
    "\\",
    "\\u",
    "\\x",
    "\\U",
    "1",
    "-",
    "0",
    "9223372036854775807",
    "9223372036854775808",
    "1.5e308",
    "0x",
    "u",
    "1e",
    ".5",
    "&&",
    "||",
    "!",
    "?",
    ":",
    ",",
    " in ",
    "has",
    "all",
    "exists",
    "exists_one",
    "map",
    "filter",
    "size",
    "matches",
    "contains",
    "timestamp",
    "duration",
    "'90d'",
    "'-1ns'",
    "days_since",
    "null",
    "true",
    "false",
    "b'",
    "r'",
    "R\"",
    "`",
    "\xff",
    "\xc3",
    "\xe2\x82",
    std::string(1, '\0'),
    "\n",
    " ",
    "//",
    "getHours",
    "'Europe/Berlin'",
    "'+99:99'",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "type",
    "dyn",
    "+",
    "*",
    "/",
    "%",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "x",
    "y",
    "_",
    "if",
    "as",
    "google.protobuf.Timestamp",
    "Foo{",
    "'(' ",
    "'[a-'",
    ".all(",
    ".map(x,",
    "x,",
    "[]",
    "{}",
    "((((",
    "))))",
    "[[[[",
    "]]]]",
};

class Fuzzer {
 public:
  explicit Fuzzer(uint64_t seed) : rng_(seed) {}

  size_t Below(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  const std::string& Piece() { return kPieces[Below(kPieces.size())]; }

  std::string Mutate(std::string s) {
    const size_t rounds = 1 + Below(4);
    for (size_t r = 0; r < rounds; ++r) {
      const size_t at = s.empty() ? 0 : Below(s.size() + 1);
      switch (Below(5)) {
        case 0:
          s.insert(at, Piece());
          break;
        case 1:
          if (!s.empty() && at < s.size())
            s.erase(at, 1 + Below(std::min<size_t>(8, s.size() - at)));
          break;
        case 2:
          if (at < s.size()) s[at] = static_cast<char>(Below(256));
          break;
        case 3:
          if (at < s.size()) s.insert(at, s.substr(at, Below(s.size() - at) + 1));
          break;
        default:
          if (at < s.size()) std::swap(s[at], s[Below(s.size())]);
      }
    }
    return s;
  }

  std::string Random() {
    std::string s;
    const size_t n = 1 + Below(30);
    for (size_t i = 0; i < n; ++i) s += Piece();
    return s;
  }

  // A well-formed expression from a small grammar: exercises evaluation
  // with edge values rather than the parser.
  std::string Generate(int depth) {
    static const std::vector<std::string> kLeaves = {"0",
                                                     "1",
                                                     "-1",
                                                     "9223372036854775807",
                                                     "-9223372036854775808",
                                                     "18446744073709551615u",
                                                     "0u",
                                                     "1.5",
                                                     "-0.0",
                                                     "1e308",
                                                     "0.0/0.0",
                                                     "''",
                                                     "'ü'",
                                                     "b'\\xff'",
                                                     "null",
                                                     "true",
                                                     "false",
                                                     "[]",
                                                     "{}",
                                                     "[1, 'a', null]",
                                                     "{'k': 1, 2: 'v'}",
                                                     "now",
                                                     "duration('1ns')",
                                                     "duration('-106751d')",
                                                     "timestamp('0001-01-01T00:00:00Z')",
                                                     "timestamp('9999-12-31T23:59:59.999999999Z')",
                                                     "event.properties.n",
                                                     "event.properties.list",
                                                     "event.properties.m",
                                                     "traits.age",
                                                     "traits.country",
                                                     "customer.labels",
                                                     "event.timestamp",
                                                     "change.old"};
    static const std::vector<std::string> kBinary = {
        "+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "&&", "||", " in "};
    static const std::vector<std::string> kCalls = {
        "size", "int",  "uint", "double",    "string",   "bytes",
        "bool", "type", "dyn",  "timestamp", "duration", "days_since"};
    static const std::vector<std::string> kMethods = {
        ".size()",        ".getHours()",     ".getDayOfWeek('UTC')", ".lowerAscii()",     ".trim()",
        ".contains('a')", ".startsWith('')", ".matches('a|b')",      ".getMilliseconds()"};
    if (depth <= 0) {
      // dyn() hides the type from the checker, so type errors surface at
      // run time and the evaluator sees them.
      const std::string& leaf = kLeaves[Below(kLeaves.size())];
      return Below(3) == 0 ? leaf : "dyn(" + leaf + ")";
    }
    switch (Below(8)) {
      case 0:
      case 1:
        return "(" + Generate(depth - 1) + kBinary[Below(kBinary.size())] + Generate(depth - 1) +
               ")";
      case 2:
        return kCalls[Below(kCalls.size())] + "(" + Generate(depth - 1) + ")";
      case 3:
        return "(" + Generate(depth - 1) + ")" + kMethods[Below(kMethods.size())];
      case 4:
        return "(" + Generate(depth - 1) + " ? " + Generate(depth - 1) + " : " +
               Generate(depth - 1) + ")";
      case 5:
        return "[" + Generate(depth - 1) + ", " + Generate(depth - 1) + "]" +
               (Below(2) == 0 ? ".map(x, x)" : ".exists(x, x == " + Generate(depth - 1) + ")");
      case 6:
        return "(" + Generate(depth - 1) + ")[" + Generate(depth - 1) + "]";
      default:
        return (Below(2) == 0 ? "!" : "-") + std::string("(") + Generate(depth - 1) + ")";
    }
  }

 private:
  std::mt19937_64 rng_;
};

bool EveryLineHasLocation(const std::string& message) {
  size_t start = 0;
  while (start <= message.size()) {
    const size_t end = message.find('\n', start);
    const std::string line = message.substr(start, end == std::string::npos ? end : end - start);
    if (line.rfind("fuzz.yaml:", 0) != 0) return false;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return true;
}

TEST(ExprFuzz, BadInputNeverCrashes) {
  const char* env_seed = std::getenv("CAIRN_FUZZ_SEED");
  const uint64_t seed = env_seed != nullptr ? std::strtoull(env_seed, nullptr, 10) : 20260101;
  Fuzzer fuzz(seed);
  const SampleActivation activation;
  Limits limits;
  limits.max_steps = 5000;
  const auto deadline = std::chrono::steady_clock::now() + kMaxTime;
  int cases = 0, compiled = 0, evaluated = 0;
  for (; cases < kMaxCases && std::chrono::steady_clock::now() < deadline; ++cases) {
    std::string source;
    switch (cases % 3) {
      case 0:
        source = fuzz.Mutate(kCorpus[fuzz.Below(kCorpus.size())]);
        break;
      case 1:
        source = fuzz.Random();
        break;
      default:
        source = fuzz.Generate(1 + static_cast<int>(fuzz.Below(5)));
    }
    SCOPED_TRACE("seed " + std::to_string(seed) + " case " + std::to_string(cases) + ": " + source);
    auto program = Compile(source, journey::JourneyDeclarations(), {"fuzz.yaml", 3, 9}, limits);
    if (!program.ok()) {
      ASSERT_TRUE(EveryLineHasLocation(program.status().message())) << program.status().message();
      continue;
    }
    ++compiled;
    const auto first = program->Eval(activation);
    const auto again = Program(*program).Eval(activation);
    ASSERT_EQ(first.ok(), again.ok());
    if (first.ok()) {
      ++evaluated;
      // Deterministic, and every value renders.
      EXPECT_EQ(first->DebugString(), again->DebugString());
      EXPECT_FALSE(first->ToJson().empty());
    } else {
      ASSERT_TRUE(EveryLineHasLocation(first.status().message())) << first.status().message();
      EXPECT_EQ(first.status().message(), again.status().message());
    }
  }
  std::cout << "fuzz: " << cases << " expressions (seed " << seed << "), " << compiled
            << " compiled, " << evaluated << " evaluated to a value" << std::endl;
  EXPECT_GT(cases, 1000);
  EXPECT_GT(compiled, cases / 20);  // the generator reaches the evaluator
  EXPECT_GT(evaluated, cases / 50);
}

}  // namespace
}  // namespace cairn::expr
