// When a schedule trigger fires: five-field cron expressions evaluated in an
// IANA time zone (howardhinnant date/tz, the OS tzdata), and the next run of
// a journey's `schedule` (once `at` an instant, or `cron` in `timezone`).
//
// Cron times are wall-clock times of the zone. Across a daylight-saving
// change: a time the clock skips (02:30 on the spring-forward night in
// Europe/Berlin) runs at the instant the clock jumps to (03:00 CEST); a time
// the clock shows twice (02:30 on the fall-back night) runs once, at its
// first occurrence. So every matching local time runs at most once.
//
// Thread-safety: a Cron is immutable after Parse; NextFire may run anywhere.
#pragma once

#include <bitset>
#include <optional>
#include <string>
#include <string_view>

#include "cairn/clock.h"
#include "cairn/status.h"
#include "journey/model.h"

namespace cairn::campaign {

class Cron {
 public:
  // minute hour day-of-month month day-of-week: numbers, `*`, ranges a-b,
  // lists a,b, steps */n a-b/n a/n, month names JAN..DEC, weekday names
  // SUN..SAT (0 and 7 are Sunday). As in Vixie cron, when both day fields
  // are restricted a day matches if either does.
  static Result<Cron> Parse(std::string_view text);

  // The first instant strictly after `after` whose local time in `tz` (an
  // unknown zone counts as UTC) matches; nullopt when none in the next five
  // years (e.g. "0 0 30 2 *").
  std::optional<TimestampMs> NextFire(TimestampMs after, std::string_view tz) const;

 private:
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;      // 1..31
  std::bitset<13> months_;    // 1..12
  std::bitset<7> weekdays_;   // 0 = Sunday
  bool days_any_ = true;      // day-of-month field was `*`
  bool weekdays_any_ = true;  // day-of-week field was `*`
};

// The first run of a schedule trigger strictly after `after`: `at` when it is
// later, the cron's next fire time, nullopt when there is none (a bad cron,
// an `at` already past, or not a schedule trigger).
std::optional<TimestampMs> NextRun(const journey::Trigger& trigger, TimestampMs after);

}  // namespace cairn::campaign
