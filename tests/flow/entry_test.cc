// Entry rules, exit criteria and goals.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "flow_host.h"

namespace cairn::flow::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// A journey that waits 2 days, then sends, with the entry rules given.
std::string Waiting(const std::string& entry) {
  return R"(
journey: slow
version: 1
when:
  event: Go
who:
  consent: { email: implied }
entry: )" +
         entry + R"(
steps:
  - id: pause
    wait: 2d
  - id: mail
    send: { channel: email, template: later }
)";
}

TEST(Reentry, NeverEntersOnce) {
  Host h;
  h.Install({Waiting("{ reentry: never }")});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Go", t);
  h.Track("u1", "Go", t + 30 * kDay);
  EXPECT_THAT(h.Lines("u1", "enter skip"),
              ElementsAre("2026-03-01T10:00:00Z slow#1 - enter: Go at 2026-03-01T10:00:00.000Z",
                          "2026-03-31T10:00:00Z slow - skip: already entered once (reentry: "
                          "never)"));
}

TEST(Reentry, AfterSevenDaysCountsFromThePreviousEntry) {
  Host h;
  h.Install({Waiting("{ reentry: 7d }")});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Go", t);
  h.Track("u1", "Go", t + 3 * kDay);
  h.Track("u1", "Go", t + 7 * kDay - 1);
  h.Track("u1", "Go", t + 7 * kDay);
  h.Track("u1", "Go", t + 8 * kDay);
  EXPECT_THAT(h.Lines("u1", "enter skip"),
              ElementsAre("2026-03-01T10:00:00Z slow#1 - enter: Go at 2026-03-01T10:00:00.000Z",
                          "2026-03-04T10:00:00Z slow - skip: entered 3d ago (reentry after 7d)",
                          "2026-03-08T09:59:59.999Z slow - skip: entered 604799.999s ago "
                          "(reentry after 7d)",
                          "2026-03-08T10:00:00Z slow#2 - enter: Go at 2026-03-08T10:00:00.000Z",
                          "2026-03-09T10:00:00Z slow - skip: entered 1d ago (reentry after 7d)"));
}

TEST(Reentry, AlwaysButOneAtATime) {
  Host h;
  h.Install({Waiting("{ reentry: always }")});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Go", t);
  h.Track("u1", "Go", t + kDay);      // still waiting
  h.Track("u1", "Go", t + 2 * kDay);  // its wait ends at this very moment, after the event
  h.AdvanceTo(t + 2 * kDay);
  EXPECT_THAT(h.Lines("u1", "enter skip exit"),
              ElementsAre("2026-03-01T10:00:00Z slow#1 - enter: Go at 2026-03-01T10:00:00.000Z",
                          "2026-03-02T10:00:00Z slow - skip: already in the journey "
                          "(max_concurrent 1)",
                          "2026-03-03T10:00:00Z slow - skip: already in the journey "
                          "(max_concurrent 1)",
                          "2026-03-03T10:00:00Z slow#1 mail exit: completed"));
  // Once it is over, the next Go enters.
  h.Track("u1", "Go", t + 2 * kDay + 1);
  EXPECT_NE(h.Active("u1", "slow"), nullptr);
}

TEST(Reentry, MaxConcurrentTwo) {
  Host h;
  h.Install({Waiting("{ reentry: always, max_concurrent: 2 }")});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  for (int i = 0; i < 3; ++i) h.Track("u1", "Go", t + i * kHour);
  h.AdvanceTo(t + 10 * kDay);
  EXPECT_THAT(h.Lines("u1", "enter skip send"),
              ElementsAre("2026-03-01T10:00:00Z slow#1 - enter: Go at 2026-03-01T10:00:00.000Z",
                          "2026-03-01T11:00:00Z slow#2 - enter: Go at 2026-03-01T11:00:00.000Z",
                          "2026-03-01T12:00:00Z slow - skip: already in the journey "
                          "(max_concurrent 2)",
                          "2026-03-03T10:00:00Z slow#1 mail send",
                          "2026-03-03T11:00:00Z slow#2 mail send"));
}

// docs/journeys.md: in who.where, `event` is the trigger's event and `entry`
// "the same".
TEST(Audience, SeesTheTriggersEventAsEventAndEntry) {
  Host h;
  h.Install({R"(
journey: pro-only
version: 1
when:
  event: Checkout Started
who:
  where: event.properties.plan == 'pro' && entry.properties.plan == 'pro'
entry:
  reentry: always
steps:
  - id: done
    exit: done
)"});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Checkout Started", t, R"({"plan": "free"})");
  h.Track("u1", "Checkout Started", t + kMinute, R"({"plan": "pro"})");
  EXPECT_THAT(h.Lines("u1", "skip enter error"),
              ElementsAre("2026-03-01T10:00:00Z pro-only - skip: not in the audience: "
                          "event.properties.plan == 'pro' && entry.properties.plan == 'pro'",
                          "2026-03-01T10:01:00Z pro-only#1 - enter: Checkout Started at "
                          "2026-03-01T10:01:00.000Z"));
}

constexpr const char* kCartExit = R"(
journey: cart-exit
version: 1
when:
  event: Product Added
who:
  consent: { email: implied }
entry:
  reentry: always
exit_when:
  - event: Order Completed
    where: event.properties.cart_id == entry.properties.cart_id
  - event: Unsubscribed
steps:
  - id: hello
    send: { channel: email, template: hello }
  - id: pause
    wait: 1d
  - id: look
    wait_for:
      event: Cart Viewed
      timeout: 1d
  - id: reminder
    send: { channel: email, template: reminder }
)";

TEST(ExitWhen, EndsAnInstanceWhileItWaits) {
  Host h;
  h.Install({kCartExit});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Product Added", t, R"({"cart_id": "c1"})");
  h.Track("u1", "Order Completed", t + kHour, R"({"cart_id": "other"})");
  h.Track("u1", "Order Completed", t + 2 * kHour, R"({"cart_id": "c1"})");
  h.AdvanceTo(t + 10 * kDay);
  EXPECT_THAT(h.Lines("u1"),
              ElementsAre("2026-03-01T10:00:00Z cart-exit#1 - enter: Product Added at "
                          "2026-03-01T10:00:00.000Z",
                          "2026-03-01T10:00:00Z cart-exit#1 hello send",
                          "2026-03-01T10:00:00Z cart-exit#1 pause wait: until "
                          "2026-03-02T10:00:00.000Z",
                          "2026-03-01T12:00:00Z cart-exit#1 pause exit: exit_when: Order "
                          "Completed"));
  EXPECT_EQ(h.Tasks("u1").size(), 1u);
  EXPECT_EQ(h.runtime().counters().stale_timers.load(), 1u);  // the wait's timer
}

TEST(ExitWhen, EndsAnInstanceInAWaitFor) {
  Host h;
  h.Install({kCartExit});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Product Added", t, R"({"cart_id": "c1"})");
  h.Track("u1", "Unsubscribed", t + kDay + kHour);
  h.AdvanceTo(t + 10 * kDay);
  EXPECT_THAT(h.Lines("u1", "wait_for exit send"),
              ElementsAre("2026-03-01T10:00:00Z cart-exit#1 hello send",
                          "2026-03-02T10:00:00Z cart-exit#1 look wait_for: for Cart Viewed until "
                          "2026-03-03T10:00:00.000Z",
                          "2026-03-02T11:00:00Z cart-exit#1 look exit: exit_when: Unsubscribed"));
}

TEST(ExitWhen, IsCheckedBeforeAWaitForSeesTheSameEvent) {
  Host h;
  h.Install({R"(
journey: both
version: 1
when:
  event: Go
exit_when:
  - event: Order Completed
steps:
  - id: listen
    wait_for:
      event: Order Completed
      timeout: 1d
      on_event: thanks
  - id: thanks
    exit: thanked
)"});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Go", t);
  h.Track("u1", "Order Completed", t + kHour);
  EXPECT_THAT(h.Lines("u1", "arrived exit"),
              ElementsAre("2026-03-01T11:00:00Z both#1 listen exit: exit_when: Order Completed"));
}

TEST(Consent, AnOptOutIsHonouredFromTheMomentItArrives) {
  Host h;
  h.Install({R"(
journey: drip
version: 1
when:
  event: Go
who:
  consent: { email: implied }
steps:
  - id: first
    send: { channel: email, template: first }
  - id: pause
    wait: 1d
  - id: second
    send: { channel: email, template: second }
)"});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Go", t);
  h.Identify("u1", R"({"consent": {"email": false}})", t + kHour);
  h.AdvanceTo(t + 2 * kDay);
  EXPECT_THAT(h.Lines("u1", "send skip"),
              ElementsAre("2026-03-01T10:00:00Z drip#1 first send",
                          "2026-03-02T10:00:00Z drip#1 second skip: opted out of email"));
}

constexpr const char* kGoal = R"(
journey: goal-check
version: 1
when:
  event: Go
entry:
  reentry: always
goal:
  event: Order Completed
  where: event.properties.total > 10.0
  within: 2d
steps:
  - id: pause
    wait: 10d
)";

TEST(Goal, RecordedOnceWithinTheWindow) {
  Host h;
  h.Install({kGoal});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Go", t);
  h.Track("u1", "Order Completed", t + kHour, R"({"total": 5.0})");  // where does not hold
  h.Track("u1", "Order Completed", t + kDay, R"({"total": 50.0})");
  h.Track("u1", "Order Completed", t + 36 * kHour, R"({"total": 70.0})");
  EXPECT_THAT(h.Lines("u1", "goal"),
              ElementsAre("2026-03-02T10:00:00Z goal-check#1 pause goal: Order Completed 1d "
                          "after entry"));
  EXPECT_EQ(h.runtime().counters().goals.load(), 1u);
}

TEST(Goal, NotAfterTheWindowButOnItsLastMoment) {
  Host h;
  h.Install({kGoal});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("late", "Go", t);
  h.Track("late", "Order Completed", t + 2 * kDay + 1, R"({"total": 50.0})");
  h.Track("edge", "Go", t);
  h.Track("edge", "Order Completed", t + 2 * kDay, R"({"total": 50.0})");
  EXPECT_THAT(h.Lines("late", "goal"), IsEmpty());
  EXPECT_THAT(h.Lines("edge", "goal"),
              ElementsAre("2026-03-03T10:00:00Z goal-check#1 pause goal: Order Completed 2d "
                          "after entry"));
}

TEST(Goal, CountsAfterTheInstanceExitedWithinTheWindow) {
  Host h;
  h.Install({R"(
journey: quick
version: 1
when:
  event: Go
goal:
  event: Order Completed
  within: 7d
steps:
  - id: done
    exit: done
)"});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Go", t);
  ASSERT_EQ(h.customer("u1").instances_size(), 1);  // kept for its goal window
  h.Track("u1", "Order Completed", t + 5 * kDay);
  EXPECT_THAT(h.Lines("u1", "exit goal"),
              ElementsAre("2026-03-01T10:00:00Z quick#1 done exit: done",
                          "2026-03-06T10:00:00Z quick#1 done goal: Order Completed 5d after "
                          "entry"));
  EXPECT_EQ(h.customer("u1").instances_size(), 0);  // measured: forgotten
}

}  // namespace
}  // namespace cairn::flow::testing
