// Runs CEL's conformance cases that apply to Cairn's subset (extracted into
// tests/expr/conformance/cases.json by extract.mjs). Every case must pass
// unless it is on conformance/skip.txt with a reason; a skipped case that
// passes fails too, so the list stays honest.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "expr/expr.h"

namespace cairn::expr {
namespace {

using nlohmann::json;

const std::string kDir = std::string(CAIRN_SOURCE_DIR) + "/tests/expr/conformance/";

std::string Base64Decode(const std::string& in) {
  std::string out;
  uint32_t buf = 0;
  int bits = 0;
  for (const char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '+' || c == '-') {
      v = 62;
    } else if (c == '/' || c == '_') {
      v = 63;
    } else {
      continue;
    }
    buf = (buf << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buf >> bits) & 0xff);
    }
  }
  return out;
}

class NoVariables : public Activation {
 public:
  Value Resolve(int) const override { return Value(); }
  TimestampMs Now() const override { return 0; }
};

// A timestamp or duration through the implementation's own parser.
Value Evaluated(const std::string& source) {
  auto program = Compile(source, {}, {"conformance"});
  if (!program.ok()) return Value();
  auto v = program->Eval(NoVariables());
  return v.ok() ? *v : Value();
}

Value ToValue(const json& j) {
  if (j.contains("null")) return Value::Null();
  if (j.contains("bool")) return Value::Bool(j["bool"].get<bool>());
  if (j.contains("int")) return Value::Int(std::stoll(j["int"].get<std::string>()));
  if (j.contains("uint")) return Value::Uint(std::stoull(j["uint"].get<std::string>()));
  if (j.contains("double")) {
    const json& d = j["double"];
    if (d.is_string()) {
      const std::string s = d.get<std::string>();
      if (s == "NaN") return Value::Double(std::nan(""));
      return Value::Double(s[0] == '-' ? -INFINITY : INFINITY);
    }
    return Value::Double(d.get<double>());
  }
  if (j.contains("string")) return Value::String(j["string"].get<std::string>());
  if (j.contains("bytes")) return Value::Bytes(Base64Decode(j["bytes"].get<std::string>()));
  if (j.contains("type")) return Value::TypeValue(j["type"].get<std::string>());
  if (j.contains("timestamp")) {
    return Evaluated("timestamp('" + j["timestamp"].get<std::string>() + "')");
  }
  if (j.contains("duration")) {
    return Evaluated("duration('" + j["duration"].get<std::string>() + "')");
  }
  if (j.contains("list")) {
    ValueList items;
    for (const json& item : j["list"]) items.push_back(ToValue(item));
    return Value::List(std::move(items));
  }
  if (j.contains("map")) {
    ValueMap entries;
    for (const json& entry : j["map"]) entries.emplace_back(ToValue(entry[0]), ToValue(entry[1]));
    return Value::Map(std::move(entries));
  }
  ADD_FAILURE() << "unknown value in cases.json: " << j.dump();
  return Value();
}

Type ToType(const json& j) {
  using B = Type::Base;
  if (j.is_string()) {
    static const std::map<std::string, B> kBases = {
        {"int", B::kInt},   {"uint", B::kUint},           {"double", B::kDouble},
        {"bool", B::kBool}, {"string", B::kString},       {"bytes", B::kBytes},
        {"null", B::kNull}, {"timestamp", B::kTimestamp}, {"duration", B::kDuration},
        {"dyn", B::kDyn}};
    return Type::Of(kBases.at(j.get<std::string>()));
  }
  if (j.contains("list")) return Type::ListOf(ToType(j["list"]));
  return Type::MapOf(ToType(j["map"]));
}

// Exact equality for test results: kinds must match (1 is not 1.0), NaN
// equals NaN.
bool Same(const Value& a, const Value& b) {
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::kDouble:
      if (std::isnan(a.double_value())) return std::isnan(b.double_value());
      return a.double_value() == b.double_value();
    case Kind::kList:
      if (a.list().size() != b.list().size()) return false;
      for (size_t i = 0; i < a.list().size(); ++i) {
        if (!Same(a.list()[i], b.list()[i])) return false;
      }
      return true;
    case Kind::kMap:
      if (a.map().size() != b.map().size()) return false;
      for (const auto& [k, v] : a.map()) {
        const Value* w = b.Find(k);
        if (w == nullptr || !Same(v, *w)) return false;
      }
      return true;
    default:
      return a.Equals(b);
  }
}

class Bindings : public Activation {
 public:
  explicit Bindings(std::vector<Value> values) : values_(std::move(values)) {}
  Value Resolve(int slot) const override { return values_.at(static_cast<size_t>(slot)); }
  TimestampMs Now() const override { return 0; }

 private:
  std::vector<Value> values_;
};

struct Outcome {
  bool passed = false;
  std::string detail;
};

Outcome RunCase(const json& c) {
  Declarations decls;
  std::vector<Value> values;
  if (c.contains("env")) {
    for (const auto& [name, type] : c["env"].items()) {
      decls.variables.emplace_back(name, ToType(type));
      values.push_back(c.contains("bindings") && c["bindings"].contains(name)
                           ? ToValue(c["bindings"][name])
                           : Value());
    }
  }
  const std::string expr = c["expr"].get<std::string>();
  Limits limits;
  auto program = Compile(expr, decls, {"case"}, limits);
  const bool want_error = c.contains("error");
  if (!program.ok()) {
    if (want_error) return {true, ""};
    return {false, "compile error: " + program.status().message()};
  }
  auto result = program->Eval(Bindings(values));
  if (want_error) {
    if (!result.ok()) return {true, ""};
    return {false, "expected an error, got " + result->DebugString()};
  }
  if (!result.ok()) return {false, "eval error: " + result.status().message()};
  const Value want = ToValue(c["value"]);
  if (!Same(*result, want)) {
    return {false, "got " + result->DebugString() + ", want " + want.DebugString()};
  }
  return {true, ""};
}

// skip.txt: "suite/subsuite/name | reason" per line; '#' starts a comment.
std::map<std::string, std::string> ReadSkipList() {
  std::map<std::string, std::string> skips;
  std::ifstream in(kDir + "skip.txt");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t bar = line.find(" | ");
    if (bar == std::string::npos) {
      ADD_FAILURE() << "skip.txt: no ' | reason' in: " << line;
      continue;
    }
    skips[line.substr(0, bar)] = line.substr(bar + 3);
  }
  return skips;
}

TEST(Conformance, CelSpecCases) {
  std::ifstream in(kDir + "cases.json");
  ASSERT_TRUE(in) << "missing " << kDir << "cases.json";
  const json doc = json::parse(in);
  std::map<std::string, std::string> skips = ReadSkipList();
  int run = 0, passed = 0, failed = 0;
  std::map<std::string, int> skipped_by_reason;
  std::set<std::string> seen;
  for (const json& c : doc["cases"]) {
    const std::string id = c["suite"].get<std::string>() + "/" + c["name"].get<std::string>();
    seen.insert(id);
    const Outcome outcome = RunCase(c);
    const auto skip = skips.find(id);
    if (skip != skips.end()) {
      ++skipped_by_reason[skip->second];
      EXPECT_FALSE(outcome.passed) << id << " passes now: remove it from skip.txt";
      continue;
    }
    ++run;
    if (outcome.passed) {
      ++passed;
    } else {
      ++failed;
      ADD_FAILURE() << id << ": " << c["expr"].get<std::string>() << "\n  " << outcome.detail;
    }
  }
  for (const auto& [id, reason] : skips) {
    EXPECT_TRUE(seen.count(id)) << "skip.txt names a case that does not exist: " << id;
  }
  std::ostringstream report;
  report << "CEL conformance (" << doc["source"].get<std::string>() << "): " << doc["cases"].size()
         << " cases, " << run << " run, " << passed << " passed, " << failed << " failed, "
         << (doc["cases"].size() - run) << " skipped";
  for (const auto& [reason, n] : skipped_by_reason) report << "\n  skipped " << n << ": " << reason;
  std::cout << report.str() << std::endl;
  RecordProperty("conformance", report.str());
}

}  // namespace
}  // namespace cairn::expr
