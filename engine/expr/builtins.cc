// CEL's standard functions plus Cairn's time helpers. Each builtin lists its
// overloads for the checker and has one implementation that dispatches on
// the argument kinds at run time (arguments may be dyn).
#include <re2/re2.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "expr/program_impl.h"

namespace cairn::expr::internal {
namespace {

using B = Type::Base;

std::string_view ShortKind(Kind k) {
  switch (k) {
    case Kind::kNull:
      return "null";
    case Kind::kTimestamp:
      return "timestamp";
    case Kind::kDuration:
      return "duration";
    default:
      return KindName(k);
  }
}

bool NoOverload(const CallArgs& call, std::string& error) {
  error = call.node.name + "() cannot be applied to (";
  for (int i = 0; i < call.count; ++i) {
    if (i > 0) error += ", ";
    error += ShortKind(call.args[i]->kind());
  }
  error += ")";
  return false;
}

const Value& Arg(const CallArgs& call, int i) { return *call.args[i]; }
Kind ArgKind(const CallArgs& call, int i) { return call.args[i]->kind(); }

// ---- strings

bool Size(const CallArgs& call, Value& out, std::string& error) {
  const Value& v = Arg(call, 0);
  switch (v.kind()) {
    case Kind::kString:
      out = Value::Int(CodePointCount(v.string_value()));
      return true;
    case Kind::kBytes:
      out = Value::Int(static_cast<int64_t>(v.string_value().size()));
      return true;
    case Kind::kList:
      out = Value::Int(static_cast<int64_t>(v.list().size()));
      return true;
    case Kind::kMap:
      out = Value::Int(static_cast<int64_t>(v.map().size()));
      return true;
    default:
      return NoOverload(call, error);
  }
}

bool BothStrings(const CallArgs& call) {
  return ArgKind(call, 0) == Kind::kString && ArgKind(call, 1) == Kind::kString;
}

bool Contains(const CallArgs& call, Value& out, std::string& error) {
  if (!BothStrings(call)) return NoOverload(call, error);
  out = Value::Bool(Arg(call, 0).string_value().find(Arg(call, 1).string_value()) !=
                    std::string::npos);
  return true;
}

bool StartsWith(const CallArgs& call, Value& out, std::string& error) {
  if (!BothStrings(call)) return NoOverload(call, error);
  out = Value::Bool(
      std::string_view(Arg(call, 0).string_value()).starts_with(Arg(call, 1).string_value()));
  return true;
}

bool EndsWith(const CallArgs& call, Value& out, std::string& error) {
  if (!BothStrings(call)) return NoOverload(call, error);
  out = Value::Bool(
      std::string_view(Arg(call, 0).string_value()).ends_with(Arg(call, 1).string_value()));
  return true;
}

bool Matches(const CallArgs& call, Value& out, std::string& error) {
  if (!BothStrings(call)) return NoOverload(call, error);
  if (call.node.regex != nullptr) {
    out = Value::Bool(RE2::PartialMatch(Arg(call, 0).string_value(), *call.node.regex));
    return true;
  }
  RE2::Options options;
  options.set_log_errors(false);
  const RE2 re(Arg(call, 1).string_value(), options);
  if (!re.ok()) {
    error =
        "invalid regular expression '" + Snippet(Arg(call, 1).string_value()) + "': " + re.error();
    return false;
  }
  out = Value::Bool(RE2::PartialMatch(Arg(call, 0).string_value(), re));
  return true;
}

bool LowerAscii(const CallArgs& call, Value& out, std::string& error) {
  if (ArgKind(call, 0) != Kind::kString) return NoOverload(call, error);
  std::string s = Arg(call, 0).string_value();
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  out = Value::String(std::move(s));
  return true;
}

bool UpperAscii(const CallArgs& call, Value& out, std::string& error) {
  if (ArgKind(call, 0) != Kind::kString) return NoOverload(call, error);
  std::string s = Arg(call, 0).string_value();
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  out = Value::String(std::move(s));
  return true;
}

// Unicode White_Space (as Go's unicode.IsSpace, which cel-go's trim uses).
bool IsSpace(uint32_t cp) {
  switch (cp) {
    case ' ':
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case 0x85:
    case 0xa0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202f:
    case 0x205f:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200a;
  }
}

// Decodes the code point starting at s[i] (valid UTF-8); returns its length.
int DecodeAt(std::string_view s, size_t i, uint32_t& cp) {
  const auto c = static_cast<uint8_t>(s[i]);
  int len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : 4;
  cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
  for (int k = 1; k < len && i + k < s.size(); ++k) {
    cp = (cp << 6) | (static_cast<uint8_t>(s[i + k]) & 0x3f);
  }
  return len;
}

bool Trim(const CallArgs& call, Value& out, std::string& error) {
  if (ArgKind(call, 0) != Kind::kString) return NoOverload(call, error);
  const std::string_view s = Arg(call, 0).string_value();
  size_t begin = 0;
  while (begin < s.size()) {
    uint32_t cp = 0;
    const int len = DecodeAt(s, begin, cp);
    if (!IsSpace(cp)) break;
    begin += len;
  }
  size_t end = s.size();
  while (end > begin) {
    size_t start = end - 1;
    while (start > begin && (static_cast<uint8_t>(s[start]) & 0xc0) == 0x80) --start;
    uint32_t cp = 0;
    DecodeAt(s, start, cp);
    if (!IsSpace(cp)) break;
    end = start;
  }
  out = Value::String(std::string(s.substr(begin, end - begin)));
  return true;
}

// ---- conversions

bool ToInt(const CallArgs& call, Value& out, std::string& error) {
  const Value& v = Arg(call, 0);
  switch (v.kind()) {
    case Kind::kInt:
      out = v;
      return true;
    case Kind::kUint:
      if (v.uint_value() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        error = "int() overflow: " + std::to_string(v.uint_value()) + "u is beyond the int range";
        return false;
      }
      out = Value::Int(static_cast<int64_t>(v.uint_value()));
      return true;
    case Kind::kDouble: {
      const double d = v.double_value();
      if (!(d > -0x1p63 && d < 0x1p63)) {
        error = "int() overflow: " + FormatDouble(d) + " is beyond the int range";
        return false;
      }
      out = Value::Int(static_cast<int64_t>(d));
      return true;
    }
    case Kind::kString: {
      const std::string& s = v.string_value();
      int64_t i = 0;
      const auto r = std::from_chars(s.data(), s.data() + s.size(), i);
      if (r.ec != std::errc() || r.ptr != s.data() + s.size()) {
        error = "int(): '" + Snippet(s) + "' is not an integer";
        return false;
      }
      out = Value::Int(i);
      return true;
    }
    case Kind::kTimestamp:
      out = Value::Int(v.timestamp_seconds());
      return true;
    default:
      return NoOverload(call, error);
  }
}

bool ToUint(const CallArgs& call, Value& out, std::string& error) {
  const Value& v = Arg(call, 0);
  switch (v.kind()) {
    case Kind::kUint:
      out = v;
      return true;
    case Kind::kInt:
      if (v.int_value() < 0) {
        error = "uint() overflow: " + std::to_string(v.int_value()) + " is negative";
        return false;
      }
      out = Value::Uint(static_cast<uint64_t>(v.int_value()));
      return true;
    case Kind::kDouble: {
      const double d = v.double_value();
      if (!(d >= 0 && d < 0x1p64)) {
        error = "uint() overflow: " + FormatDouble(d) + " is beyond the uint range";
        return false;
      }
      out = Value::Uint(static_cast<uint64_t>(d));
      return true;
    }
    case Kind::kString: {
      const std::string& s = v.string_value();
      uint64_t u = 0;
      const auto r = std::from_chars(s.data(), s.data() + s.size(), u);
      if (r.ec != std::errc() || r.ptr != s.data() + s.size()) {
        error = "uint(): '" + Snippet(s) + "' is not an unsigned integer";
        return false;
      }
      out = Value::Uint(u);
      return true;
    }
    default:
      return NoOverload(call, error);
  }
}

bool DoubleConversion(const CallArgs& call, Value& out, std::string& error) {
  const Value& v = Arg(call, 0);
  switch (v.kind()) {
    case Kind::kDouble:
      out = v;
      return true;
    case Kind::kInt:
      out = Value::Double(static_cast<double>(v.int_value()));
      return true;
    case Kind::kUint:
      out = Value::Double(static_cast<double>(v.uint_value()));
      return true;
    case Kind::kString: {
      std::string_view s = v.string_value();
      if (s.starts_with('+')) s.remove_prefix(1);
      double d = 0;
      const auto r = std::from_chars(s.data(), s.data() + s.size(), d);
      if ((r.ec != std::errc() && r.ec != std::errc::result_out_of_range) || s.empty() ||
          r.ptr != s.data() + s.size()) {
        error = "double(): '" + Snippet(v.string_value()) + "' is not a number";
        return false;
      }
      out = Value::Double(d);
      return true;
    }
    default:
      return NoOverload(call, error);
  }
}

bool ToString(const CallArgs& call, Value& out, std::string& error) {
  const Value& v = Arg(call, 0);
  switch (v.kind()) {
    case Kind::kString:
      out = v;
      return true;
    case Kind::kInt:
      out = Value::String(std::to_string(v.int_value()));
      return true;
    case Kind::kUint:
      out = Value::String(std::to_string(v.uint_value()));
      return true;
    case Kind::kDouble:
      out = Value::String(FormatDoubleShort(v.double_value()));
      return true;
    case Kind::kBool:
      out = Value::String(v.bool_value() ? "true" : "false");
      return true;
    case Kind::kBytes:
      if (!ValidUtf8(v.string_value())) {
        error = "string(): the bytes are not valid UTF-8";
        return false;
      }
      out = Value::String(v.string_value());
      return true;
    case Kind::kTimestamp:
      out = Value::String(FormatRfc3339(v.timestamp_seconds(), v.timestamp_nanos()));
      return true;
    case Kind::kDuration:
      out = Value::String(FormatDuration(v.duration_nanos()));
      return true;
    default:
      return NoOverload(call, error);
  }
}

bool ToBool(const CallArgs& call, Value& out, std::string& error) {
  const Value& v = Arg(call, 0);
  if (v.kind() == Kind::kBool) {
    out = v;
    return true;
  }
  if (v.kind() != Kind::kString) return NoOverload(call, error);
  const std::string& s = v.string_value();
  if (s == "true" || s == "True" || s == "TRUE" || s == "t" || s == "1") {
    out = Value::Bool(true);
  } else if (s == "false" || s == "False" || s == "FALSE" || s == "f" || s == "0") {
    out = Value::Bool(false);
  } else {
    error = "bool(): '" + Snippet(s) + "' is not true or false";
    return false;
  }
  return true;
}

bool ToBytes(const CallArgs& call, Value& out, std::string& error) {
  const Value& v = Arg(call, 0);
  if (v.kind() == Kind::kBytes) {
    out = v;
    return true;
  }
  if (v.kind() != Kind::kString) return NoOverload(call, error);
  out = Value::Bytes(v.string_value());
  return true;
}

bool Dyn(const CallArgs& call, Value& out, std::string&) {
  out = Arg(call, 0);
  return true;
}

bool TypeOf(const CallArgs& call, Value& out, std::string&) {
  out = Value::TypeValue(KindName(ArgKind(call, 0)));
  return true;
}

bool ToTimestamp(const CallArgs& call, Value& out, std::string& error) {
  const Value& v = Arg(call, 0);
  switch (v.kind()) {
    case Kind::kTimestamp:
      out = v;
      return true;
    case Kind::kString: {
      int64_t seconds = 0;
      int32_t nanos = 0;
      std::string why;
      if (!ParseRfc3339(v.string_value(), seconds, nanos, why)) {
        error = "timestamp('" + Snippet(v.string_value()) + "'): " + why;
        return false;
      }
      out = Value::TimestampNanos(seconds, nanos);
      return true;
    }
    case Kind::kInt:
      if (!TimestampFromNanos(Int128{v.int_value()} * kNanosPerSecond, out)) {
        error = "timestamp(" + std::to_string(v.int_value()) + "): out of range";
        return false;
      }
      return true;
    default:
      return NoOverload(call, error);
  }
}

bool ToDuration(const CallArgs& call, Value& out, std::string& error) {
  const Value& v = Arg(call, 0);
  switch (v.kind()) {
    case Kind::kDuration:
      out = v;
      return true;
    case Kind::kString: {
      Int128 nanos = 0;
      std::string why;
      if (!ParseDurationText(v.string_value(), nanos, why)) {
        error = "duration('" + Snippet(v.string_value()) + "'): " + why;
        return false;
      }
      if (!DurationFromNanos(nanos, out)) {
        error = "duration('" + Snippet(v.string_value()) + "'): out of range (about +-292 years)";
        return false;
      }
      return true;
    }
    default:
      return NoOverload(call, error);
  }
}

// ---- timestamp and duration accessors

enum class Field {
  kFullYear,
  kMonth,
  kDayOfYear,
  kDayOfMonth,
  kDate,
  kDayOfWeek,
  kHours,
  kMinutes,
  kSeconds,
  kMilliseconds
};

template <Field F>
bool Accessor(const CallArgs& call, Value& out, std::string& error) {
  const Value& v = Arg(call, 0);
  if (v.kind() == Kind::kDuration && call.count == 1) {
    const int64_t n = v.duration_nanos();
    switch (F) {
      case Field::kHours:
        out = Value::Int(n / (3600 * kNanosPerSecond));
        return true;
      case Field::kMinutes:
        out = Value::Int(n / (60 * kNanosPerSecond));
        return true;
      case Field::kSeconds:
        out = Value::Int(n / kNanosPerSecond);
        return true;
      case Field::kMilliseconds:
        out = Value::Int(n % kNanosPerSecond / 1'000'000);
        return true;
      default:
        return NoOverload(call, error);
    }
  }
  if (v.kind() != Kind::kTimestamp) return NoOverload(call, error);
  Zone zone;
  const Zone* zp = nullptr;
  if (call.count == 2) {
    if (call.node.has_zone) {
      zp = &call.node.zone;
    } else {
      if (ArgKind(call, 1) != Kind::kString) return NoOverload(call, error);
      if (!ParseZone(Arg(call, 1).string_value(), zone, error)) return false;
      zp = &zone;
    }
  }
  Civil c;
  if (!ToCivil(v.timestamp_seconds(), v.timestamp_nanos(), zp, c, error)) return false;
  int64_t r = 0;
  switch (F) {
    case Field::kFullYear:
      r = c.year;
      break;
    case Field::kMonth:
      r = c.month - 1;
      break;
    case Field::kDayOfYear:
      r = c.day_of_year;
      break;
    case Field::kDayOfMonth:
      r = c.day - 1;
      break;
    case Field::kDate:
      r = c.day;
      break;
    case Field::kDayOfWeek:
      r = c.day_of_week;
      break;
    case Field::kHours:
      r = c.hour;
      break;
    case Field::kMinutes:
      r = c.minute;
      break;
    case Field::kSeconds:
      r = c.second;
      break;
    case Field::kMilliseconds:
      r = c.nanos / 1'000'000;
      break;
  }
  out = Value::Int(r);
  return true;
}

// ---- Cairn: time relative to now

template <int64_t kUnitSeconds, bool kSince>
bool RelativeToNow(const CallArgs& call, Value& out, std::string& error) {
  const Value& v = Arg(call, 0);
  if (v.kind() != Kind::kTimestamp) {
    NoOverload(call, error);
    if (v.kind() == Kind::kString) error += "; convert text with timestamp(...)";
    return false;
  }
  const Int128 now = Int128{call.state.NowMs()} * 1'000'000;
  const Int128 ts = TimestampNanos(v);
  const Int128 diff = kSince ? now - ts : ts - now;
  out = Value::Double(static_cast<double>(diff) / (static_cast<double>(kUnitSeconds) * 1e9));
  return true;
}

std::vector<Builtin> MakeBuiltins() {
  using S = Signature;
  const auto one = [](B p, B r) { return S{{p}, r}; };
  const auto two = [](B p, B q, B r) { return S{{p, q}, r}; };
  std::vector<Builtin> b;
  b.push_back({"size",
               true,
               true,
               true,
               {one(B::kString, B::kInt), one(B::kBytes, B::kInt), one(B::kList, B::kInt),
                one(B::kMap, B::kInt)},
               &Size});
  b.push_back({"contains", false, true, true, {two(B::kString, B::kString, B::kBool)}, &Contains});
  b.push_back(
      {"startsWith", false, true, true, {two(B::kString, B::kString, B::kBool)}, &StartsWith});
  b.push_back({"endsWith", false, true, true, {two(B::kString, B::kString, B::kBool)}, &EndsWith});
  b.push_back({"matches", true, true, true, {two(B::kString, B::kString, B::kBool)}, &Matches});
  b.push_back({"lowerAscii", false, true, true, {one(B::kString, B::kString)}, &LowerAscii});
  b.push_back({"upperAscii", false, true, true, {one(B::kString, B::kString)}, &UpperAscii});
  b.push_back({"trim", false, true, true, {one(B::kString, B::kString)}, &Trim});
  b.push_back({"int",
               true,
               false,
               true,
               {one(B::kInt, B::kInt), one(B::kUint, B::kInt), one(B::kDouble, B::kInt),
                one(B::kString, B::kInt), one(B::kTimestamp, B::kInt)},
               &ToInt});
  b.push_back({"uint",
               true,
               false,
               true,
               {one(B::kInt, B::kUint), one(B::kUint, B::kUint), one(B::kDouble, B::kUint),
                one(B::kString, B::kUint)},
               &ToUint});
  b.push_back({"double",
               true,
               false,
               true,
               {one(B::kInt, B::kDouble), one(B::kUint, B::kDouble), one(B::kDouble, B::kDouble),
                one(B::kString, B::kDouble)},
               &DoubleConversion});
  b.push_back({"string",
               true,
               false,
               true,
               {one(B::kString, B::kString), one(B::kInt, B::kString), one(B::kUint, B::kString),
                one(B::kDouble, B::kString), one(B::kBool, B::kString), one(B::kBytes, B::kString),
                one(B::kTimestamp, B::kString), one(B::kDuration, B::kString)},
               &ToString});
  b.push_back(
      {"bool", true, false, true, {one(B::kBool, B::kBool), one(B::kString, B::kBool)}, &ToBool});
  b.push_back({"bytes",
               true,
               false,
               true,
               {one(B::kBytes, B::kBytes), one(B::kString, B::kBytes)},
               &ToBytes});
  b.push_back({"dyn", true, false, true, {one(B::kDyn, B::kDyn)}, &Dyn});
  b.push_back({"type", true, false, true, {one(B::kDyn, B::kDyn)}, &TypeOf});
  b.push_back({"timestamp",
               true,
               false,
               true,
               {one(B::kString, B::kTimestamp), one(B::kTimestamp, B::kTimestamp),
                one(B::kInt, B::kTimestamp)},
               &ToTimestamp});
  b.push_back({"duration",
               true,
               false,
               true,
               {one(B::kString, B::kDuration), one(B::kDuration, B::kDuration)},
               &ToDuration});
  const auto ts_only = [&](std::string_view name, BuiltinFn fn) {
    b.push_back({name,
                 false,
                 true,
                 true,
                 {one(B::kTimestamp, B::kInt), two(B::kTimestamp, B::kString, B::kInt)},
                 fn});
  };
  const auto ts_or_duration = [&](std::string_view name, BuiltinFn fn) {
    b.push_back({name,
                 false,
                 true,
                 true,
                 {one(B::kTimestamp, B::kInt), two(B::kTimestamp, B::kString, B::kInt),
                  one(B::kDuration, B::kInt)},
                 fn});
  };
  ts_only("getFullYear", &Accessor<Field::kFullYear>);
  ts_only("getMonth", &Accessor<Field::kMonth>);
  ts_only("getDayOfYear", &Accessor<Field::kDayOfYear>);
  ts_only("getDayOfMonth", &Accessor<Field::kDayOfMonth>);
  ts_only("getDate", &Accessor<Field::kDate>);
  ts_only("getDayOfWeek", &Accessor<Field::kDayOfWeek>);
  ts_or_duration("getHours", &Accessor<Field::kHours>);
  ts_or_duration("getMinutes", &Accessor<Field::kMinutes>);
  ts_or_duration("getSeconds", &Accessor<Field::kSeconds>);
  ts_or_duration("getMilliseconds", &Accessor<Field::kMilliseconds>);
  b.push_back({"days_since",
               true,
               false,
               false,
               {one(B::kTimestamp, B::kDouble)},
               &RelativeToNow<86400, true>});
  b.push_back({"days_until",
               true,
               false,
               false,
               {one(B::kTimestamp, B::kDouble)},
               &RelativeToNow<86400, false>});
  b.push_back({"hours_since",
               true,
               false,
               false,
               {one(B::kTimestamp, B::kDouble)},
               &RelativeToNow<3600, true>});
  return b;
}

const std::vector<Builtin>& Builtins() {
  static const std::vector<Builtin> kBuiltins = MakeBuiltins();
  return kBuiltins;
}

}  // namespace

const Builtin* FindBuiltin(std::string_view name) {
  for (const Builtin& b : Builtins()) {
    if (b.name == name) return &b;
  }
  return nullptr;
}

std::vector<std::string_view> BuiltinNames() {
  std::vector<std::string_view> names;
  for (const Builtin& b : Builtins()) names.push_back(b.name);
  for (std::string_view m : {"has", "all", "exists", "exists_one", "map", "filter"}) {
    names.push_back(m);
  }
  return names;
}

bool IsTypeName(std::string_view name) {
  static constexpr std::string_view kNames[] = {"bool",
                                                "int",
                                                "uint",
                                                "double",
                                                "string",
                                                "bytes",
                                                "list",
                                                "map",
                                                "null_type",
                                                "type",
                                                "google.protobuf.Timestamp",
                                                "google.protobuf.Duration"};
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

}  // namespace cairn::expr::internal
