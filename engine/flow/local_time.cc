#include "flow/local_time.h"

#include <date/date.h>
#include <date/tz.h>

#include <chrono>
#include <string>

#include "cairn/time.h"

namespace cairn::flow {
namespace {

using Ms = std::chrono::milliseconds;
using date::days;

const date::time_zone* Zone(std::string_view tz) {
  try {
    return date::locate_zone(std::string(tz.empty() ? "UTC" : tz));
  } catch (const std::exception&) {
    return date::locate_zone("UTC");
  }
}

TimestampMs ToSys(const date::time_zone* zone, date::local_time<Ms> local) {
  try {
    return zone->to_sys(local, date::choose::earliest).time_since_epoch().count();
  } catch (const std::exception&) {  // nonexistent local time (DST gap)
    auto info = zone->get_info(local);
    return std::chrono::time_point_cast<Ms>(info.first.end).time_since_epoch().count();
  }
}

// Y-M-D of a "YYYY-MM-DD..." value.
std::optional<date::year_month_day> LeadingDate(std::string_view value) {
  if (value.size() < 10 || value[4] != '-' || value[7] != '-') return std::nullopt;
  int y = 0, m = 0, d = 0;
  try {
    y = std::stoi(std::string(value.substr(0, 4)));
    m = std::stoi(std::string(value.substr(5, 2)));
    d = std::stoi(std::string(value.substr(8, 2)));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  date::year_month_day ymd{date::year{y}, date::month{static_cast<unsigned>(m)},
                           date::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  return ymd;
}

}  // namespace

bool IsKnownZone(std::string_view tz) {
  try {
    (void)date::locate_zone(std::string(tz));
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

TimestampMs NextLocalTime(TimestampMs after, int minute_of_day, std::string_view tz) {
  const auto* zone = Zone(tz);
  const date::sys_time<Ms> t{Ms(after)};
  const auto local = zone->to_local(t);
  auto candidate = date::floor<days>(local) + std::chrono::minutes(minute_of_day);
  TimestampMs out = ToSys(zone, candidate);
  if (out < after) out = ToSys(zone, candidate + days(1));
  return out;
}

std::optional<TimestampMs> DateInstant(std::string_view value, int minute_of_day,
                                       std::string_view tz, int64_t offset_ms) {
  // A full timestamp without a time of day to move it to is the instant.
  if (minute_of_day < 0 && value.size() > 10) {
    if (auto ts = ParseTimestamp(value)) return *ts + offset_ms;
  }
  auto ymd = LeadingDate(value);
  if (!ymd) return std::nullopt;
  const auto* zone = Zone(tz);
  const int minute = minute_of_day < 0 ? 9 * 60 : minute_of_day;
  return ToSys(zone, date::local_days{*ymd} + std::chrono::minutes(minute) + Ms(offset_ms));
}

std::optional<TimestampMs> NextAnniversary(std::string_view value, int minute_of_day,
                                           int64_t offset_ms, std::string_view tz,
                                           TimestampMs not_before) {
  auto ymd = LeadingDate(value);
  if (!ymd) return std::nullopt;
  const auto* zone = Zone(tz);
  const int minute = minute_of_day < 0 ? 9 * 60 : minute_of_day;
  const auto now_local = zone->to_local(date::sys_time<Ms>{Ms(not_before)});
  int year = static_cast<int>(date::year_month_day{date::floor<days>(now_local)}.year()) - 1;
  for (int i = 0; i < 4; ++i, ++year) {
    date::year_month_day day{date::year{year}, ymd->month(), ymd->day()};
    if (!day.ok()) day = date::year_month_day{date::year{year}, ymd->month(), date::day{28}};
    const TimestampMs at =
        ToSys(zone, date::local_days{day} + std::chrono::minutes(minute) + Ms(offset_ms));
    if (at >= not_before) return at;
  }
  return std::nullopt;
}

}  // namespace cairn::flow
