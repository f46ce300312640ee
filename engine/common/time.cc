#include "cairn/time.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>

namespace cairn {
namespace {

// Reads exactly `n` decimal digits at text[pos], advancing pos.
bool Digits(std::string_view text, size_t& pos, int n, int& out) {
  if (pos + static_cast<size_t>(n) > text.size()) return false;
  int value = 0;
  for (int i = 0; i < n; ++i) {
    char c = text[pos + static_cast<size_t>(i)];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  pos += static_cast<size_t>(n);
  out = value;
  return true;
}

bool Expect(std::string_view text, size_t& pos, char c) {
  if (pos >= text.size() || text[pos] != c) return false;
  ++pos;
  return true;
}

}  // namespace

std::optional<TimestampMs> ParseTimestamp(std::string_view text) {
  using namespace std::chrono;
  size_t pos = 0;
  int y = 0, mo = 0, d = 0;
  if (!Digits(text, pos, 4, y) || !Expect(text, pos, '-') || !Digits(text, pos, 2, mo) ||
      !Expect(text, pos, '-') || !Digits(text, pos, 2, d)) {
    return std::nullopt;
  }
  const year_month_day date{year{y}, month{static_cast<unsigned>(mo)},
                            day{static_cast<unsigned>(d)}};
  if (!date.ok()) return std::nullopt;
  int64_t ms = duration_cast<milliseconds>(sys_days{date}.time_since_epoch()).count();
  if (pos == text.size()) return ms;  // date alone: midnight UTC

  if (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ') return std::nullopt;
  ++pos;
  int h = 0, mi = 0, s = 0;
  if (!Digits(text, pos, 2, h) || !Expect(text, pos, ':') || !Digits(text, pos, 2, mi) ||
      !Expect(text, pos, ':') || !Digits(text, pos, 2, s)) {
    return std::nullopt;
  }
  if (h > 23 || mi > 59 || s > 60) return std::nullopt;  // 60: leap second, folded below
  int frac_ms = 0;
  if (pos < text.size() && (text[pos] == '.' || text[pos] == ',')) {
    ++pos;
    int digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits < 3) frac_ms = frac_ms * 10 + (text[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0 || digits > 9) return std::nullopt;
    for (int i = digits; i < 3; ++i) frac_ms *= 10;
  }
  if (pos >= text.size()) return std::nullopt;  // a time needs a zone
  int offset_min = 0;
  if (text[pos] == 'Z' || text[pos] == 'z') {
    ++pos;
  } else if (text[pos] == '+' || text[pos] == '-') {
    const int sign = text[pos] == '-' ? -1 : 1;
    ++pos;
    int oh = 0, om = 0;
    if (!Digits(text, pos, 2, oh)) return std::nullopt;
    if (pos < text.size() && text[pos] == ':') ++pos;
    if (!Digits(text, pos, 2, om) || oh > 23 || om > 59) return std::nullopt;
    offset_min = sign * (oh * 60 + om);
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  if (s == 60) s = 59;
  ms += ((static_cast<int64_t>(h) * 60 + mi - offset_min) * 60 + s) * 1000 + frac_ms;
  return ms;
}

std::string FormatTimestamp(TimestampMs ms) {
  std::string out;
  AppendTimestamp(ms, out);
  return out;
}

void AppendTimestamp(TimestampMs ms, std::string& out) {
  using namespace std::chrono;
  const sys_time<milliseconds> tp{milliseconds{ms}};
  const auto day_point = floor<days>(tp);
  const year_month_day date{day_point};
  const hh_mm_ss<milliseconds> tod{tp - day_point};
  const int year = static_cast<int>(date.year());
  if (year < 0 || year > 9999) {  // rare: the general path
    char buf[48];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", year,
                  static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                  static_cast<int>(tod.hours().count()), static_cast<int>(tod.minutes().count()),
                  static_cast<int>(tod.seconds().count()),
                  static_cast<int>(tod.subseconds().count()));
    out += buf;
    return;
  }
  // The digits by hand: this runs for every event the engine writes.
  const size_t base = out.size();
  out += "0000-00-00T00:00:00.000Z";
  auto put = [&out, base](size_t at, int value, int width) {
    for (int i = width - 1; i >= 0; --i, value /= 10) {
      out[base + at + static_cast<size_t>(i)] = static_cast<char>('0' + value % 10);
    }
  };
  put(0, year, 4);
  put(5, static_cast<int>(static_cast<unsigned>(date.month())), 2);
  put(8, static_cast<int>(static_cast<unsigned>(date.day())), 2);
  put(11, static_cast<int>(tod.hours().count()), 2);
  put(14, static_cast<int>(tod.minutes().count()), 2);
  put(17, static_cast<int>(tod.seconds().count()), 2);
  put(20, static_cast<int>(tod.subseconds().count()), 3);
}

std::string FormatDurationMs(int64_t ms) {
  if (ms < 0) return "-" + FormatDurationMs(-ms);
  if (ms % 1000 != 0 || ms == 0) return fmt::format("{}s", static_cast<double>(ms) / 1000.0);
  std::string out;
  int64_t s = ms / 1000;
  for (auto [unit, name] :
       {std::pair<int64_t, const char*>{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}}) {
    if (s >= unit) {
      out += fmt::format("{}{}", s / unit, name);
      s %= unit;
    }
  }
  return out;
}

}  // namespace cairn
