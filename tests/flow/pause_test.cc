// Pause and resume by hot reload.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "flow_host.h"

namespace cairn::flow::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::string Reminder(bool paused) {
  return std::string(R"(
journey: reminder
version: 1
paused: )") +
         (paused ? "true" : "false") + R"(
when:
  event: Go
who:
  consent: { email: implied }
entry:
  reentry: always
steps:
  - id: pause
    wait: 1d
  - id: mail
    send: { channel: email, template: reminder }
)";
}

TEST(Pause, APausedJourneyTakesNoEntries) {
  Host h;
  h.Install({Reminder(true)});
  h.Track("u1", "Go", T("2026-03-01T10:00:00Z"));
  EXPECT_THAT(h.Lines("u1"),
              ElementsAre("2026-03-01T10:00:00Z reminder - skip: journey paused: no new entries"));
  EXPECT_EQ(h.customer("u1").instances_size(), 0);
}

TEST(Pause, HoldsDueInstancesAndMovesThemOnAfterResume) {
  Host h;
  h.Install({Reminder(false)});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Go", t);
  h.AdvanceTo(t + 12 * kHour);
  h.Install({Reminder(true)});
  // Due at t + 1d while paused: held, nothing sent, for as long as the pause lasts.
  h.AdvanceTo(t + 3 * kDay);
  EXPECT_THAT(h.outbox(), IsEmpty());
  EXPECT_THAT(h.Lines("u1", "hold send"),
              ElementsAre("2026-03-02T10:00:00Z reminder#1 pause hold: due while the journey is "
                          "paused"));
  ASSERT_NE(h.Active("u1", "reminder"), nullptr);
  EXPECT_TRUE(h.Active("u1", "reminder")->held());
  // Resumed: the held moment is not dropped; it moves on at the next look.
  h.Install({Reminder(false)});
  h.AdvanceTo(t + 4 * kDay);
  EXPECT_THAT(h.Lines("u1", "waited send exit"),
              ElementsAre("2026-03-04T10:01:00Z reminder#1 pause waited: held while paused",
                          "2026-03-04T10:01:00Z reminder#1 mail send",
                          "2026-03-04T10:01:00Z reminder#1 mail exit: completed"));
  EXPECT_EQ(h.outbox().size(), 1u);
}

TEST(Pause, AWaitNotYetDueIsUntouchedByAPauseInBetween) {
  Host h;
  h.Install({Reminder(false)});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Go", t);
  h.Install({Reminder(true)});
  h.AdvanceTo(t + 12 * kHour);
  h.Install({Reminder(false)});
  h.AdvanceTo(t + 3 * kDay);
  EXPECT_THAT(h.Lines("u1", "hold waited send"),
              ElementsAre("2026-03-02T10:00:00Z reminder#1 pause waited",
                          "2026-03-02T10:00:00Z reminder#1 mail send"));
}

std::string Cart(bool paused, int version = 1) {
  return "\njourney: cart\nversion: " + std::to_string(version) +
         "\npaused: " + (paused ? "true" : "false") + R"(
when:
  event: Product Added
who:
  consent: { email: implied }
entry:
  reentry: always
steps:
  - id: hour
    wait_for:
      event: Order Completed
      where: event.properties.cart_id == entry.properties.cart_id
      timeout: 1h
      on_event: ordered
      on_timeout: remind
  - id: remind
    send: { channel: email, template: cart-reminder }
  - id: reminded
    exit: reminded
  - id: ordered
    exit: ordered
)";
}

TEST(Pause, AWaitForEventThatArrivedWhilePausedLeadsToOnEventAfterResume) {
  Host h;
  h.Install({Cart(false)});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Product Added", t, R"({"cart_id": "c1"})");
  h.Install({Cart(true)});
  h.Track("u1", "Order Completed", t + 10 * kMinute, R"({"cart_id": "c2"})");  // not this cart
  h.Track("u1", "Order Completed", t + 20 * kMinute, R"({"cart_id": "c1"})");
  h.AdvanceTo(t + 5 * kHour);  // well past the timeout, still paused
  EXPECT_THAT(h.outbox(), IsEmpty());
  h.Install({Cart(false)});
  h.AdvanceTo(t + 6 * kHour);
  EXPECT_THAT(h.Lines("u1"),
              ElementsAre("2026-03-01T10:00:00Z cart#1 - enter: Product Added at "
                          "2026-03-01T10:00:00.000Z",
                          "2026-03-01T10:00:00Z cart#1 hour wait_for: for Order Completed until "
                          "2026-03-01T11:00:00.000Z",
                          "2026-03-01T10:20:00Z cart#1 hour hold: Order Completed arrived while "
                          "the journey is paused",
                          "2026-03-01T15:01:00Z cart#1 hour arrived: Order Completed (held while "
                          "paused)",
                          "2026-03-01T15:01:00Z cart#1 ordered exit: ordered"));
  EXPECT_THAT(h.outbox(), IsEmpty());
}

TEST(Pause, ATimeoutThatCameDueWhilePausedTimesOutAfterResume) {
  Host h;
  h.Install({Cart(false)});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Product Added", t, R"({"cart_id": "c1"})");
  h.Install({Cart(true)});
  h.AdvanceTo(t + 2 * kHour);
  h.Track("u1", "Order Completed", t + 2 * kHour + 30 * kMinute,
          R"({"cart_id": "c1"})");  // after the timeout
  h.Install({Cart(false)});
  h.AdvanceTo(t + 6 * kHour);
  EXPECT_THAT(h.Lines("u1", "hold timeout send exit"),
              ElementsAre("2026-03-01T11:00:00Z cart#1 hour hold: due while the journey is paused",
                          "2026-03-01T12:30:00Z cart#1 hour timeout: no Order Completed within 1h "
                          "(held while paused)",
                          "2026-03-01T12:30:00Z cart#1 remind send",
                          "2026-03-01T12:30:00Z cart#1 reminded exit: reminded"));
}

TEST(Pause, PausingANewVersionHoldsPinnedInstancesOfTheOldOne) {
  Host h;
  h.Install({Cart(false)});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Product Added", t, R"({"cart_id": "c1"})");
  h.Install({Cart(true, 2)}, {Cart(false)});
  h.Track("u1", "Order Completed", t + 20 * kMinute, R"({"cart_id": "c1"})");
  EXPECT_THAT(h.Lines("u1", "hold arrived exit"),
              ElementsAre("2026-03-01T10:20:00Z cart#1 hour hold: Order Completed arrived while "
                          "the journey is paused"));
  // Resumed (v2 unpaused): the pinned v1 instance goes on to its on_event.
  h.Install({Cart(false, 2)}, {Cart(false)});
  h.AdvanceTo(t + kHour);
  EXPECT_THAT(h.Lines("u1", "arrived exit"),
              ElementsAre("2026-03-01T10:21:00Z cart#1 hour arrived: Order Completed (held while "
                          "paused)",
                          "2026-03-01T10:21:00Z cart#1 ordered exit: ordered"));
  EXPECT_EQ(h.trace().back().version(), 1u);
}

}  // namespace
}  // namespace cairn::flow::testing
