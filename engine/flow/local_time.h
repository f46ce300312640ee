// Wall-clock arithmetic in a customer's time zone (IANA names, the OS tzdata
// through howardhinnant date). Used for "wait until 10:00 local time" and
// for date triggers ("7 days before subscription_end, 09:00").
#pragma once

#include <optional>
#include <string_view>

#include "cairn/clock.h"

namespace cairn::flow {

// The first instant >= `after` at which the local time in `tz` is
// `minute_of_day` (0..1439). On a DST gap, the instant the clock jumps to.
// An unknown zone counts as UTC.
TimestampMs NextLocalTime(TimestampMs after, int minute_of_day, std::string_view tz);

// A date trait's value ("2026-12-31", or an RFC 3339 timestamp) as the
// instant of `minute_of_day` local time on that date (for a bare date) or the
// timestamp itself (minute_of_day < 0 and a full timestamp), moved by
// `offset_ms`. The offset moves the local wall time ("-7d" at 09:00 is 09:00
// local seven days earlier, also across a daylight-saving change); a full
// timestamp moves by it as is.
std::optional<TimestampMs> DateInstant(std::string_view value, int minute_of_day,
                                       std::string_view tz, int64_t offset_ms = 0);

// The next yearly occurrence >= `not_before` of the month and day of `value`
// at `minute_of_day` local time, moved by `offset_ms` of local wall time.
// 29 February falls on 28 February in other years.
std::optional<TimestampMs> NextAnniversary(std::string_view value, int minute_of_day,
                                           int64_t offset_ms, std::string_view tz,
                                           TimestampMs not_before);

// True when `tz` names a zone in the tz database.
bool IsKnownZone(std::string_view tz);

}  // namespace cairn::flow
