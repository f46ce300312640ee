#include "campaign/cron.h"

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <string>
#include <vector>

namespace cairn::campaign {
namespace {

using Ms = std::chrono::milliseconds;

const date::time_zone* Zone(std::string_view tz) {
  try {
    return date::locate_zone(std::string(tz.empty() ? "UTC" : tz));
  } catch (const std::exception&) {
    return date::locate_zone("UTC");
  }
}

// A local wall time as an instant: the earliest on a repeated hour, the
// instant the clock jumps to in a gap.
TimestampMs ToSys(const date::time_zone* zone, date::local_time<Ms> local) {
  const auto info = zone->get_info(local);
  switch (info.result) {
    case date::local_info::unique:
    case date::local_info::ambiguous:
      return (local.time_since_epoch() - std::chrono::duration_cast<Ms>(info.first.offset)).count();
    case date::local_info::nonexistent:
    default:
      return std::chrono::time_point_cast<Ms>(info.first.end).time_since_epoch().count();
  }
}

int NameValue(std::string_view s, int field) {
  static const char* kMonths[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                  "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
  static const char* kDays[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};
  std::string up(s);
  for (auto& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (field == 3) {
    for (int i = 0; i < 12; ++i) {
      if (up == kMonths[i]) return i + 1;
    }
  } else if (field == 4) {
    for (int i = 0; i < 7; ++i) {
      if (up == kDays[i]) return i;
    }
  }
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return -1;
  return v;
}

// Sets the values of one field in `bits` (index = value); false when malformed.
template <size_t N>
bool ParseField(std::string_view text, int field, int lo, int hi, std::bitset<N>& bits, bool& any) {
  any = text == "*";
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view part = text.substr(start, comma - start);
    start = comma + 1;
    int step = 1;
    if (auto slash = part.find('/'); slash != std::string_view::npos) {
      std::string_view s = part.substr(slash + 1);
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), step);
      if (s.empty() || ec != std::errc() || p != s.data() + s.size() || step <= 0) return false;
      part = part.substr(0, slash);
      if (part.find('-') == std::string_view::npos && part != "*") {
        // "a/n": from a to the end of the range.
        const int a = NameValue(part, field);
        if (a < lo || a > hi) return false;
        for (int v = a; v <= hi; v += step) bits.set(static_cast<size_t>(field == 4 ? v % 7 : v));
        continue;
      }
    }
    int a = lo, b = hi;
    if (part != "*") {
      const auto dash = part.find('-');
      a = NameValue(part.substr(0, dash), field);
      b = dash == std::string_view::npos ? a : NameValue(part.substr(dash + 1), field);
      if (a < lo || a > hi || b < lo || b > hi || b < a) return false;
    }
    for (int v = a; v <= b; v += step) bits.set(static_cast<size_t>(field == 4 ? v % 7 : v));
  }
  return true;
}

}  // namespace

Result<Cron> Cron::Parse(std::string_view text) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    size_t j = i;
    while (j < text.size() && !std::isspace(static_cast<unsigned char>(text[j]))) ++j;
    if (j > i) fields.push_back(text.substr(i, j - i));
    i = j;
  }
  if (fields.size() != 5) {
    return InvalidArgument("cron needs 5 fields (minute hour day month weekday): " +
                           std::string(text));
  }
  Cron c;
  bool any = false;
  if (!ParseField(fields[0], 0, 0, 59, c.minutes_, any) ||
      !ParseField(fields[1], 1, 0, 23, c.hours_, any) ||
      !ParseField(fields[2], 2, 1, 31, c.days_, c.days_any_) ||
      !ParseField(fields[3], 3, 1, 12, c.months_, any) ||
      !ParseField(fields[4], 4, 0, 7, c.weekdays_, c.weekdays_any_)) {
    return InvalidArgument("not a cron expression: " + std::string(text));
  }
  return c;
}

std::optional<TimestampMs> Cron::NextFire(TimestampMs after, std::string_view tz) const {
  const date::time_zone* zone = Zone(tz);
  const auto after_sys = date::sys_time<Ms>(Ms(after));
  // Local times in increasing order map to instants in non-decreasing order
  // (earliest on repeats, the jump on gaps), so the first candidate after
  // `after` is the answer. Start a day early: offsets reach +-26 h at most.
  const auto local_after = zone->to_local(after_sys);
  auto day = date::floor<date::days>(local_after) - date::days(1);
  const auto end = day + date::days(5 * 366 + 2);
  for (; day < end; day += date::days(1)) {
    const date::year_month_day ymd(day);
    if (!months_.test(static_cast<unsigned>(ymd.month()))) continue;
    const bool dom = days_.test(static_cast<unsigned>(ymd.day()));
    const bool dow = weekdays_.test(date::weekday(day).c_encoding());
    const bool day_ok = days_any_ || weekdays_any_ ? dom && dow : dom || dow;
    if (!day_ok) continue;
    for (int h = 0; h < 24; ++h) {
      if (!hours_.test(static_cast<size_t>(h))) continue;
      for (int m = 0; m < 60; ++m) {
        if (!minutes_.test(static_cast<size_t>(m))) continue;
        const auto local = date::local_time<Ms>(day.time_since_epoch()) + std::chrono::hours(h) +
                           std::chrono::minutes(m);
        const TimestampMs at = ToSys(zone, local);
        if (at > after) return at;
      }
    }
  }
  return std::nullopt;
}

std::optional<TimestampMs> NextRun(const journey::Trigger& t, TimestampMs after) {
  if (t.kind != journey::TriggerKind::kSchedule) return std::nullopt;
  if (t.at) {
    if (*t.at > after) return *t.at;
    return std::nullopt;
  }
  auto cron = Cron::Parse(t.cron);
  if (!cron.ok()) return std::nullopt;
  return cron->NextFire(after, t.timezone);
}

}  // namespace cairn::campaign
