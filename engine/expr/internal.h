// Helpers shared by the files of engine/expr; not part of the public API.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "expr/expr.h"

namespace date {
class time_zone;
}

namespace cairn::expr::internal {

__extension__ using Int128 = __int128;

inline constexpr int64_t kNanosPerSecond = 1'000'000'000;
// CEL's timestamp range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z.
inline constexpr int64_t kMinTimestampSeconds = -62'135'596'800;
inline constexpr int64_t kMaxTimestampSeconds = 253'402'300'799;

// ---- time

// RFC 3339 ("2026-01-01T00:00:00Z", "...T10:00:00.5+02:00"): seconds and
// nanos in [0, 1e9), or an error message.
bool ParseRfc3339(std::string_view text, int64_t& seconds, int32_t& nanos, std::string& error);
// "2026-01-01T00:00:00Z", with the fraction trimmed of trailing zeros.
std::string FormatRfc3339(int64_t seconds, int32_t nanos);
// CEL durations ("1h30m", "1.5s", "-10ms") plus days ("90d"), in nanos
// (a wide integer: callers check the range they need).
bool ParseDurationText(std::string_view text, Int128& nanos, std::string& error);
// "90s", "1.5s", "-0.000000001s".
std::string FormatDuration(int64_t nanos);
// A timestamp from a wide nanosecond count; false when out of CEL's range.
bool TimestampFromNanos(Int128 nanos, Value& out);
inline Int128 TimestampNanos(const Value& ts) {
  return Int128{ts.timestamp_seconds()} * kNanosPerSecond + ts.timestamp_nanos();
}
// A duration from a wide nanosecond count; false when beyond int64 nanos.
bool DurationFromNanos(Int128 nanos, Value& out);

// A time zone argument: an IANA name ("Europe/Berlin", "UTC") or a fixed
// offset ("+02:00", "-09:30", "02:00").
struct Zone {
  const date::time_zone* tz = nullptr;  // null: fixed offset
  int offset_seconds = 0;
};
bool ParseZone(std::string_view text, Zone& zone, std::string& error);

// Broken-down local time of a timestamp.
struct Civil {
  int64_t year = 1970;
  int month = 1;        // 1..12
  int day = 1;          // 1..31
  int day_of_year = 0;  // 0-based
  int day_of_week = 4;  // 0 = Sunday
  int hour = 0, minute = 0, second = 0;
  int32_t nanos = 0;
};
// Fails (with a message) only for zone lookups that throw.
bool ToCivil(int64_t seconds, int32_t nanos, const Zone* zone, Civil& out, std::string& error);

// ---- UTF-8

bool ValidUtf8(std::string_view s);
int64_t CodePointCount(std::string_view s);
void AppendUtf8(uint32_t code_point, std::string& out);

// ---- values

// Ordering of two values under CEL's rules (heterogeneous numbers).
enum class Order : uint8_t { kLess, kEqual, kGreater, kUnordered /*NaN*/, kInvalid /*kinds*/ };
Order Compare(const Value& a, const Value& b);
// A map key kind: bool, int, uint, string.
inline bool IsKeyKind(Kind k) {
  return k == Kind::kBool || k == Kind::kInt || k == Kind::kUint || k == Kind::kString;
}
// Double formatted the shortest way that reads back the same, with ".0"
// added to integral values ("1.0", "0.5", "1e+21", "NaN", "+Inf").
std::string FormatDouble(double d);
// Shortest round-trip digits, no ".0" added ("1", "0.5", "1e+21").
std::string FormatDoubleShort(double d);
// A string in CEL/JSON double quotes with escapes.
std::string QuoteString(std::string_view s);
// Text quoted inside an error message: on one line (control characters
// escaped, or whitespace runs collapsed to a space when `collapse_space`, for
// source text) and at most about 60 bytes.
std::string Snippet(std::string_view text, bool collapse_space = false);
std::string Base64(std::string_view bytes);

}  // namespace cairn::expr::internal
