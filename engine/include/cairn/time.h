// RFC 3339 timestamps <-> UTC milliseconds.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "cairn/clock.h"

namespace cairn {

// Parses an RFC 3339 / ISO 8601 timestamp ("2026-11-23T08:00:00.123Z", with a
// "+02:00" offset, without fraction, or a date alone "2026-11-23") into UTC ms.
// Returns nullopt for anything else, including out-of-range fields.
std::optional<TimestampMs> ParseTimestamp(std::string_view text);

// Formats UTC ms as RFC 3339 with milliseconds: "2026-11-23T08:00:00.123Z".
std::string FormatTimestamp(TimestampMs ms);
// FormatTimestamp appended to `out`, without a string of its own.
void AppendTimestamp(TimestampMs ms, std::string& out);

// A duration for people: "2d", "5h30m", "90s" (the largest units that
// divide it), "1.5s" when not whole seconds, "0s"; negative with a "-".
std::string FormatDurationMs(int64_t ms);

}  // namespace cairn
