// Limits and robustness: conditions that fail at run time, max_lifetime,
// bounded walks, stale timers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "flow_host.h"
#include "journey/loader.h"

namespace cairn::flow::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::StartsWith;

TEST(RuntimeErrors, TriggerConditionErrorIsATraceLineNotACrash) {
  Host h;
  h.Install({R"(
journey: typed
version: 1
when:
  event: Order Completed
  where: event.properties.total > 1
steps:
  - id: done
    exit: done
)"});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Order Completed", t, R"({"total": "12.50"})");  // a string
  h.Track("u1", "Order Completed", t + kMinute, R"({"total": 3})");
  const auto lines = h.Lines("u1");
  ASSERT_THAT(lines, SizeIs(3));
  EXPECT_THAT(lines[0], StartsWith("2026-03-01T10:00:00Z typed - error: trigger condition failed "
                                   "to evaluate: test.yaml:6:"));
  EXPECT_EQ(lines[1],
            "2026-03-01T10:01:00Z typed#1 - enter: Order Completed at 2026-03-01T10:01:00.000Z");
  EXPECT_EQ(h.runtime().counters().eval_errors.load(), 1u);
}

TEST(RuntimeErrors, BranchErrorFallsThroughToElseWaitForErrorKeepsWaiting) {
  Host h;
  h.Install({R"(
journey: fragile
version: 1
when:
  event: Go
steps:
  - id: check
    branch:
      - if: entry.properties.level > 2
        next: high
      - else: wait_pay
  - id: high
    exit: high
  - id: wait_pay
    wait_for:
      event: Paid
      where: event.properties.amount >= entry.properties.level
      timeout: 1d
      on_event: paid
      on_timeout: unpaid
  - id: paid
    exit: paid
  - id: unpaid
    exit: unpaid
)"});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Go", t, R"({"level": "three"})");
  h.Track("u1", "Paid", t + kHour, R"({"amount": 5})");
  h.AdvanceTo(t + 2 * kDay);
  const auto lines = h.Lines("u1");
  ASSERT_THAT(lines, SizeIs(7));
  EXPECT_THAT(lines[1], StartsWith("2026-03-01T10:00:00Z fragile#1 check error: branch condition "
                                   "failed to evaluate: "));
  EXPECT_EQ(lines[2], "2026-03-01T10:00:00Z fragile#1 check branch: else -> wait_pay");
  EXPECT_THAT(lines[4], StartsWith("2026-03-01T11:00:00Z fragile#1 wait_pay error: wait_for "
                                   "condition failed to evaluate: "));
  EXPECT_EQ(lines[5], "2026-03-02T10:00:00Z fragile#1 wait_pay timeout: no Paid within 1d");
  EXPECT_EQ(lines[6], "2026-03-02T10:00:00Z fragile#1 unpaid exit: unpaid");
}

TEST(RuntimeErrors, AudienceAndUpdateErrors) {
  Host h;
  h.Install({R"(
journey: picky
version: 1
when:
  event: Go
who:
  where: traits.age >= 18
entry:
  reentry: always
steps:
  - id: note
    update:
      compute: { ratio: "entry.properties.a / entry.properties.b" }
      add_labels: [noted]
)"});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("minor", "Go", t);  // no age trait: no such key
  h.Identify("adult", R"({"age": 30})", t);
  h.Track("adult", "Go", t + kMinute, R"({"a": 1, "b": 0})");  // division by zero
  EXPECT_THAT(h.Lines("minor"),
              ElementsAre(StartsWith("2026-03-01T10:00:00Z picky - error: who condition failed "
                                     "to evaluate: ")));
  const auto adult = h.Lines("adult");
  ASSERT_THAT(adult, SizeIs(4));
  EXPECT_THAT(adult[1], StartsWith("2026-03-01T10:01:00Z picky#1 note error: update condition "
                                   "failed to evaluate: "));
  EXPECT_EQ(adult[2], "2026-03-01T10:01:00Z picky#1 note update: +noted");
  EXPECT_EQ(adult[3], "2026-03-01T10:01:00Z picky#1 note exit: completed");
}

constexpr const char* kShortLived = R"(
journey: short-lived
version: 1
max_lifetime: 3d
when:
  event: Go
who:
  consent: { email: implied }
entry:
  reentry: always
steps:
  - id: first
    wait: 2d
  - id: listen
    wait_for:
      event: Clicked
      timeout: 2d
      on_event: clicked
      on_timeout: nudge
  - id: nudge
    send: { channel: email, template: nudge }
  - id: done
    exit: nudged
  - id: clicked
    send: { channel: email, template: thanks }
)";

TEST(MaxLifetime, EndsAnInstanceInAWaitForAtItsLifetime) {
  Host h;
  h.Install({kShortLived});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Go", t);
  h.AdvanceTo(t + 10 * kDay);
  EXPECT_THAT(h.Lines("u1", "wait_for timeout exit send"),
              ElementsAre("2026-03-03T10:00:00Z short-lived#1 listen wait_for: for Clicked until "
                          "2026-03-05T10:00:00.000Z",
                          "2026-03-04T10:00:00Z short-lived#1 listen exit: max_lifetime reached"));
  EXPECT_THAT(h.outbox(), IsEmpty());
}

TEST(MaxLifetime, AnEventAfterTheLifetimeDoesNotMoveTheInstance) {
  Host h;
  h.Install({kShortLived});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Go", t);
  h.Track("u1", "Clicked", t + 3 * kDay + kHour);  // the lifetime ended an hour ago
  EXPECT_THAT(h.Lines("u1", "arrived exit send"),
              ElementsAre("2026-03-04T10:00:00Z short-lived#1 listen exit: max_lifetime reached"));
  EXPECT_THAT(h.outbox(), IsEmpty());
}

TEST(MaxLifetime, AnEventPastTheLifetimeEndsTheInstanceBeforeItsTimerFired) {
  Host h;
  h.Install({kShortLived});
  h.set_fire_timers_before_events(false);
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Go", t);
  h.AdvanceTo(t + 2 * kDay);
  h.Track("u1", "Clicked", t + 3 * kDay + kHour);
  EXPECT_THAT(h.Lines("u1", "arrived exit send"),
              ElementsAre("2026-03-04T11:00:00Z short-lived#1 listen exit: max_lifetime reached"));
  EXPECT_THAT(h.outbox(), IsEmpty());
}

TEST(MaxLifetime, EndsAnInstanceHeldByAPause) {
  const std::string running = R"(
journey: held-long
version: 1
max_lifetime: 2d
when:
  event: Go
steps:
  - id: pause
    wait: 1d
  - id: done
    exit: done
)";
  std::string paused = running;
  paused.replace(paused.find("max_lifetime"), 0, "paused: true\n");
  Host h;
  h.Install({running});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Go", t);
  h.Install({paused});
  h.AdvanceTo(t + 5 * kDay);
  EXPECT_THAT(h.Lines("u1", "hold exit"),
              ElementsAre("2026-03-02T10:00:00Z held-long#1 pause hold: due while the journey "
                          "is paused",
                          "2026-03-03T10:00:00Z held-long#1 pause exit: max_lifetime reached"));
  EXPECT_EQ(h.pending_timers(), 0u);
}

TEST(MaxLifetime, AWaitPastTheLifetimeEndsTheInstance) {
  Host h;
  h.Install({R"(
journey: too-long
version: 1
max_lifetime: 3d
when:
  event: Go
steps:
  - id: first
    wait: 2d
  - id: second
    wait: 2d
  - id: done
    exit: done
)"});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Go", t);
  h.AdvanceTo(t + 10 * kDay);
  EXPECT_THAT(h.Lines("u1", "exit"),
              ElementsAre("2026-03-03T10:00:00Z too-long#1 second exit: wait until "
                          "2026-03-05T10:00:00.000Z is past max_lifetime"));
}

TEST(Runaway, UnboundedLoopsDoNotLoad) {
  const auto r = journey::LoadJourney(R"(
journey: loop
version: 1
when:
  event: Go
steps:
  - id: a
    update: { add_labels: [x] }
  - id: b
    goto: { step: a }
)",
                                      "loop.yaml");
  ASSERT_FALSE(r.journey.has_value());
  ASSERT_THAT(r.diagnostics, SizeIs(1));
  EXPECT_THAT(r.diagnostics[0].message, HasSubstr("loops forever"));
}

TEST(Runaway, AHugeBoundedLoopWithoutAWaitIsCutOffPerWalk) {
  RuntimeOptions o;
  o.max_steps_per_walk = 50;
  Host h(o);
  h.Install({R"(
journey: spin
version: 1
when:
  event: Go
steps:
  - id: tick
    update: { add_labels: [spun] }
  - id: again
    goto: { step: tick, max: 1000 }
)"});
  h.Track("u1", "Go", T("2026-03-01T10:00:00Z"));
  const auto exits = h.Lines("u1", "exit");
  EXPECT_THAT(exits, ElementsAre("2026-03-01T10:00:00Z spin#1 again exit: too many steps in one "
                                 "walk (runaway loop?)"));
  EXPECT_EQ(h.Lines("u1", "update").size() + h.Lines("u1", "goto").size(), 50u);
  EXPECT_EQ(h.pending_timers(), 0u);
}

TEST(StaleTimers, TimersOfExitedInstancesAreIgnored) {
  Host h;
  h.Install({R"(
journey: stale
version: 1
when:
  event: Go
who:
  consent: { email: implied }
entry:
  reentry: always
exit_when:
  - event: Stop
steps:
  - id: pause
    wait: 1d
  - id: mail
    send: { channel: email, template: t }
)"});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Go", t);
  h.Track("u1", "Stop", t + kHour);
  h.Track("u1", "Go", t + 2 * kHour);  // a new instance: the old timer is not its
  ASSERT_EQ(h.pending_timers(), 2u);
  h.AdvanceTo(t + 5 * kDay);
  EXPECT_THAT(h.Lines("u1", "send"), ElementsAre("2026-03-02T12:00:00Z stale#2 mail send"));
  EXPECT_EQ(h.runtime().counters().stale_timers.load(), 1u);
  EXPECT_EQ(h.runtime().counters().timers_fired.load(), 2u);
}

TEST(StaleTimers, GarbagePayloadAndUnknownCustomerAreIgnored) {
  Host h;
  h.Install({R"(
journey: noop
version: 1
when:
  event: Go
steps:
  - id: done
    exit: done
)"});
  timer::Timer garbage;
  garbage.due_ms = T("2026-03-01T10:00:00Z");
  garbage.customer_id = "ghost";
  garbage.tag = 7;
  garbage.payload = "\xff\xff not a payload";
  h.AddTimer(garbage);
  v1::TimerPayload p;
  p.set_kind(v1::TimerPayload::STEP);
  p.set_journey("noop");
  p.set_instance(42);
  timer::Timer unknown = garbage;
  unknown.tag = 8;
  unknown.payload = p.SerializeAsString();
  h.AddTimer(unknown);
  h.AdvanceTo(T("2026-03-02T00:00:00Z"));
  EXPECT_THAT(h.Lines(), IsEmpty());
  EXPECT_EQ(h.runtime().counters().stale_timers.load(), 2u);
}

TEST(Limits, MaxInstancesPerCustomer) {
  RuntimeOptions o;
  o.max_instances = 2;
  Host h(o);
  h.Install({R"(
journey: many
version: 1
when:
  event: Go
entry:
  reentry: always
  max_concurrent: 10
steps:
  - id: pause
    wait: 1d
)"});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  for (int i = 0; i < 3; ++i) h.Track("u1", "Go", t + i);
  EXPECT_THAT(h.Lines("u1", "skip"),
              ElementsAre("2026-03-01T10:00:00.002Z many - skip: too many journey instances for "
                          "this customer"));
}

TEST(Limits, NoCatalogNoEffects) {
  Host h;  // nothing installed
  h.Track("u1", "Go", T("2026-03-01T10:00:00Z"));
  EXPECT_THAT(h.Lines(), IsEmpty());
  EXPECT_EQ(h.pending_timers(), 0u);
}

}  // namespace
}  // namespace cairn::flow::testing
