// expr::Value: scalars inline, everything else in shared immutable storage.
#include <simdjson.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <functional>
#include <limits>
#include <unordered_set>
#include <variant>

#include "expr/expr.h"
#include "expr/internal.h"

namespace cairn::expr {

using internal::Int128;
using internal::kNanosPerSecond;

namespace {

// Maps with more entries than this get a hash index; smaller ones are
// scanned, which is faster for the handful of keys events usually have.
constexpr size_t kIndexThreshold = 16;

uint64_t Mix(uint64_t x) {  // splitmix64 finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t StringHash(std::string_view s) { return Mix(std::hash<std::string_view>{}(s)); }

}  // namespace

struct MapData {
  ValueMap entries;
  std::vector<std::pair<uint64_t, uint32_t>> index;  // (key hash, position), sorted; large maps
};

struct Value::Rep {
  std::variant<std::string, ValueList, MapData> data;
};

namespace {

const std::string& EmptyString() {
  static const std::string kEmpty;
  return kEmpty;
}
const ValueList& EmptyList() {
  static const ValueList kEmpty;
  return kEmpty;
}
const ValueMap& EmptyMap() {
  static const ValueMap kEmpty;
  return kEmpty;
}

// Hash of a map key consistent with CEL equality: 1 and 1u hash alike.
uint64_t KeyHash(const Value& key) {
  switch (key.kind()) {
    case Kind::kBool:
      return Mix(key.bool_value() ? 0x7f4a7c15ULL : 0x3c6ef372ULL);
    case Kind::kInt:
      return Mix(static_cast<uint64_t>(key.int_value()));
    case Kind::kUint:
      return Mix(key.uint_value());
    case Kind::kString:
      return StringHash(key.string_value());
    default:
      return 0;
  }
}

bool KeyEquals(const Value& a, const Value& b) {
  switch (a.kind()) {
    case Kind::kBool:
      return b.kind() == Kind::kBool && a.bool_value() == b.bool_value();
    case Kind::kString:
      return b.kind() == Kind::kString && a.string_value() == b.string_value();
    case Kind::kInt:
      if (b.kind() == Kind::kInt) return a.int_value() == b.int_value();
      return b.kind() == Kind::kUint && a.int_value() >= 0 &&
             static_cast<uint64_t>(a.int_value()) == b.uint_value();
    case Kind::kUint:
      if (b.kind() == Kind::kUint) return a.uint_value() == b.uint_value();
      return b.kind() == Kind::kInt && b.int_value() >= 0 &&
             static_cast<uint64_t>(b.int_value()) == a.uint_value();
    default:
      return false;
  }
}

}  // namespace

std::string_view KindName(Kind kind) {
  switch (kind) {
    case Kind::kNull:
      return "null_type";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kUint:
      return "uint";
    case Kind::kDouble:
      return "double";
    case Kind::kString:
      return "string";
    case Kind::kBytes:
      return "bytes";
    case Kind::kList:
      return "list";
    case Kind::kMap:
      return "map";
    case Kind::kTimestamp:
      return "google.protobuf.Timestamp";
    case Kind::kDuration:
      return "google.protobuf.Duration";
    case Kind::kType:
      return "type";
  }
  return "unknown";
}

// ---- construction

Value::Value() = default;
Value Value::Null() { return Value(); }

Value Value::Bool(bool b) {
  Value v;
  v.kind_ = Kind::kBool;
  v.bits_ = b ? 1 : 0;
  return v;
}

Value Value::Int(int64_t i) {
  Value v;
  v.kind_ = Kind::kInt;
  v.bits_ = static_cast<uint64_t>(i);
  return v;
}

Value Value::Uint(uint64_t u) {
  Value v;
  v.kind_ = Kind::kUint;
  v.bits_ = u;
  return v;
}

Value Value::Double(double d) {
  Value v;
  v.kind_ = Kind::kDouble;
  v.bits_ = std::bit_cast<uint64_t>(d);
  return v;
}

Value Value::String(std::string s) {
  Value v;
  v.kind_ = Kind::kString;
  v.rep_ = std::make_shared<const Rep>(Rep{std::move(s)});
  return v;
}

Value Value::Bytes(std::string b) {
  Value v;
  v.kind_ = Kind::kBytes;
  v.rep_ = std::make_shared<const Rep>(Rep{std::move(b)});
  return v;
}

Value Value::TypeValue(std::string_view name) {
  Value v;
  v.kind_ = Kind::kType;
  v.rep_ = std::make_shared<const Rep>(Rep{std::string(name)});
  return v;
}

Value Value::List(ValueList items) {
  Value v;
  v.kind_ = Kind::kList;
  v.rep_ = std::make_shared<const Rep>(Rep{std::move(items)});
  return v;
}

Value Value::Map(ValueMap entries) {
  MapData data;
  data.entries = std::move(entries);
  if (data.entries.size() > kIndexThreshold) {
    data.index.reserve(data.entries.size());
    for (size_t i = 0; i < data.entries.size(); ++i) {
      data.index.emplace_back(KeyHash(data.entries[i].first), static_cast<uint32_t>(i));
    }
    std::sort(data.index.begin(), data.index.end());
  }
  Value v;
  v.kind_ = Kind::kMap;
  v.rep_ = std::make_shared<const Rep>(Rep{std::move(data)});
  return v;
}

Value Value::TimestampNanos(int64_t seconds, int32_t nanos) {
  // Normalise nanos into [0, 1e9) (saturating the seconds).
  Int128 total = Int128{seconds} * kNanosPerSecond + nanos;
  Int128 s = total / kNanosPerSecond;
  Int128 n = total % kNanosPerSecond;
  if (n < 0) {
    n += kNanosPerSecond;
    s -= 1;
  }
  s = std::clamp<Int128>(s, std::numeric_limits<int64_t>::min(),
                         std::numeric_limits<int64_t>::max());
  Value v;
  v.kind_ = Kind::kTimestamp;
  v.bits_ = static_cast<uint64_t>(static_cast<int64_t>(s));
  v.nanos_ = static_cast<int32_t>(n);
  return v;
}

Value Value::TimestampFromMs(TimestampMs ms) {
  int64_t seconds = ms / 1000;
  int64_t rest = ms % 1000;
  if (rest < 0) {
    rest += 1000;
    seconds -= 1;
  }
  return TimestampNanos(seconds, static_cast<int32_t>(rest * 1'000'000));
}

Value Value::DurationNanos(int64_t seconds, int32_t nanos) {
  const Int128 total = Int128{seconds} * kNanosPerSecond + nanos;
  Value v;
  v.kind_ = Kind::kDuration;
  v.bits_ = static_cast<uint64_t>(static_cast<int64_t>(std::clamp<Int128>(
      total, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max())));
  return v;
}

Value Value::DurationFromMs(int64_t ms) {
  return DurationNanos(ms / 1000, (ms % 1000) * 1'000'000);
}

// ---- access

bool Value::bool_value() const { return kind_ == Kind::kBool && bits_ != 0; }
int64_t Value::int_value() const { return kind_ == Kind::kInt ? static_cast<int64_t>(bits_) : 0; }
uint64_t Value::uint_value() const { return kind_ == Kind::kUint ? bits_ : 0; }
double Value::double_value() const {
  return kind_ == Kind::kDouble ? std::bit_cast<double>(bits_) : 0.0;
}

const std::string& Value::string_value() const {
  if (rep_ == nullptr) return EmptyString();
  const auto* s = std::get_if<std::string>(&rep_->data);
  return s != nullptr ? *s : EmptyString();
}

const ValueList& Value::list() const {
  if (kind_ != Kind::kList) return EmptyList();
  return std::get<ValueList>(rep_->data);
}

const ValueMap& Value::map() const {
  if (kind_ != Kind::kMap) return EmptyMap();
  return std::get<MapData>(rep_->data).entries;
}

const Value* Value::Find(std::string_view key) const {
  if (kind_ != Kind::kMap) return nullptr;
  const MapData& m = std::get<MapData>(rep_->data);
  if (m.index.empty()) {
    for (const auto& [k, v] : m.entries) {
      if (k.kind_ == Kind::kString && k.string_value() == key) return &v;
    }
    return nullptr;
  }
  const uint64_t h = StringHash(key);
  auto it = std::lower_bound(m.index.begin(), m.index.end(), std::make_pair(h, uint32_t{0}));
  for (; it != m.index.end() && it->first == h; ++it) {
    const auto& [k, v] = m.entries[it->second];
    if (k.kind_ == Kind::kString && k.string_value() == key) return &v;
  }
  return nullptr;
}

const Value* Value::Find(const Value& key) const {
  if (kind_ != Kind::kMap) return nullptr;
  switch (key.kind_) {
    case Kind::kString:
      return Find(std::string_view(key.string_value()));
    case Kind::kDouble: {
      // CEL: a double key finds the int/uint key of the same value.
      const double d = key.double_value();
      if (!(d == std::trunc(d))) return nullptr;
      if (d >= -0x1p63 && d < 0x1p63) return Find(Value::Int(static_cast<int64_t>(d)));
      if (d >= 0 && d < 0x1p64) return Find(Value::Uint(static_cast<uint64_t>(d)));
      return nullptr;
    }
    case Kind::kBool:
    case Kind::kInt:
    case Kind::kUint:
      break;
    default:
      return nullptr;
  }
  const MapData& m = std::get<MapData>(rep_->data);
  if (m.index.empty()) {
    for (const auto& [k, v] : m.entries) {
      if (KeyEquals(k, key)) return &v;
    }
    return nullptr;
  }
  const uint64_t h = KeyHash(key);
  auto it = std::lower_bound(m.index.begin(), m.index.end(), std::make_pair(h, uint32_t{0}));
  for (; it != m.index.end() && it->first == h; ++it) {
    const auto& [k, v] = m.entries[it->second];
    if (KeyEquals(k, key)) return &v;
  }
  return nullptr;
}

int64_t Value::timestamp_seconds() const {
  return kind_ == Kind::kTimestamp ? static_cast<int64_t>(bits_) : 0;
}
int32_t Value::timestamp_nanos() const { return kind_ == Kind::kTimestamp ? nanos_ : 0; }
int64_t Value::duration_nanos() const {
  return kind_ == Kind::kDuration ? static_cast<int64_t>(bits_) : 0;
}

int64_t Value::millis() const {
  if (kind_ == Kind::kTimestamp) {
    const Int128 ms = Int128{timestamp_seconds()} * 1000 + nanos_ / 1'000'000;
    return static_cast<int64_t>(std::clamp<Int128>(ms, std::numeric_limits<int64_t>::min(),
                                                   std::numeric_limits<int64_t>::max()));
  }
  if (kind_ == Kind::kDuration) return duration_nanos() / 1'000'000;
  return 0;
}

// ---- comparison

namespace internal {
namespace {

template <typename T>
Order Cmp(const T& a, const T& b) {
  if (a < b) return Order::kLess;
  if (b < a) return Order::kGreater;
  return Order::kEqual;
}

Order Flip(Order o) {
  if (o == Order::kLess) return Order::kGreater;
  if (o == Order::kGreater) return Order::kLess;
  return o;
}

Order CmpIntUint(int64_t i, uint64_t u) {
  if (i < 0) return Order::kLess;
  return Cmp(static_cast<uint64_t>(i), u);
}

// Integer vs double as cel-go does it: outside the integer range by range,
// inside it by converting the integer to double (so 2^63-1 == 2^63 as double).
Order CmpIntDouble(int64_t i, double d) {
  if (std::isnan(d)) return Order::kUnordered;
  if (d < -0x1p63) return Order::kGreater;
  if (d > 0x1p63) return Order::kLess;
  return Cmp(static_cast<double>(i), d);
}

Order CmpUintDouble(uint64_t u, double d) {
  if (std::isnan(d)) return Order::kUnordered;
  if (d < 0) return Order::kGreater;
  if (d > 0x1p64) return Order::kLess;
  return Cmp(static_cast<double>(u), d);
}

}  // namespace

Order Compare(const Value& a, const Value& b) {
  const Kind ka = a.kind();
  const Kind kb = b.kind();
  switch (ka) {
    case Kind::kInt:
      if (kb == Kind::kInt) return Cmp(a.int_value(), b.int_value());
      if (kb == Kind::kUint) return CmpIntUint(a.int_value(), b.uint_value());
      if (kb == Kind::kDouble) return CmpIntDouble(a.int_value(), b.double_value());
      return Order::kInvalid;
    case Kind::kUint:
      if (kb == Kind::kUint) return Cmp(a.uint_value(), b.uint_value());
      if (kb == Kind::kInt) return Flip(CmpIntUint(b.int_value(), a.uint_value()));
      if (kb == Kind::kDouble) return CmpUintDouble(a.uint_value(), b.double_value());
      return Order::kInvalid;
    case Kind::kDouble:
      if (kb == Kind::kDouble) {
        const double x = a.double_value();
        const double y = b.double_value();
        if (std::isnan(x) || std::isnan(y)) return Order::kUnordered;
        return Cmp(x, y);
      }
      if (kb == Kind::kInt) return Flip(CmpIntDouble(b.int_value(), a.double_value()));
      if (kb == Kind::kUint) return Flip(CmpUintDouble(b.uint_value(), a.double_value()));
      return Order::kInvalid;
    case Kind::kBool:
      if (kb != Kind::kBool) return Order::kInvalid;
      return Cmp(a.bool_value(), b.bool_value());
    case Kind::kString:
    case Kind::kBytes:
      if (kb != ka) return Order::kInvalid;
      return Cmp(std::string_view(a.string_value()), std::string_view(b.string_value()));
    case Kind::kTimestamp:
      if (kb != Kind::kTimestamp) return Order::kInvalid;
      if (a.timestamp_seconds() != b.timestamp_seconds()) {
        return Cmp(a.timestamp_seconds(), b.timestamp_seconds());
      }
      return Cmp(a.timestamp_nanos(), b.timestamp_nanos());
    case Kind::kDuration:
      if (kb != Kind::kDuration) return Order::kInvalid;
      return Cmp(a.duration_nanos(), b.duration_nanos());
    default:
      return Order::kInvalid;
  }
}

}  // namespace internal

bool Value::Equals(const Value& other) const {
  const Kind ko = other.kind_;
  switch (kind_) {
    case Kind::kNull:
      return ko == Kind::kNull;
    case Kind::kInt:
    case Kind::kUint:
    case Kind::kDouble:
    case Kind::kBool:
    case Kind::kTimestamp:
    case Kind::kDuration:
      return internal::Compare(*this, other) == internal::Order::kEqual;
    case Kind::kString:
    case Kind::kBytes:
    case Kind::kType:
      return ko == kind_ && (rep_ == other.rep_ || string_value() == other.string_value());
    case Kind::kList: {
      if (ko != Kind::kList) return false;
      const ValueList& a = list();
      const ValueList& b = other.list();
      if (a.size() != b.size()) return false;
      for (size_t i = 0; i < a.size(); ++i) {
        if (!a[i].Equals(b[i])) return false;
      }
      return true;
    }
    case Kind::kMap: {
      if (ko != Kind::kMap) return false;
      if (rep_ == other.rep_) return true;
      const ValueMap& a = map();
      if (a.size() != other.map().size()) return false;
      for (const auto& [k, v] : a) {
        const Value* w = other.Find(k);
        if (w == nullptr || !v.Equals(*w)) return false;
      }
      return true;
    }
  }
  return false;
}

// ---- text

namespace internal {

std::string FormatDoubleShort(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "+Inf" : "-Inf";
  // Plain digits in the range people read; an exponent outside it.
  const double a = std::fabs(d);
  const std::chars_format format =
      a == 0 || (a >= 1e-7 && a < 1e21) ? std::chars_format::fixed : std::chars_format::scientific;
  char buf[128];
  const auto r = std::to_chars(buf, buf + sizeof buf, d, format);
  return std::string(buf, r.ptr);
}

std::string FormatDouble(double d) {
  std::string s = FormatDoubleShort(d);
  if (std::isfinite(d) && s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string QuoteString(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
  return out;
}

std::string Snippet(std::string_view text, bool collapse_space) {
  constexpr size_t kMax = 60;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  bool in_space = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (out.size() >= kMax && (c & 0xc0) != 0x80) {
      out += "...";
      break;
    }
    const bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
    if (collapse_space && space) {
      if (!in_space) out += ' ';
      in_space = true;
      continue;
    }
    in_space = false;
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string Base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t n = (static_cast<uint8_t>(bytes[i]) << 16) |
                       (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i + 1 == bytes.size()) {
    const uint32_t n = static_cast<uint8_t>(bytes[i]) << 16;
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const uint32_t n =
        (static_cast<uint8_t>(bytes[i]) << 16) | (static_cast<uint8_t>(bytes[i + 1]) << 8);
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

}  // namespace internal

namespace {

void AppendBytesLiteral(std::string_view b, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "b\"";
  for (const char ch : b) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += ch;
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  out += '"';
}

void AppendDebug(const Value& v, std::string& out) {
  switch (v.kind()) {
    case Kind::kNull:
      out += "null";
      return;
    case Kind::kBool:
      out += v.bool_value() ? "true" : "false";
      return;
    case Kind::kInt:
      out += std::to_string(v.int_value());
      return;
    case Kind::kUint:
      out += std::to_string(v.uint_value());
      out += 'u';
      return;
    case Kind::kDouble:
      out += internal::FormatDouble(v.double_value());
      return;
    case Kind::kString:
      out += internal::QuoteString(v.string_value());
      return;
    case Kind::kBytes:
      AppendBytesLiteral(v.string_value(), out);
      return;
    case Kind::kType:
      out += v.string_value();
      return;
    case Kind::kTimestamp:
      out += "timestamp(\"";
      out += internal::FormatRfc3339(v.timestamp_seconds(), v.timestamp_nanos());
      out += "\")";
      return;
    case Kind::kDuration:
      out += "duration(\"";
      out += internal::FormatDuration(v.duration_nanos());
      out += "\")";
      return;
    case Kind::kList: {
      out += '[';
      bool first = true;
      for (const Value& item : v.list()) {
        if (!first) out += ", ";
        first = false;
        AppendDebug(item, out);
      }
      out += ']';
      return;
    }
    case Kind::kMap: {
      out += '{';
      bool first = true;
      for (const auto& [k, item] : v.map()) {
        if (!first) out += ", ";
        first = false;
        AppendDebug(k, out);
        out += ": ";
        AppendDebug(item, out);
      }
      out += '}';
      return;
    }
  }
}

void AppendJson(const Value& v, std::string& out) {
  switch (v.kind()) {
    case Kind::kNull:
      out += "null";
      return;
    case Kind::kBool:
      out += v.bool_value() ? "true" : "false";
      return;
    case Kind::kInt:
      out += std::to_string(v.int_value());
      return;
    case Kind::kUint:
      out += std::to_string(v.uint_value());
      return;
    case Kind::kDouble: {
      const double d = v.double_value();
      if (std::isnan(d)) {
        out += "\"NaN\"";
      } else if (std::isinf(d)) {
        out += d > 0 ? "\"Infinity\"" : "\"-Infinity\"";
      } else {
        out += internal::FormatDouble(d);
      }
      return;
    }
    case Kind::kString:
    case Kind::kType:
      out += internal::QuoteString(v.string_value());
      return;
    case Kind::kBytes:
      out += '"';
      out += internal::Base64(v.string_value());
      out += '"';
      return;
    case Kind::kTimestamp:
      out += '"';
      out += internal::FormatRfc3339(v.timestamp_seconds(), v.timestamp_nanos());
      out += '"';
      return;
    case Kind::kDuration:
      out += '"';
      out += internal::FormatDuration(v.duration_nanos());
      out += '"';
      return;
    case Kind::kList: {
      out += '[';
      bool first = true;
      for (const Value& item : v.list()) {
        if (!first) out += ',';
        first = false;
        AppendJson(item, out);
      }
      out += ']';
      return;
    }
    case Kind::kMap: {
      out += '{';
      bool first = true;
      for (const auto& [k, item] : v.map()) {
        if (!first) out += ',';
        first = false;
        if (k.kind() == Kind::kString) {
          out += internal::QuoteString(k.string_value());
        } else {
          std::string key;
          AppendJson(k, key);
          out += internal::QuoteString(key);
        }
        out += ':';
        AppendJson(item, out);
      }
      out += '}';
      return;
    }
  }
}

// simdjson DOM -> Value. Depth is bounded by the parser's max depth.
Value FromElement(simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::OBJECT: {
      simdjson::dom::object object;
      if (e.get(object) != simdjson::SUCCESS) return Value();
      ValueMap entries;
      entries.reserve(object.size());
      for (const simdjson::dom::key_value_pair& member : object) {
        entries.emplace_back(Value::String(std::string(member.key)), FromElement(member.value));
      }
      // JSON allows repeated keys; the last one wins, as in most readers.
      bool duplicates = false;
      if (entries.size() <= kIndexThreshold) {
        for (size_t i = 1; i < entries.size() && !duplicates; ++i) {
          for (size_t j = 0; j < i; ++j) {
            if (entries[i].first.string_value() == entries[j].first.string_value()) {
              duplicates = true;
              break;
            }
          }
        }
      } else {
        std::unordered_set<std::string_view> seen;
        for (const auto& entry : entries) {
          if (!seen.insert(entry.first.string_value()).second) {
            duplicates = true;
            break;
          }
        }
      }
      if (duplicates) {
        ValueMap unique;
        std::unordered_set<std::string_view> seen;
        for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
          if (seen.insert(it->first.string_value()).second) unique.push_back(*it);
        }
        std::reverse(unique.begin(), unique.end());
        return Value::Map(std::move(unique));
      }
      return Value::Map(std::move(entries));
    }
    case simdjson::dom::element_type::ARRAY: {
      simdjson::dom::array array;
      if (e.get(array) != simdjson::SUCCESS) return Value();
      ValueList items;
      items.reserve(array.size());
      for (simdjson::dom::element item : array) items.push_back(FromElement(item));
      return Value::List(std::move(items));
    }
    case simdjson::dom::element_type::INT64: {
      int64_t i = 0;
      if (e.get(i) != simdjson::SUCCESS) return Value();
      return Value::Int(i);
    }
    case simdjson::dom::element_type::UINT64: {
      uint64_t u = 0;
      if (e.get(u) != simdjson::SUCCESS) return Value();
      return Value::Double(static_cast<double>(u));  // beyond int64
    }
    case simdjson::dom::element_type::DOUBLE: {
      double d = 0;
      if (e.get(d) != simdjson::SUCCESS) return Value();
      return Value::Double(d);
    }
    case simdjson::dom::element_type::STRING: {
      std::string_view s;
      if (e.get(s) != simdjson::SUCCESS) return Value();
      return Value::String(std::string(s));
    }
    case simdjson::dom::element_type::BOOL: {
      bool b = false;
      if (e.get(b) != simdjson::SUCCESS) return Value();
      return Value::Bool(b);
    }
    case simdjson::dom::element_type::NULL_VALUE:
      return Value();
  }
  return Value();
}

}  // namespace

std::string Value::DebugString() const {
  std::string out;
  AppendDebug(*this, out);
  return out;
}

std::string Value::ToJson() const {
  std::string out;
  AppendJson(*this, out);
  return out;
}

Value Value::FromJson(std::string_view json_text) {
  try {
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(json_text.data(), json_text.size(), true).get(root) != simdjson::SUCCESS) {
      return Value();
    }
    return FromElement(root);
  } catch (...) {  // allocation failure or a simdjson surprise: invalid is null
    return Value();
  }
}

Value Value::FromJsonFields(std::string_view json_text, const std::vector<Value>& fields) {
  try {
    thread_local simdjson::dom::parser parser;
    // A padded copy in a reused buffer: no allocation per call.
    thread_local std::string padded;
    padded.assign(json_text);
    padded.resize(json_text.size() + simdjson::SIMDJSON_PADDING, '\0');
    simdjson::dom::element root;
    if (parser.parse(padded.data(), json_text.size(), false).get(root) != simdjson::SUCCESS) {
      return Value();
    }
    simdjson::dom::object object;
    if (root.get(object) != simdjson::SUCCESS) return FromElement(root);
    ValueMap entries;
    entries.reserve(fields.size());
    for (simdjson::dom::key_value_pair member : object) {
      auto field =
          std::lower_bound(fields.begin(), fields.end(), member.key,
                           [](const Value& f, std::string_view k) { return f.string_value() < k; });
      if (field == fields.end() || field->string_value() != member.key) continue;
      // The last of duplicate keys wins, as in FromJson's maps.
      Value key = *field;  // shares the caller's string
      auto same = std::find_if(entries.begin(), entries.end(),
                               [&](const auto& e) { return e.first.string_value() == member.key; });
      if (same != entries.end()) {
        same->second = FromElement(member.value);
      } else {
        entries.emplace_back(std::move(key), FromElement(member.value));
      }
    }
    return Value::Map(std::move(entries));
  } catch (...) {
    return Value();
  }
}

// ---- types and declarations

Type Type::ListOf(Type element) {
  Type t;
  t.base = Base::kList;
  t.element = std::make_shared<const Type>(std::move(element));
  return t;
}

Type Type::MapOf(Type value) {
  Type t;
  t.base = Base::kMap;
  t.element = std::make_shared<const Type>(std::move(value));
  return t;
}

Type Type::Object(std::map<std::string, Type> fields, bool closed) {
  Type t;
  t.base = Base::kMap;
  t.fields = std::move(fields);
  t.closed = closed;
  return t;
}

int Declarations::SlotOf(std::string_view name) const {
  for (size_t i = 0; i < variables.size(); ++i) {
    if (variables[i].first == name) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace cairn::expr
