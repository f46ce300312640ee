// Timestamps, durations, time zones and UTF-8 for engine/expr.
#include <date/tz.h>

#include <chrono>
#include <limits>

#include "expr/internal.h"

namespace cairn::expr {
namespace internal {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian).
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void CivilFromDays(int64_t z, int64_t& y, int& m, int& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  y = yoe + era * 400 + (m <= 2 ? 1 : 0);
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int64_t y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Reads exactly `n` digits at `pos`.
bool Digits(std::string_view s, size_t& pos, int n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (int i = 0; i < n; ++i) {
    if (!IsDigit(s[pos + i])) return false;
    out = out * 10 + (s[pos + i] - '0');
  }
  pos += n;
  return true;
}

bool Expect(std::string_view s, size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c) return false;
  ++pos;
  return true;
}

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

}  // namespace

bool ParseRfc3339(std::string_view s, int64_t& seconds, int32_t& nanos, std::string& error) {
  size_t pos = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  const bool shape = Digits(s, pos, 4, year) && Expect(s, pos, '-') && Digits(s, pos, 2, month) &&
                     Expect(s, pos, '-') && Digits(s, pos, 2, day) && pos < s.size() &&
                     (s[pos] == 'T' || s[pos] == 't') && ++pos && Digits(s, pos, 2, hour) &&
                     Expect(s, pos, ':') && Digits(s, pos, 2, minute) && Expect(s, pos, ':') &&
                     Digits(s, pos, 2, second);
  if (!shape) {
    error = "not an RFC 3339 timestamp (like '2026-01-01T09:00:00Z')";
    return false;
  }
  int32_t frac = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int n = 0;
    while (pos < s.size() && IsDigit(s[pos])) {
      if (n == 9) {
        error = "more than 9 fractional digits";
        return false;
      }
      frac = frac * 10 + (s[pos] - '0');
      ++n;
      ++pos;
    }
    if (n == 0) {
      error = "no digits after '.'";
      return false;
    }
    for (; n < 9; ++n) frac *= 10;
  }
  int offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    const int sign = s[pos] == '-' ? -1 : 1;
    ++pos;
    int oh = 0, om = 0;
    if (!Digits(s, pos, 2, oh) || !Expect(s, pos, ':') || !Digits(s, pos, 2, om) || oh > 23 ||
        om > 59) {
      error = "bad UTC offset (use 'Z' or like '+02:00')";
      return false;
    }
    offset = sign * (oh * 3600 + om * 60);
  } else {
    error = "missing time zone ('Z' or an offset like '+02:00')";
    return false;
  }
  if (pos != s.size()) {
    error = "unexpected text after the timestamp";
    return false;
  }
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month) ||
      hour > 23 || minute > 59 || second > 59) {
    error = "a date or time field is out of range";
    return false;
  }
  seconds = DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset;
  nanos = frac;
  if (seconds < kMinTimestampSeconds || seconds > kMaxTimestampSeconds) {
    error = "outside the range 0001-01-01 .. 9999-12-31";
    return false;
  }
  return true;
}

std::string FormatRfc3339(int64_t seconds, int32_t nanos) {
  const int64_t days = FloorDiv(seconds, 86400);
  const int64_t rest = seconds - days * 86400;
  int64_t y = 0;
  int m = 0, d = 0;
  CivilFromDays(days, y, m, d);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02d-%02dT%02d:%02d:%02d", static_cast<long long>(y), m, d,
                static_cast<int>(rest / 3600), static_cast<int>(rest / 60 % 60),
                static_cast<int>(rest % 60));
  std::string out = buf;
  if (nanos > 0) {
    char frac[16];
    std::snprintf(frac, sizeof frac, ".%09d", static_cast<int>(nanos));
    std::string f = frac;
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  out += 'Z';
  return out;
}

bool ParseDurationText(std::string_view s, Int128& nanos, std::string& error) {
  constexpr Int128 kCap = Int128{1'000'000'000'000'000'000} * 1'000'000'000'000;  // 1e30
  const std::string_view original = s;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") {
    nanos = 0;
    return true;
  }
  if (s.empty()) {
    error = "empty duration";
    return false;
  }
  Int128 total = 0;
  while (!s.empty()) {
    if (!(IsDigit(s[0]) || s[0] == '.')) {
      error = "expected a number in '" + Snippet(original) + "'";
      return false;
    }
    Int128 whole = 0;
    bool digits = false;
    while (!s.empty() && IsDigit(s[0])) {
      whole = whole * 10 + (s[0] - '0');
      if (whole > kCap) {
        error = "duration out of range";
        return false;
      }
      digits = true;
      s.remove_prefix(1);
    }
    Int128 frac = 0;
    Int128 scale = 1;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      while (!s.empty() && IsDigit(s[0])) {
        if (scale < Int128{1'000'000'000'000'000'000}) {  // further digits do not matter
          frac = frac * 10 + (s[0] - '0');
          scale *= 10;
        }
        digits = true;
        s.remove_prefix(1);
      }
    }
    if (!digits) {
      error = "expected digits in '" + Snippet(original) + "'";
      return false;
    }
    size_t n = 0;
    while (n < s.size() && !IsDigit(s[n]) && s[n] != '.') ++n;
    const std::string_view unit = s.substr(0, n);
    s.remove_prefix(n);
    int64_t unit_nanos = 0;
    if (unit == "ns") {
      unit_nanos = 1;
    } else if (unit == "us" || unit == "\xc2\xb5s" || unit == "\xce\xbcs") {
      unit_nanos = 1'000;
    } else if (unit == "ms") {
      unit_nanos = 1'000'000;
    } else if (unit == "s") {
      unit_nanos = kNanosPerSecond;
    } else if (unit == "m") {
      unit_nanos = 60 * kNanosPerSecond;
    } else if (unit == "h") {
      unit_nanos = 3600 * kNanosPerSecond;
    } else if (unit == "d") {
      unit_nanos = 86400 * kNanosPerSecond;
    } else if (unit.empty()) {
      error = "missing unit in '" + Snippet(original) + "' (use d, h, m, s, ms, us or ns)";
      return false;
    } else {
      error = "unknown unit '" + Snippet(unit) + "' in '" + Snippet(original) +
              "' (use d, h, m, s, ms, us or ns)";
      return false;
    }
    total += whole * unit_nanos + frac * unit_nanos / scale;
    if (total > kCap) {
      error = "duration out of range";
      return false;
    }
  }
  nanos = negative ? -total : total;
  return true;
}

std::string FormatDuration(int64_t nanos) {
  const bool negative = nanos < 0;
  const uint64_t magnitude =
      negative ? static_cast<uint64_t>(-(nanos + 1)) + 1 : static_cast<uint64_t>(nanos);
  std::string out = negative ? "-" : "";
  out += std::to_string(magnitude / kNanosPerSecond);
  const uint64_t frac = magnitude % kNanosPerSecond;
  if (frac != 0) {
    char buf[16];
    std::snprintf(buf, sizeof buf, ".%09llu", static_cast<unsigned long long>(frac));
    std::string f = buf;
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  out += 's';
  return out;
}

bool TimestampFromNanos(Int128 nanos, Value& out) {
  Int128 s = nanos / kNanosPerSecond;
  Int128 n = nanos % kNanosPerSecond;
  if (n < 0) {
    n += kNanosPerSecond;
    s -= 1;
  }
  if (s < kMinTimestampSeconds || s > kMaxTimestampSeconds) return false;
  out = Value::TimestampNanos(static_cast<int64_t>(s), static_cast<int32_t>(n));
  return true;
}

bool DurationFromNanos(Int128 nanos, Value& out) {
  if (nanos < std::numeric_limits<int64_t>::min() || nanos > std::numeric_limits<int64_t>::max()) {
    return false;
  }
  const int64_t n = static_cast<int64_t>(nanos);
  out = Value::DurationNanos(n / kNanosPerSecond, static_cast<int32_t>(n % kNanosPerSecond));
  return true;
}

bool ParseZone(std::string_view text, Zone& zone, std::string& error) {
  std::string_view s = text;
  if (!s.empty() && (s[0] == '+' || s[0] == '-' || IsDigit(s[0]))) {
    int sign = 1;
    if (s[0] == '+' || s[0] == '-') {
      sign = s[0] == '-' ? -1 : 1;
      s.remove_prefix(1);
    }
    size_t pos = 0;
    int h = 0, m = 0;
    if (!Digits(s, pos, 2, h) || !Expect(s, pos, ':') || !Digits(s, pos, 2, m) || pos != s.size() ||
        h > 23 || m > 59) {
      error = "bad time zone offset '" + Snippet(text) + "' (use like '+02:00')";
      return false;
    }
    zone.tz = nullptr;
    zone.offset_seconds = sign * (h * 3600 + m * 60);
    return true;
  }
  try {
    zone.tz = date::locate_zone(s);
    zone.offset_seconds = 0;
    return zone.tz != nullptr;
  } catch (const std::exception&) {
    error = "unknown time zone '" + Snippet(text) + "' (use an IANA name like 'Europe/Berlin')";
    return false;
  }
}

bool ToCivil(int64_t seconds, int32_t nanos, const Zone* zone, Civil& out, std::string& error) {
  int64_t local = seconds;
  if (zone != nullptr) {
    if (zone->tz != nullptr) {
      try {
        const date::sys_seconds t{std::chrono::seconds(seconds)};
        local += zone->tz->get_info(t).offset.count();
      } catch (const std::exception& e) {
        error = std::string("time zone lookup failed: ") + e.what();
        return false;
      }
    } else {
      local += zone->offset_seconds;
    }
  }
  const int64_t days = FloorDiv(local, 86400);
  const int64_t rest = local - days * 86400;
  CivilFromDays(days, out.year, out.month, out.day);
  out.day_of_year = static_cast<int>(days - DaysFromCivil(out.year, 1, 1));
  out.day_of_week = static_cast<int>(((days % 7) + 7 + 4) % 7);  // 1970-01-01 was a Thursday
  out.hour = static_cast<int>(rest / 3600);
  out.minute = static_cast<int>(rest / 60 % 60);
  out.second = static_cast<int>(rest % 60);
  out.nanos = nanos;
  return true;
}

// ---- UTF-8

bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len = 0;
    uint32_t cp = 0;
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (int k = 1; k < len; ++k) {
      const auto cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += len;
  }
  return true;
}

int64_t CodePointCount(std::string_view s) {
  int64_t n = 0;
  for (const char c : s) {
    if ((static_cast<uint8_t>(c) & 0xc0) != 0x80) ++n;
  }
  return n;
}

void AppendUtf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

}  // namespace internal

Result<int64_t> ParseDurationMs(std::string_view text) {
  internal::Int128 nanos = 0;
  std::string error;
  if (!internal::ParseDurationText(text, nanos, error)) {
    return InvalidArgument("invalid duration '" + internal::Snippet(text) + "': " + error);
  }
  const internal::Int128 ms = nanos / 1'000'000;
  if (ms < std::numeric_limits<int64_t>::min() || ms > std::numeric_limits<int64_t>::max()) {
    return InvalidArgument("duration '" + internal::Snippet(text) + "' is out of range");
  }
  return static_cast<int64_t>(ms);
}

}  // namespace cairn::expr
