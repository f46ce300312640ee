#include "cairn/time.h"

#include <gtest/gtest.h>

namespace cairn {
namespace {

TEST(Time, ParsesUtcWithMilliseconds) {
  EXPECT_EQ(ParseTimestamp("2026-11-23T08:00:00.123Z"), 1795420800123);
  EXPECT_EQ(ParseTimestamp("1970-01-01T00:00:00Z"), 0);
}

TEST(Time, ParsesOffsetsAndFractions) {
  EXPECT_EQ(ParseTimestamp("2026-11-23T10:00:00+02:00"), ParseTimestamp("2026-11-23T08:00:00Z"));
  EXPECT_EQ(ParseTimestamp("2026-11-23T03:30:00-0430"), ParseTimestamp("2026-11-23T08:00:00Z"));
  EXPECT_EQ(ParseTimestamp("2026-11-23T08:00:00.5Z"), 1795420800500);
  EXPECT_EQ(ParseTimestamp("2026-11-23T08:00:00.123456789Z"), 1795420800123);
  EXPECT_EQ(ParseTimestamp("2026-11-23 08:00:00Z"), 1795420800000);
}

TEST(Time, DateAloneIsMidnightUtc) {
  EXPECT_EQ(ParseTimestamp("2026-11-23"), 1795392000000);
  EXPECT_EQ(ParseTimestamp("2024-02-29"), ParseTimestamp("2024-02-29T00:00:00Z"));
}

TEST(Time, BeforeEpochIsNegative) { EXPECT_EQ(ParseTimestamp("1969-12-31T23:59:59.000Z"), -1000); }

TEST(Time, RejectsMalformed) {
  for (const char* bad :
       {"", "2026", "2026-11", "2026-13-01", "2026-02-30", "2023-02-29", "2026-11-23T",
        "2026-11-23T08:00", "2026-11-23T08:00:00", "2026-11-23T24:00:00Z", "2026-11-23T08:60:00Z",
        "2026-11-23T08:00:00.Z", "2026-11-23T08:00:00+25:00", "2026-11-23T08:00:00Zjunk",
        "yesterday", "1795420800000", "2026-11-23T08:00:00.1234567890Z"}) {
    EXPECT_EQ(ParseTimestamp(bad), std::nullopt) << bad;
  }
}

TEST(Time, FormatsRfc3339Milliseconds) {
  EXPECT_EQ(FormatTimestamp(1795420800123), "2026-11-23T08:00:00.123Z");
  EXPECT_EQ(FormatTimestamp(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTimestamp(-1000), "1969-12-31T23:59:59.000Z");
  std::string out = "at ";
  AppendTimestamp(1795420800123, out);
  AppendTimestamp(-62198755200000, out);  // year -1: the general path
  EXPECT_EQ(out, "at 2026-11-23T08:00:00.123Z-001-01-01T00:00:00.000Z");
}

TEST(Time, RoundTrips) {
  for (TimestampMs t = 1'600'000'000'000; t < 1'900'000'000'000; t += 7'777'777'777) {
    EXPECT_EQ(ParseTimestamp(FormatTimestamp(t)), t);
  }
}

}  // namespace
}  // namespace cairn
