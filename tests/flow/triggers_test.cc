// When: every trigger kind, on the fake-clock host.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "flow_host.h"

namespace cairn::flow::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr const char* kBigOrder = R"(
journey: big-order
version: 1
when:
  event: Order Completed
  where: event.properties.total >= 100.0
who:
  consent: { email: implied }
entry:
  reentry: always
steps:
  - id: thanks
    send: { channel: email, template: big-thanks }
)";

TEST(EventTrigger, EntersOnlyWhenWhereHolds) {
  Host h;
  h.Install({kBigOrder});
  h.Track("u1", "Order Completed", T("2026-03-02T10:00:00Z"), R"({"total": 99.5})");
  h.Track("u1", "Page Viewed", T("2026-03-02T10:01:00Z"), R"({"total": 500.0})");
  h.Track("u1", "Order Completed", T("2026-03-02T10:02:00Z"), R"({"total": 120.25})");
  EXPECT_THAT(h.Lines("u1"),
              ElementsAre("2026-03-02T10:02:00Z big-order#1 - enter: Order Completed at "
                          "2026-03-02T10:02:00.000Z",
                          "2026-03-02T10:02:00Z big-order#1 thanks send",
                          "2026-03-02T10:02:00Z big-order#1 thanks exit: completed"));
  ASSERT_EQ(h.Tasks("u1").size(), 1u);
  // Trace lines are numbered per customer, from 0.
  for (size_t i = 0; i < h.trace().size(); ++i) EXPECT_EQ(h.trace()[i].seq(), i);
  EXPECT_EQ(h.customer("u1").next_trace_seq(), 3u);
}

TEST(EventTrigger, AnyEventTypeByItsName) {
  Host h;
  h.Install({R"(
journey: pricing-visit
version: 1
when:
  event: Page Viewed
  where: event.type == 'page' && event.properties.path == '/pricing'
steps:
  - id: done
    exit: seen_pricing
)"});
  cairn::Event e;
  e.type = EventType::kPage;
  e.user_id = "u1";
  e.name = "Page Viewed";
  e.properties_json = R"({"path": "/pricing"})";
  h.Event(e, T("2026-03-02T10:00:00Z"));
  EXPECT_THAT(h.Lines("u1", "exit"),
              ElementsAre("2026-03-02T10:00:00Z pricing-visit#1 done exit: seen_pricing"));
}

constexpr const char* kPlanUpgrade = R"(
journey: plan-upgrade
version: 1
when:
  trait_changed: plan
  where: change.old == 'free' && change.new == 'pro'
who:
  consent: { email: implied }
entry:
  reentry: always
steps:
  - id: welcome_pro
    send: { channel: email, template: welcome-pro }
)";

TEST(TraitChangedTrigger, EntersOnTheChangeItsWhereDescribes) {
  Host h;
  h.Install({kPlanUpgrade});
  h.Identify("u1", R"({"plan": "free", "name": "Ada"})", T("2026-03-01T08:00:00Z"));
  // Same value again, and another trait: no change of plan.
  h.Identify("u1", R"({"plan": "free", "name": "Ada L."})", T("2026-03-01T09:00:00Z"));
  // free -> pro: enters.
  h.Identify("u1", R"({"plan": "pro"})", T("2026-03-01T10:00:00Z"));
  // pro -> team: a change, but not the one `where` asks for.
  h.Identify("u1", R"({"plan": "team"})", T("2026-03-01T11:00:00Z"));
  // A track event with a `plan` property is not a trait change.
  h.Track("u1", "Plan Viewed", T("2026-03-01T12:00:00Z"), R"({"plan": "free"})");
  EXPECT_THAT(h.Lines("u1", "enter send"),
              ElementsAre("2026-03-01T10:00:00Z plan-upgrade#1 - enter: Trait Changed at "
                          "2026-03-01T10:00:00.000Z",
                          "2026-03-01T10:00:00Z plan-upgrade#1 welcome_pro send"));
}

TEST(TraitChangedTrigger, FirstValueIsAChangeFromNull) {
  Host h;
  h.Install({R"(
journey: got-a-plan
version: 1
when:
  trait_changed: plan
  where: change.old == null
steps:
  - id: done
    exit: first_plan
)"});
  h.Identify("u2", R"({"plan": "free"})", T("2026-03-01T08:00:00Z"));
  h.Identify("u2", R"({"plan": "pro"})", T("2026-03-01T09:00:00Z"));
  EXPECT_THAT(h.Lines("u2", "enter exit"),
              ElementsAre("2026-03-01T08:00:00Z got-a-plan#1 - enter: Trait Changed at "
                          "2026-03-01T08:00:00.000Z",
                          "2026-03-01T08:00:00Z got-a-plan#1 done exit: first_plan"));
}

TEST(TraitChangedTrigger, ADottedTraitPathWatchesTheNestedValue) {
  Host h;
  h.Install({R"(
journey: tier-up
version: 1
when:
  trait_changed: loyalty.tier
  where: change.trait == 'loyalty.tier' && change.old == 'silver' && change.new == 'gold'
entry:
  reentry: always
steps:
  - id: done
    exit: done
)"});
  h.Identify("u1", R"({"loyalty": {"tier": "silver", "points": 10}})", T("2026-03-01T08:00:00Z"));
  h.Identify("u1", R"({"loyalty": {"tier": "gold", "points": 20}})", T("2026-03-01T09:00:00Z"));
  // Points move, the tier does not: no change of loyalty.tier.
  h.Identify("u1", R"({"loyalty": {"tier": "gold", "points": 30}})", T("2026-03-01T10:00:00Z"));
  EXPECT_THAT(h.Lines("u1"), ElementsAre("2026-03-01T09:00:00Z tier-up#1 - enter: Trait Changed at "
                                         "2026-03-01T09:00:00.000Z",
                                         "2026-03-01T09:00:00Z tier-up#1 done exit: done"));
}

// ---- absence

constexpr const char* kWinback = R"(
journey: winback
version: 1
when:
  absence: Order Completed
  for: 90d
who:
  where: "'Order Completed' in customer.events"
  consent: { email: implied }
entry:
  reentry: always
steps:
  - id: coupon
    send: { channel: email, template: winback-coupon }
)";

TEST(AbsenceTrigger, FiresExactly90DaysAfterTheLastOrder) {
  Host h;
  h.Install({kWinback});
  const TimestampMs order = T("2026-01-10T12:34:56Z");
  h.Track("u1", "Order Completed", order);
  h.AdvanceTo(order + 90 * kDay - 1);
  EXPECT_THAT(h.Lines("u1"), IsEmpty());
  h.AdvanceTo(order + 120 * kDay);
  EXPECT_THAT(h.Lines("u1", "enter send"),
              ElementsAre("2026-04-10T12:34:56Z winback#1 - enter: Absence Detected at "
                          "2026-04-10T12:34:56.000Z",
                          "2026-04-10T12:34:56Z winback#1 coupon send"));
}

TEST(AbsenceTrigger, AnOrderInBetweenPushesIt) {
  Host h;
  h.Install({kWinback});
  h.Track("u1", "Order Completed", T("2026-01-01T00:00:00Z"));
  h.Track("u1", "Page Viewed", T("2026-02-01T00:00:00Z"));  // not the absent event
  h.Track("u1", "Order Completed", T("2026-03-01T00:00:00Z"));
  h.AdvanceTo(T("2026-12-31T00:00:00Z"));
  // 90 days after 1 March, not after 1 January; once (re-armed by the next order only).
  EXPECT_THAT(h.Lines("u1", "enter"),
              ElementsAre("2026-05-30T00:00:00Z winback#1 - enter: Absence Detected at "
                          "2026-05-30T00:00:00.000Z"));
  EXPECT_THAT(h.TimersOf("u1"), IsEmpty());
}

TEST(AbsenceTrigger, FiresOncePerSilenceAlsoAcrossAReload) {
  Host h;
  h.Install({kWinback});
  const TimestampMs order = T("2026-01-01T00:00:00Z");
  h.Track("u1", "Order Completed", order);
  h.AdvanceTo(order + 100 * kDay);
  // Any journey file changed: a new catalog generation. The silence that
  // already fired must not fire again at the customer's next event.
  h.Install({kWinback});
  h.Track("u1", "Page Viewed", order + 120 * kDay);
  h.AdvanceTo(order + 200 * kDay);
  // The next order starts a new silence.
  h.Track("u1", "Order Completed", order + 210 * kDay);
  h.AdvanceTo(order + 400 * kDay);
  EXPECT_THAT(h.Lines("u1", "enter"),
              ElementsAre("2026-04-01T00:00:00Z winback#1 - enter: Absence Detected at "
                          "2026-04-01T00:00:00.000Z",
                          "2026-10-28T00:00:00Z winback#2 - enter: Absence Detected at "
                          "2026-10-28T00:00:00.000Z"));
}

TEST(AbsenceTrigger, AReloadThatShortensTheWindowMovesTheTimerAtTheNextTouch) {
  Host h;
  h.Install({kWinback});
  const TimestampMs order = T("2026-01-01T00:00:00Z");
  h.Track("u1", "Order Completed", order);
  std::string shorter = kWinback;
  shorter.replace(shorter.find("for: 90d"), 8, "for: 60d");
  h.Install({shorter});
  h.Track("u1", "Page Viewed", order + 10 * kDay);
  h.AdvanceTo(order + 200 * kDay);
  EXPECT_THAT(h.Lines("u1", "enter"),
              ElementsAre("2026-03-02T00:00:00Z winback#1 - enter: Absence Detected at "
                          "2026-03-02T00:00:00.000Z"));
}

TEST(AbsenceTrigger, NeverOrderedCountsFromFirstSeenAndAudienceIsCheckedAtFireTime) {
  Host h;
  h.Install({kWinback});
  // u1 never orders: the absence counts from first sight, and the audience
  // (has ordered) is checked when it fires.
  h.Track("u1", "Signed Up", T("2026-01-05T08:00:00Z"));
  h.Track("u1", "Page Viewed", T("2026-02-05T08:00:00Z"));
  EXPECT_THAT(h.TimersOf("u1"), ElementsAre(T("2026-04-05T08:00:00Z")));
  h.AdvanceTo(T("2026-06-01T00:00:00Z"));
  EXPECT_THAT(h.Lines("u1"),
              ElementsAre("2026-04-05T08:00:00Z winback - skip: not in the audience: "
                          "'Order Completed' in customer.events"));
}

TEST(AbsenceTrigger, AudienceReadsTheStateAtFireTime) {
  Host h;
  h.Install({R"(
journey: quiet-vip
version: 1
when:
  absence: Order Completed
  for: 30d
who:
  where: "has(traits.tier) && traits.tier == 'vip' || 'vip' in customer.labels"
entry:
  reentry: always
steps:
  - id: note
    exit: noted
)"});
  h.Track("u1", "Order Completed", T("2026-01-01T00:00:00Z"));
  // Not VIP when the absence began; VIP by the time it fires.
  h.Identify("u1", R"({"tier": "vip"})", T("2026-01-15T00:00:00Z"));
  h.AdvanceTo(T("2026-03-01T00:00:00Z"));
  EXPECT_THAT(h.Lines("u1", "enter"),
              ElementsAre("2026-01-31T00:00:00Z quiet-vip#1 - enter: Absence Detected at "
                          "2026-01-31T00:00:00.000Z"));
}

// ---- date

constexpr const char* kRenewal = R"(
journey: renewal
version: 1
timezone: Europe/Berlin
when:
  date: subscription_end
  offset: -7d
entry:
  reentry: always
steps:
  - id: remind
    exit: reminded
)";

TEST(DateTrigger, SevenDaysBeforeAt0900InTheCustomersZone) {
  Host h;
  h.Install({kRenewal});
  // Journey default zone (Berlin, CET in February): 09:00 local = 08:00Z.
  h.Identify("berlin", R"({"subscription_end": "2026-02-20"})", T("2026-01-01T00:00:00Z"));
  // The customer's own zone wins.
  h.Identify("tokyo", R"({"subscription_end": "2026-02-20", "timezone": "Asia/Tokyo"})",
             T("2026-01-01T00:00:00Z"));
  // An unknown zone name falls back to the journey's.
  h.Identify("nowhere", R"({"subscription_end": "2026-02-20", "timezone": "Mars/Olympus"})",
             T("2026-01-01T00:00:00Z"));
  h.AdvanceTo(T("2026-03-01T00:00:00Z"));
  EXPECT_THAT(h.Lines({}, "enter"),
              ElementsAre("2026-02-13T00:00:00Z renewal#1 - enter: Date Reached at "
                          "2026-02-13T00:00:00.000Z",
                          "2026-02-13T08:00:00Z renewal#1 - enter: Date Reached at "
                          "2026-02-13T08:00:00.000Z",
                          "2026-02-13T08:00:00Z renewal#1 - enter: Date Reached at "
                          "2026-02-13T08:00:00.000Z"));
  EXPECT_EQ(h.trace()[0].customer(), "tokyo");
}

TEST(DateTrigger, OffsetInDaysKeepsTheLocalTimeAcrossADstChange) {
  Host h;
  h.Install({kRenewal});
  // Berlin moves to CEST on 29 March 2026. Seven days before 2 April, at
  // 09:00 local, is 26 March 09:00 CET = 08:00Z (not 07:00Z, which is
  // 2 April 09:00 CEST minus 7 x 24 h).
  h.Identify("u1", R"({"subscription_end": "2026-04-02"})", T("2026-03-01T00:00:00Z"));
  h.AdvanceTo(T("2026-04-30T00:00:00Z"));
  EXPECT_THAT(h.Lines("u1", "enter"),
              ElementsAre("2026-03-26T08:00:00Z renewal#1 - enter: Date Reached at "
                          "2026-03-26T08:00:00.000Z"));
}

TEST(DateTrigger, YearlyWithOffsetKeepsTheLocalTimeAcrossADstChange) {
  Host h;
  h.Install({R"(
journey: anniversary-eve
version: 1
timezone: Europe/Berlin
when:
  date: member_since
  yearly: true
  offset: -2d
  at: "10:00"
entry:
  reentry: always
steps:
  - id: done
    exit: reminded
)"});
  // 10:00 two days before 30 March: 28 March, still CET (09:00Z); 30 March
  // itself is CEST.
  h.Identify("u1", R"({"member_since": "2019-03-30"})", T("2026-01-01T00:00:00Z"));
  EXPECT_THAT(h.TimersOf("u1"), ElementsAre(T("2026-03-28T09:00:00Z")));
}

TEST(DateTrigger, AReloadThatMovesTheOffsetReArmsAtTheNextTouch) {
  Host h;
  h.Install({kRenewal});
  h.Identify("u1", R"({"subscription_end": "2026-06-30"})", T("2026-01-01T00:00:00Z"));
  std::string two_weeks = kRenewal;
  two_weeks.replace(two_weeks.find("offset: -7d"), 11, "offset: -14d");
  h.Install({two_weeks});
  h.Track("u1", "Page Viewed", T("2026-02-01T00:00:00Z"));
  h.AdvanceTo(T("2026-12-31T00:00:00Z"));
  EXPECT_THAT(h.Lines("u1", "enter"),
              ElementsAre("2026-06-16T07:00:00Z renewal#1 - enter: Date Reached at "
                          "2026-06-16T07:00:00.000Z"));
}

TEST(DateTrigger, ADateAlreadyPastArmsNothing) {
  Host h;
  h.Install({kRenewal});
  h.Identify("u1", R"({"subscription_end": "2026-01-03"})", T("2026-01-01T00:00:00Z"));
  EXPECT_THAT(h.TimersOf("u1"), IsEmpty());
  h.AdvanceTo(T("2027-01-01T00:00:00Z"));
  EXPECT_THAT(h.Lines("u1"), IsEmpty());
}

TEST(DateTrigger, MovedByIdentifyReArms) {
  Host h;
  h.Install({kRenewal});
  h.Identify("u1", R"({"subscription_end": "2026-06-30"})", T("2026-01-01T00:00:00Z"));
  EXPECT_THAT(h.TimersOf("u1"), ElementsAre(T("2026-06-23T07:00:00Z")));
  // Renewed early: the end moves to the end of the year; the old timer is stale.
  h.Identify("u1", R"({"subscription_end": "2026-12-31"})", T("2026-02-01T00:00:00Z"));
  h.AdvanceTo(T("2027-02-01T00:00:00Z"));
  EXPECT_THAT(h.Lines("u1", "enter"),
              ElementsAre("2026-12-24T08:00:00Z renewal#1 - enter: Date Reached at "
                          "2026-12-24T08:00:00.000Z"));
  EXPECT_GE(h.runtime().counters().stale_timers.load(), 1u);
}

TEST(DateTrigger, RemovedTraitDisarms) {
  Host h;
  h.Install({kRenewal});
  h.Identify("u1", R"({"subscription_end": "2026-06-30"})", T("2026-01-01T00:00:00Z"));
  h.Identify("u1", R"({"subscription_end": null})", T("2026-02-01T00:00:00Z"));
  h.AdvanceTo(T("2027-01-01T00:00:00Z"));
  EXPECT_THAT(h.Lines("u1"), IsEmpty());
}

constexpr const char* kBirthday = R"(
journey: birthday
version: 1
timezone: UTC
when:
  date: birthday
  yearly: true
  at: "08:30"
who:
  consent: { email: implied }
entry:
  reentry: 300d
steps:
  - id: card
    send: { channel: email, template: birthday-card }
)";

TEST(DateTrigger, YearlyBirthdayReArmsNextYear) {
  Host h;
  h.Install({kBirthday});
  h.Identify("u1", R"({"birthday": "1990-05-17", "timezone": "America/New_York"})",
             T("2026-01-01T00:00:00Z"));
  h.AdvanceTo(T("2028-12-31T00:00:00Z"));
  // 08:30 in New York (EDT in May): 12:30Z, every year.
  EXPECT_THAT(h.Lines("u1", "enter send"),
              ElementsAre("2026-05-17T12:30:00Z birthday#1 - enter: Date Reached at "
                          "2026-05-17T12:30:00.000Z",
                          "2026-05-17T12:30:00Z birthday#1 card send",
                          "2027-05-17T12:30:00Z birthday#2 - enter: Date Reached at "
                          "2027-05-17T12:30:00.000Z",
                          "2027-05-17T12:30:00Z birthday#2 card send",
                          "2028-05-17T12:30:00Z birthday#3 - enter: Date Reached at "
                          "2028-05-17T12:30:00.000Z",
                          "2028-05-17T12:30:00Z birthday#3 card send"));
  EXPECT_THAT(h.TimersOf("u1"), ElementsAre(T("2029-05-17T12:30:00Z")));
}

TEST(DateTrigger, LeapDayBirthdayFallsOnThe28thInOtherYears) {
  Host h;
  h.Install({kBirthday});
  h.Identify("u1", R"({"birthday": "2000-02-29"})", T("2026-01-01T00:00:00Z"));
  h.AdvanceTo(T("2028-03-01T00:00:00Z"));
  EXPECT_THAT(h.Lines("u1", "send"), ElementsAre("2026-02-28T08:30:00Z birthday#1 card send",
                                                 "2027-02-28T08:30:00Z birthday#2 card send",
                                                 "2028-02-29T08:30:00Z birthday#3 card send"));
}

TEST(ScheduleTrigger, EntersNobodyFromEventsOrTimers) {
  Host h;
  h.Install({R"(
journey: black-friday
version: 1
when:
  schedule: { at: "2026-11-27T09:00:00+01:00" }
steps:
  - id: done
    exit: sent
)"});
  h.Track("u1", "Order Completed", T("2026-11-01T00:00:00Z"));
  h.Identify("u1", R"({"plan": "pro"})", T("2026-11-02T00:00:00Z"));
  h.AdvanceTo(T("2026-12-31T00:00:00Z"));
  EXPECT_THAT(h.Lines(), IsEmpty());
  EXPECT_EQ(h.pending_timers(), 0u);
}

}  // namespace
}  // namespace cairn::flow::testing
