// Cron and once schedules: next-fire times in stated IANA zones, across the
// daylight-saving changes of Europe/Berlin (spring forward 2026-03-29 02:00
// CET -> 03:00 CEST, fall back 2026-10-25 03:00 CEST -> 02:00 CET) and of
// America/New_York; parse errors; `at` runs.
#include "campaign/cron.h"

#include <gtest/gtest.h>

#include "cairn/time.h"

namespace cairn::campaign {
namespace {

TimestampMs T(const char* rfc3339) {
  auto t = ParseTimestamp(rfc3339);
  EXPECT_TRUE(t.has_value()) << rfc3339;
  return t.value_or(0);
}

std::string Next(const char* cron, const char* after, const char* tz) {
  auto c = Cron::Parse(cron);
  EXPECT_TRUE(c.ok()) << cron << ": " << c.status().ToString();
  if (!c.ok()) return "parse error";
  auto n = c->NextFire(T(after), tz);
  return n ? FormatTimestamp(*n) : "never";
}

TEST(CronTest, DailyInBerlinAcrossSpringForward) {
  // 09:00 local is 08:00Z in winter, 07:00Z in summer.
  EXPECT_EQ(Next("0 9 * * *", "2026-03-27T08:00:00Z", "Europe/Berlin"), "2026-03-28T08:00:00.000Z");
  EXPECT_EQ(Next("0 9 * * *", "2026-03-28T08:00:00Z", "Europe/Berlin"), "2026-03-29T07:00:00.000Z");
  EXPECT_EQ(Next("0 9 * * *", "2026-03-29T07:00:00Z", "Europe/Berlin"), "2026-03-30T07:00:00.000Z");
}

TEST(CronTest, SkippedLocalTimeRunsWhenTheClockJumps) {
  // 02:30 does not exist on 2026-03-29 in Berlin: it runs at 03:00 CEST (01:00Z), once.
  EXPECT_EQ(Next("30 2 * * *", "2026-03-28T01:30:00Z", "Europe/Berlin"),
            "2026-03-29T01:00:00.000Z");
  EXPECT_EQ(Next("30 2 * * *", "2026-03-29T01:00:00Z", "Europe/Berlin"),
            "2026-03-30T00:30:00.000Z");
  // Every quarter of the missing hour lands on the same instant: one run.
  EXPECT_EQ(Next("*/15 2 * * *", "2026-03-29T00:59:00Z", "Europe/Berlin"),
            "2026-03-29T01:00:00.000Z");
  EXPECT_EQ(Next("*/15 2 * * *", "2026-03-29T01:00:00Z", "Europe/Berlin"),
            "2026-03-30T00:00:00.000Z");
}

TEST(CronTest, RepeatedLocalTimeRunsOnceAtItsFirstOccurrence) {
  // 02:30 happens twice on 2026-10-25 in Berlin: 00:30Z (CEST) and 01:30Z (CET).
  EXPECT_EQ(Next("30 2 * * *", "2026-10-24T00:30:00Z", "Europe/Berlin"),
            "2026-10-25T00:30:00.000Z");
  EXPECT_EQ(Next("30 2 * * *", "2026-10-25T00:30:00Z", "Europe/Berlin"),
            "2026-10-26T01:30:00.000Z");
  // Hourly: local 02:00 once (00:00Z), then 03:00 CET (02:00Z).
  EXPECT_EQ(Next("0 * * * *", "2026-10-25T00:00:00Z", "Europe/Berlin"), "2026-10-25T02:00:00.000Z");
  // 09:00 after the change is 08:00Z again.
  EXPECT_EQ(Next("0 9 * * *", "2026-10-24T07:00:00Z", "Europe/Berlin"), "2026-10-25T08:00:00.000Z");
}

TEST(CronTest, WeekdaysInNewYork) {
  // Friday 2026-03-06 10:00 EST; US DST starts Sunday 2026-03-08: Monday 09:00 EDT is 13:00Z.
  EXPECT_EQ(Next("0 9 * * MON-FRI", "2026-03-06T15:00:00Z", "America/New_York"),
            "2026-03-09T13:00:00.000Z");
  EXPECT_EQ(Next("0 9 * * 1-5", "2026-03-05T15:00:00Z", "America/New_York"),
            "2026-03-06T14:00:00.000Z");
  // Sunday as 7 and as 0.
  EXPECT_EQ(Next("0 12 * * 7", "2026-03-02T00:00:00Z", "UTC"), "2026-03-08T12:00:00.000Z");
  EXPECT_EQ(Next("0 12 * * SUN", "2026-03-02T00:00:00Z", "UTC"), "2026-03-08T12:00:00.000Z");
}

TEST(CronTest, FieldsListsStepsAndDayRule) {
  EXPECT_EQ(Next("*/20 * * * *", "2026-01-01T10:05:00Z", "UTC"), "2026-01-01T10:20:00.000Z");
  EXPECT_EQ(Next("5,50 * * * *", "2026-01-01T10:05:00Z", "UTC"), "2026-01-01T10:50:00.000Z");
  EXPECT_EQ(Next("10-20/5 8 * * *", "2026-01-01T08:15:00Z", "UTC"), "2026-01-01T08:20:00.000Z");
  EXPECT_EQ(Next("0 0 1 jan *", "2026-01-01T00:00:00Z", "UTC"), "2027-01-01T00:00:00.000Z");
  // Both day fields restricted: the 13th or a Friday, whichever comes first.
  EXPECT_EQ(Next("0 0 13 * FRI", "2026-02-10T00:00:00Z", "UTC"), "2026-02-13T00:00:00.000Z");
  EXPECT_EQ(Next("0 0 13 * FRI", "2026-02-13T00:00:00Z", "UTC"), "2026-02-20T00:00:00.000Z");
  // Strictly after: a fire time equal to `after` is not the next one.
  EXPECT_EQ(Next("0 9 * * *", "2026-01-01T09:00:00Z", "UTC"), "2026-01-02T09:00:00.000Z");
  // Never (30 February).
  EXPECT_EQ(Next("0 0 30 2 *", "2026-01-01T00:00:00Z", "UTC"), "never");
  // An unknown zone counts as UTC.
  EXPECT_EQ(Next("0 9 * * *", "2026-01-01T00:00:00Z", "Mars/Olympus"), "2026-01-01T09:00:00.000Z");
}

TEST(CronTest, BadExpressionsAreRefused) {
  for (const char* bad : {"* * *", "61 * * * *", "*/0 * * * *", "0 24 * * *", "0 0 0 * *",
                          "0 0 * 13 *", "0 0 * * 8", "a b c d e", "5-1 * * * *", "* * * * * *"}) {
    EXPECT_FALSE(Cron::Parse(bad).ok()) << bad;
  }
}

TEST(CronTest, NextRunOfOnceAndCronTriggers) {
  journey::Trigger once;
  once.kind = journey::TriggerKind::kSchedule;
  once.at = T("2026-12-01T08:00:00Z");
  EXPECT_EQ(NextRun(once, T("2026-11-30T00:00:00Z")), T("2026-12-01T08:00:00Z"));
  EXPECT_EQ(NextRun(once, T("2026-12-01T08:00:00Z")), std::nullopt);
  journey::Trigger cron;
  cron.kind = journey::TriggerKind::kSchedule;
  cron.cron = "0 9 * * MON";
  cron.timezone = "Europe/Berlin";
  EXPECT_EQ(NextRun(cron, T("2026-03-25T00:00:00Z")), T("2026-03-30T07:00:00Z"));
  journey::Trigger event;
  EXPECT_EQ(NextRun(event, 0), std::nullopt);
}

}  // namespace
}  // namespace cairn::campaign
