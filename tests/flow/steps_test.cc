// What: every step kind, walked on the fake-clock host.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "flow_host.h"

namespace cairn::flow::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using Json = nlohmann::json;

// ---- send and consent

constexpr const char* kTwoChannels = R"(
journey: two-channels
version: 3
priority: 25
when:
  event: Go
who:
  consent: { email: implied, sms: explicit }
entry:
  reentry: always
steps:
  - id: mail
    send:
      channel: email
      template: t-mail
      params: { coupon: SAVE10, percent: 10, nested: { a: [1, 2] } }
  - id: text
    send: { channel: sms, template: t-sms }
)";

TEST(SendStep, TaskRecordCarriesEveryField) {
  Host h;
  h.Install({kTwoChannels});
  h.Track("u1", "Go", T("2026-03-01T10:00:00Z"), R"({"cart_id": "c-9"})");
  ASSERT_THAT(h.outbox(), SizeIs(1));
  const v1::OutboxRecord& rec = h.outbox()[0];
  EXPECT_EQ(rec.topic(), "cairn.tasks");
  EXPECT_EQ(rec.key(), "u1");
  const std::string id = Runtime::TaskId("two-channels", 3, "u1", 1, "mail", 0);
  EXPECT_EQ(rec.headers().at("cairn.task_id"), id);
  EXPECT_EQ(rec.headers().at("content-type"), "application/json");
  const Json task = Json::parse(rec.value());
  EXPECT_EQ(task["task_id"], id);
  EXPECT_EQ(task["customer_id"], "u1");
  EXPECT_EQ(task["journey"], "two-channels");
  EXPECT_EQ(task["version"], 3);
  EXPECT_EQ(task["instance"], 1);
  EXPECT_EQ(task["step"], "mail");
  EXPECT_EQ(task["iteration"], 0);
  EXPECT_EQ(task["channel"], "email");
  EXPECT_EQ(task["template"], "t-mail");
  EXPECT_EQ(task["params"],
            Json::parse(R"({"coupon":"SAVE10","percent":10,"nested":{"a":[1,2]}})"));
  EXPECT_EQ(task["created_at"], "2026-03-01T10:00:00.000Z");
  EXPECT_EQ(task["entry_event"]["name"], "Go");
  EXPECT_EQ(task["entry_event"]["properties"]["cart_id"], "c-9");
  EXPECT_EQ(task["priority"], 25);
  EXPECT_FALSE(task.contains("arm"));  // no split on the way
  // The trace names the same task.
  EXPECT_EQ(h.TaskIds(), std::vector<std::string>{id});
}

TEST(SendStep, ImpliedConsentSendsUnlessOptedOutExplicitNeedsOptIn) {
  Host h;
  h.Install({kTwoChannels});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Identify("nothing-said", "{}", t);
  h.Identify("sms-yes-mail-no", R"({"consent": {"email": false, "sms": true}})", t);
  h.Identify("both-no", R"({"consent": {"email": false, "sms": false}})", t);
  for (const char* c : {"nothing-said", "sms-yes-mail-no", "both-no"})
    h.Track(c, "Go", t + kMinute);
  EXPECT_THAT(h.Lines("nothing-said", "send skip"),
              ElementsAre("2026-03-01T10:01:00Z two-channels#1 mail send",
                          "2026-03-01T10:01:00Z two-channels#1 text skip: no consent for sms "
                          "(explicit opt-in required)"));
  EXPECT_THAT(h.Lines("sms-yes-mail-no", "send skip"),
              ElementsAre("2026-03-01T10:01:00Z two-channels#1 mail skip: opted out of email",
                          "2026-03-01T10:01:00Z two-channels#1 text send"));
  EXPECT_THAT(h.Lines("both-no"),
              ElementsAre("2026-03-01T10:01:00Z two-channels - skip: no consent on any channel "
                          "the journey uses"));
  std::vector<std::string> channels;
  for (const auto& r : h.outbox()) channels.push_back(Json::parse(r.value())["channel"]);
  EXPECT_THAT(channels, ElementsAre("email", "sms"));
}

TEST(SendStep, ProtobufTasksWhenAsked) {
  RuntimeOptions o;
  o.tasks_protobuf = true;
  Host h(o);
  h.Install({kTwoChannels});
  h.Track("u1", "Go", T("2026-03-01T10:00:00Z"));
  ASSERT_THAT(h.outbox(), SizeIs(1));
  EXPECT_EQ(h.outbox()[0].headers().at("content-type"),
            "application/x-protobuf;messageType=cairn.v1.Task");
}

// ---- wait

constexpr const char* kWaits = R"(
journey: waits
version: 1
timezone: Europe/Berlin
when:
  event: Go
entry:
  reentry: always
steps:
  - id: two_days
    wait: 2d
  - id: morning
    wait: { for: 20h, at: "10:00" }
  - id: done
    exit: waited
)";

TEST(WaitStep, DurationThenLocalTimeOfDayAcrossDst) {
  Host h;
  h.Install({kWaits});
  // Friday 27 March 2026, 12:00Z = 13:00 CET. Two days later it is Sunday
  // 29 March, 12:00Z = 14:00 CEST (clocks went forward at 01:00Z). 20 hours
  // later it is Monday 08:00Z = 10:00 CEST: exactly the time asked for.
  h.Track("u1", "Go", T("2026-03-27T12:00:00Z"));
  h.AdvanceTo(T("2026-04-10T00:00:00Z"));
  EXPECT_THAT(h.Lines("u1"),
              ElementsAre("2026-03-27T12:00:00Z waits#1 - enter: Go at 2026-03-27T12:00:00.000Z",
                          "2026-03-27T12:00:00Z waits#1 two_days wait: until "
                          "2026-03-29T12:00:00.000Z",
                          "2026-03-29T12:00:00Z waits#1 two_days waited",
                          "2026-03-29T12:00:00Z waits#1 morning wait: until "
                          "2026-03-30T08:00:00.000Z",
                          "2026-03-30T08:00:00Z waits#1 morning waited",
                          "2026-03-30T08:00:00Z waits#1 done exit: waited"));
}

TEST(WaitStep, AtTenLocalOnTheDayOfTheDstChange) {
  Host h;
  h.Install({R"(
journey: ten-local
version: 1
timezone: Europe/Berlin
when:
  event: Go
entry:
  reentry: always
steps:
  - id: ten
    wait: { at: "10:00" }
)"});
  // Sunday 29 March 2026 00:30Z = 01:30 CET; 10:00 that day is CEST = 08:00Z.
  h.Track("berlin", "Go", T("2026-03-29T00:30:00Z"));
  // Saturday 28 March 09:30Z = 10:30 CET: today's 10:00 is gone, so
  // tomorrow's, which is CEST.
  h.Track("late", "Go", T("2026-03-28T09:30:00Z"));
  // The customer's zone wins over the journey's.
  h.Identify("ny", R"({"timezone": "America/New_York"})", T("2026-03-28T00:00:00Z"));
  h.Track("ny", "Go", T("2026-03-28T12:00:00Z"));
  EXPECT_THAT(h.Lines("berlin", "wait"),
              ElementsAre("2026-03-29T00:30:00Z ten-local#1 ten wait: until "
                          "2026-03-29T08:00:00.000Z"));
  EXPECT_THAT(h.Lines("late", "wait"),
              ElementsAre("2026-03-28T09:30:00Z ten-local#1 ten wait: until "
                          "2026-03-29T08:00:00.000Z"));
  EXPECT_THAT(h.Lines("ny", "wait"), ElementsAre("2026-03-28T12:00:00Z ten-local#1 ten wait: until "
                                                 "2026-03-28T14:00:00.000Z"));
}

constexpr const char* kUntilTrial = R"(
journey: trial
version: 1
timezone: Europe/Berlin
when:
  event: Trial Started
entry:
  reentry: always
steps:
  - id: day_before_end
    wait: { until: trial.ends, offset: -1d }
  - id: done
    exit: trial_ending
)";

TEST(WaitStep, UntilADateTraitWithOffset) {
  Host h;
  h.Install({kUntilTrial});
  h.Identify("u1", R"({"trial": {"ends": "2026-03-10"}})", T("2026-03-01T00:00:00Z"));
  h.Track("u1", "Trial Started", T("2026-03-01T10:00:00Z"));
  h.AdvanceTo(T("2026-04-01T00:00:00Z"));
  // 10 March 09:00 CET = 08:00Z, one day earlier.
  EXPECT_THAT(h.Lines("u1", "wait waited exit"),
              ElementsAre("2026-03-01T10:00:00Z trial#1 day_before_end wait: until "
                          "2026-03-09T08:00:00.000Z",
                          "2026-03-09T08:00:00Z trial#1 day_before_end waited",
                          "2026-03-09T08:00:00Z trial#1 done exit: trial_ending"));
}

TEST(WaitStep, UntilWithOffsetKeepsTheLocalTimeAcrossADstChange) {
  Host h;
  h.Install({R"(
journey: trial-week
version: 1
timezone: Europe/Berlin
when:
  event: Trial Started
steps:
  - id: week_before_end
    wait: { until: trial.ends, offset: -7d, at: "09:00" }
)"});
  // A week before 2 April (CEST), 09:00 local is 26 March 09:00 CET = 08:00Z.
  h.Identify("u1", R"({"trial": {"ends": "2026-04-02"}})", T("2026-03-01T00:00:00Z"));
  h.Track("u1", "Trial Started", T("2026-03-01T10:00:00Z"));
  EXPECT_THAT(h.Lines("u1", "wait"),
              ElementsAre("2026-03-01T10:00:00Z trial-week#1 week_before_end wait: until "
                          "2026-03-26T08:00:00.000Z"));
}

TEST(WaitStep, UntilADateInThePastContinuesAtOnce) {
  Host h;
  h.Install({kUntilTrial});
  h.Identify("u1", R"({"trial": {"ends": "2026-03-10"}})", T("2026-03-01T00:00:00Z"));
  h.Track("u1", "Trial Started", T("2026-03-09T08:00:00Z"));  // exactly the moment
  h.Identify("u2", R"({"trial": {"ends": "2026-02-01T17:45:00Z"}})", T("2026-03-01T00:00:00Z"));
  h.Track("u2", "Trial Started", T("2026-03-01T10:00:00Z"));
  EXPECT_THAT(h.Lines("u1", "wait exit"),
              ElementsAre("2026-03-09T08:00:00Z trial#1 day_before_end wait: already due",
                          "2026-03-09T08:00:00Z trial#1 done exit: trial_ending"));
  EXPECT_THAT(h.Lines("u2", "wait exit"),
              ElementsAre("2026-03-01T10:00:00Z trial#1 day_before_end wait: already due",
                          "2026-03-01T10:00:00Z trial#1 done exit: trial_ending"));
  EXPECT_THAT(h.TimersOf("u1"), IsEmpty());
}

TEST(WaitStep, UntilAMissingTraitDoesNotWait) {
  Host h;
  h.Install({kUntilTrial});
  h.Track("u1", "Trial Started", T("2026-03-01T10:00:00Z"));
  EXPECT_THAT(h.Lines("u1", "skip exit"),
              ElementsAre("2026-03-01T10:00:00Z trial#1 day_before_end skip: trait trial.ends is "
                          "not a date; not waiting",
                          "2026-03-01T10:00:00Z trial#1 done exit: trial_ending"));
}

// ---- wait_for

constexpr const char* kCart = R"(
journey: cart
version: 1
when:
  event: Product Added
  where: has(event.properties.cart_id)
who:
  consent: { email: implied }
entry:
  reentry: always
  max_concurrent: 2
steps:
  - id: hour
    wait_for:
      event: Order Completed
      where: event.properties.cart_id == entry.properties.cart_id
      timeout: 1h
      lookback: 5m
      on_event: ordered
      on_timeout: remind
  - id: remind
    send: { channel: email, template: cart-reminder }
  - id: reminded
    exit: reminded
  - id: ordered
    exit: ordered
)";

TEST(WaitForStep, CorrelatedEventLeadsToOnEventOtherCartIsIgnored) {
  Host h;
  h.Install({kCart});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Product Added", t, R"({"cart_id": "c1"})");
  h.Track("u1", "Order Completed", t + 10 * kMinute, R"({"cart_id": "c2"})");
  h.Track("u1", "Order Completed", t + 20 * kMinute, R"({"cart_id": "c1"})");
  h.AdvanceTo(t + 5 * kHour);
  EXPECT_THAT(h.Lines("u1"),
              ElementsAre("2026-03-01T10:00:00Z cart#1 - enter: Product Added at "
                          "2026-03-01T10:00:00.000Z",
                          "2026-03-01T10:00:00Z cart#1 hour wait_for: for Order Completed until "
                          "2026-03-01T11:00:00.000Z",
                          "2026-03-01T10:20:00Z cart#1 hour arrived: Order Completed",
                          "2026-03-01T10:20:00Z cart#1 ordered exit: ordered"));
  EXPECT_THAT(h.outbox(), IsEmpty());
}

TEST(WaitForStep, TimeoutLeadsToOnTimeout) {
  Host h;
  h.Install({kCart});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Product Added", t, R"({"cart_id": "c1"})");
  h.Track("u1", "Order Completed", t + 10 * kMinute, R"({"cart_id": "c2"})");
  h.AdvanceTo(t + 5 * kHour);
  EXPECT_THAT(h.Lines("u1", "timeout send exit"),
              ElementsAre("2026-03-01T11:00:00Z cart#1 hour timeout: no Order Completed within 1h",
                          "2026-03-01T11:00:00Z cart#1 remind send",
                          "2026-03-01T11:00:00Z cart#1 reminded exit: reminded"));
}

TEST(WaitForStep, TwoInstancesCorrelateToTheirOwnEntry) {
  Host h;
  h.Install({kCart});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Product Added", t, R"({"cart_id": "c1"})");
  h.Track("u1", "Product Added", t + kMinute, R"({"cart_id": "c2"})");
  h.Track("u1", "Order Completed", t + 30 * kMinute, R"({"cart_id": "c2"})");
  h.AdvanceTo(t + 5 * kHour);
  EXPECT_THAT(h.Lines("u1", "arrived timeout exit"),
              ElementsAre("2026-03-01T10:30:00Z cart#2 hour arrived: Order Completed",
                          "2026-03-01T10:30:00Z cart#2 ordered exit: ordered",
                          "2026-03-01T11:00:00Z cart#1 hour timeout: no Order Completed within 1h",
                          "2026-03-01T11:00:00Z cart#1 reminded exit: reminded"));
}

// The event-before-wait race: the order can reach us before the cart event
// that opens the wait.
TEST(WaitForStep, LookBackMatchesAQualifyingEventBeforeTheStepOpened) {
  Host h;
  h.Install({kCart});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  // Within look-back, same cart: matches at once.
  h.Track("fresh", "Order Completed", t, R"({"cart_id": "c1"})");
  h.Track("fresh", "Product Added", t + 3 * kMinute, R"({"cart_id": "c1"})");
  // Older than look-back.
  h.Track("stale", "Order Completed", t, R"({"cart_id": "c1"})");
  h.Track("stale", "Product Added", t + 6 * kMinute, R"({"cart_id": "c1"})");
  // Within look-back, but another cart: `where` does not hold.
  h.Track("other", "Order Completed", t, R"({"cart_id": "c9"})");
  h.Track("other", "Product Added", t + kMinute, R"({"cart_id": "c1"})");
  EXPECT_THAT(h.Lines("fresh", "arrived wait_for exit"),
              ElementsAre("2026-03-01T10:03:00Z cart#1 hour arrived: Order Completed at "
                          "2026-03-01T10:00:00.000Z, 3m before the step opened (look-back 5m)",
                          "2026-03-01T10:03:00Z cart#1 ordered exit: ordered"));
  EXPECT_THAT(h.Lines("stale", "arrived wait_for"),
              ElementsAre("2026-03-01T10:06:00Z cart#1 hour wait_for: for Order Completed until "
                          "2026-03-01T11:06:00.000Z"));
  EXPECT_THAT(h.Lines("other", "arrived wait_for"),
              ElementsAre("2026-03-01T10:01:00Z cart#1 hour wait_for: for Order Completed until "
                          "2026-03-01T11:01:00.000Z"));
}

TEST(WaitForStep, LookBackBoundaryIsInclusive) {
  Host h;
  h.Install({kCart});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("edge", "Order Completed", t, R"({"cart_id": "c1"})");
  h.Track("edge", "Product Added", t + 5 * kMinute, R"({"cart_id": "c1"})");
  h.Track("past", "Order Completed", t, R"({"cart_id": "c1"})");
  h.Track("past", "Product Added", t + 5 * kMinute + 1, R"({"cart_id": "c1"})");
  EXPECT_THAT(h.Lines("edge", "exit"),
              ElementsAre("2026-03-01T10:05:00Z cart#1 ordered exit: ordered"));
  EXPECT_THAT(h.Lines("past", "exit"), IsEmpty());
}

// The trigger's own event is not "an event that arrived before the step
// opened": a wait_for on the same event name must not take the event that
// started the instance.
TEST(WaitForStep, LookBackDoesNotTakeTheEntryEventItself) {
  Host h;
  h.Install({R"(
journey: second-item
version: 1
when:
  event: Product Added
entry:
  reentry: always
steps:
  - id: another
    wait_for:
      event: Product Added
      where: event.properties.cart_id == entry.properties.cart_id
      timeout: 1h
      lookback: 5m
      on_event: more
      on_timeout: single
  - id: single
    exit: single_item
  - id: more
    exit: more_items
)"});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Product Added", t, R"({"cart_id": "c1", "sku": "a"})");
  h.AdvanceTo(t + 2 * kHour);
  EXPECT_THAT(h.Lines("u1", "arrived exit"),
              ElementsAre("2026-03-01T11:00:00Z second-item#1 single exit: single_item"));
}

// ---- branch

constexpr const char* kTiers = R"(
journey: tiers
version: 1
when:
  event: Order Completed
entry:
  reentry: always
steps:
  - id: by_total
    branch:
      - if: entry.properties.total >= 500.0
        next: gold
      - if: entry.properties.total >= 100.0
        next: silver
      - else: bronze
  - id: gold
    exit: gold
  - id: silver
    exit: silver
  - id: bronze
    exit: bronze
)";

TEST(BranchStep, IfElseIfElse) {
  Host h;
  h.Install({kTiers});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("a", "Order Completed", t, R"({"total": 750.0})");
  h.Track("b", "Order Completed", t, R"({"total": 500.0})");
  h.Track("c", "Order Completed", t, R"({"total": 120.0})");
  h.Track("d", "Order Completed", t, R"({"total": 99.99})");
  EXPECT_THAT(h.Lines("a", "branch exit"),
              ElementsAre("2026-03-01T10:00:00Z tiers#1 by_total branch: if "
                          "entry.properties.total >= 500.0 -> gold",
                          "2026-03-01T10:00:00Z tiers#1 gold exit: gold"));
  EXPECT_THAT(h.Lines("b", "exit"), ElementsAre("2026-03-01T10:00:00Z tiers#1 gold exit: gold"));
  EXPECT_THAT(h.Lines("c", "branch exit"),
              ElementsAre("2026-03-01T10:00:00Z tiers#1 by_total branch: if "
                          "entry.properties.total >= 100.0 -> silver",
                          "2026-03-01T10:00:00Z tiers#1 silver exit: silver"));
  EXPECT_THAT(h.Lines("d", "branch exit"),
              ElementsAre("2026-03-01T10:00:00Z tiers#1 by_total branch: else -> bronze",
                          "2026-03-01T10:00:00Z tiers#1 bronze exit: bronze"));
}

// ---- split

constexpr const char* kOffer = R"(
journey: offer
version: 1
when:
  event: Signed Up
who:
  consent: { email: implied }
entry:
  reentry: always
goal:
  event: Order Completed
  within: 14d
steps:
  - id: pick
    split:
      - { arm: ten_percent, weight: 45, next: send_ten }
      - { arm: free_shipping, weight: 45, next: send_shipping }
      - { arm: holdout, weight: 10, holdout: true }
  - id: send_ten
    send: { channel: email, template: ten-percent }
    next: offered
  - id: send_shipping
    send: { channel: email, template: free-shipping }
  - id: offered
    exit: offered
)";

// The arm named by a split/holdout trace line: "arm NAME (45%)...".
std::string ArmIn(const v1::TraceEntry& e) {
  return e.reason().substr(4, e.reason().find(' ', 4) - 4);
}

// The arm of one instance, from its split/holdout trace line.
std::string ArmOf(const Host& h, const std::string& customer, uint64_t instance) {
  for (const auto& e : h.trace()) {
    if (e.customer() != customer || e.instance() != instance) continue;
    if (e.action() == "split" || e.action() == "holdout") return ArmIn(e);
  }
  return "";
}

TEST(SplitStep, SameCustomerSameArmAcrossReentries) {
  Host h;
  h.Install({kOffer});
  TimestampMs t = T("2026-03-01T10:00:00Z");
  std::set<std::string> arms_seen;
  for (int c = 0; c < 20; ++c) {
    const std::string id = "c" + std::to_string(c);
    for (int i = 0; i < 4; ++i) h.Track(id, "Signed Up", t + i * kDay);
    const std::string first = ArmOf(h, id, 1);
    ASSERT_FALSE(first.empty()) << id;
    arms_seen.insert(first);
    for (uint64_t inst = 2; inst <= 4; ++inst) EXPECT_EQ(ArmOf(h, id, inst), first) << id;
  }
  EXPECT_GE(arms_seen.size(), 2u);  // not everyone in one arm
}

TEST(SplitStep, DistributionFollowsTheWeights) {
  Host h;
  h.Install({kOffer});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  constexpr int kCustomers = 10000;
  for (int c = 0; c < kCustomers; ++c) h.Track("user-" + std::to_string(c), "Signed Up", t);
  std::map<std::string, int> arms;
  std::map<std::string, int> templates;
  for (const auto& e : h.trace()) {
    if (e.action() == "split" || e.action() == "holdout") arms[ArmIn(e)]++;
    if (e.action() == "send") templates[e.template_name()]++;
  }
  ASSERT_EQ(arms.size(), 3u);
  EXPECT_NEAR(arms["ten_percent"], 4500, 200);
  EXPECT_NEAR(arms["free_shipping"], 4500, 200);
  EXPECT_NEAR(arms["holdout"], 1000, 100);
  EXPECT_EQ(templates["ten-percent"], arms["ten_percent"]);
  EXPECT_EQ(templates["free-shipping"], arms["free_shipping"]);
  EXPECT_EQ(h.outbox().size(), static_cast<size_t>(kCustomers - arms["holdout"]));
}

TEST(SplitStep, ArmIsInTheTask) {
  Host h;
  h.Install({kOffer});
  std::string customer;
  for (int c = 0; customer.empty(); ++c) {
    const std::string id = "buyer-" + std::to_string(c);
    if (Runtime::SplitBucket(id, "offer", "pick") < 45) customer = id;
  }
  h.Track(customer, "Signed Up", T("2026-03-01T10:00:00Z"));
  ASSERT_THAT(h.Tasks(customer), SizeIs(1));
  const Json task = Json::parse(h.Tasks(customer)[0]);
  EXPECT_EQ(task["arm"], "ten_percent");
  EXPECT_EQ(task["template"], "ten-percent");
}

TEST(SplitStep, HoldoutSendsNothingButItsConversionsCount) {
  Host h;
  h.Install({kOffer});
  std::string held;
  for (int c = 0; held.empty(); ++c) {
    const std::string id = "held-" + std::to_string(c);
    if (Runtime::SplitBucket(id, "offer", "pick") >= 90) held = id;
  }
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track(held, "Signed Up", t);
  h.Track(held, "Order Completed", t + 3 * kDay);
  h.Track(held, "Order Completed", t + 4 * kDay);  // counted once
  EXPECT_THAT(
      h.Lines(held),
      ElementsAre("2026-03-01T10:00:00Z offer#1 - enter: Signed Up at "
                  "2026-03-01T10:00:00.000Z",
                  "2026-03-01T10:00:00Z offer#1 pick holdout: arm holdout (10%): sends "
                  "nothing, conversions still measured",
                  "2026-03-01T10:00:00Z offer#1 pick exit: holdout",
                  "2026-03-04T10:00:00Z offer#1 pick goal: Order Completed 3d after entry"));
  EXPECT_THAT(h.outbox(), IsEmpty());
  // Measured, the instance is forgotten.
  EXPECT_EQ(h.customer(held).instances_size(), 0);
}

// ---- update

TEST(UpdateStep, SetComputeAndLabelsAreVisibleToLaterConditions) {
  Host h;
  h.Install({R"(
journey: mark
version: 1
when:
  event: Order Completed
entry:
  reentry: always
steps:
  - id: mark
    update:
      set: { tier: gold, score: 3, flags: { beta: true } }
      compute: { points: "double(entry.properties.total) * 2.0", marked_at: now }
      add_labels: [vip, marked]
      remove_labels: [prospect]
  - id: check
    branch:
      - if: >-
          traits.tier == 'gold' && traits.points == 300.0 && traits.flags.beta &&
          'vip' in customer.labels && !('prospect' in customer.labels)
        next: updated
      - else: not_updated
  - id: updated
    exit: updated
  - id: not_updated
    exit: not_updated
)"});
  h.customer("u1").add_labels("prospect");
  h.customer("u1").add_labels("early");
  h.Track("u1", "Order Completed", T("2026-03-01T10:00:00Z"), R"({"total": 150.0})");
  EXPECT_THAT(h.Lines("u1", "update exit"),
              ElementsAre("2026-03-01T10:00:00Z mark#1 mark update: tier, score, flags, points, "
                          "marked_at, +vip, +marked, -prospect",
                          "2026-03-01T10:00:00Z mark#1 updated exit: updated"));
  const Json traits = Json::parse(h.customer("u1").traits_json());
  EXPECT_EQ(traits["tier"], "gold");
  EXPECT_EQ(traits["score"], 3);
  EXPECT_EQ(traits["points"], 300.0);
  EXPECT_EQ(traits["flags"], Json::parse(R"({"beta": true})"));
  ASSERT_TRUE(traits["marked_at"].is_string());
  EXPECT_EQ(traits["marked_at"].get<std::string>().substr(0, 19), "2026-03-01T10:00:00");
  EXPECT_THAT(h.customer("u1").labels(), ElementsAre("early", "vip", "marked"));
}

TEST(UpdateStep, DottedTraitPathSetsTheNestedTrait) {
  Host h;
  h.Install({R"(
journey: nest
version: 1
when:
  event: Go
entry:
  reentry: always
steps:
  - id: mark
    update:
      set: { loyalty.tier: gold }
  - id: check
    branch:
      - if: has(traits.loyalty) && traits.loyalty.tier == 'gold' && traits.loyalty.points == 7
        next: nested
      - else: flat
  - id: nested
    exit: nested
  - id: flat
    exit: flat
)"});
  h.Identify("u1", R"({"loyalty": {"points": 7}})", T("2026-03-01T09:00:00Z"));
  h.Track("u1", "Go", T("2026-03-01T10:00:00Z"));
  EXPECT_THAT(h.Lines("u1", "exit"),
              ElementsAre("2026-03-01T10:00:00Z nest#1 nested exit: nested"));
  EXPECT_EQ(Json::parse(h.customer("u1").traits_json()),
            Json::parse(R"({"loyalty": {"points": 7, "tier": "gold"}})"));
}

// ---- emit

constexpr const char* kAnnounce = R"(
journey: announce
version: 2
when:
  event: Lifecycle Stage Changed
entry:
  reentry: always
steps:
  - id: tell
    emit:
      event: Rescue Started
      properties: { source: journey, level: 2 }
)";

TEST(EmitStep, PublishesToCairnEventsWithADeterministicMessageId) {
  Host h;
  h.Install({kAnnounce});
  h.Track("u1", "Lifecycle Stage Changed", T("2026-03-01T10:00:00Z"));
  ASSERT_THAT(h.outbox(), SizeIs(1));
  const v1::OutboxRecord& rec = h.outbox()[0];
  EXPECT_EQ(rec.topic(), "cairn.events");
  EXPECT_EQ(rec.key(), "u1");
  const Json e = Json::parse(rec.value());
  EXPECT_EQ(e["type"], "track");
  EXPECT_EQ(e["userId"], "u1");
  EXPECT_EQ(e["event"], "Rescue Started");
  EXPECT_EQ(e["timestamp"], "2026-03-01T10:00:00.000Z");
  EXPECT_EQ(e["properties"], Json::parse(R"({"source": "journey", "level": 2})"));
  EXPECT_EQ(e["context"]["cairn"]["journey"], "announce");
  EXPECT_EQ(e["context"]["cairn"]["version"], 2);
  EXPECT_EQ(e["context"]["cairn"]["step"], "tell");
  EXPECT_EQ(e["messageId"], Runtime::TaskId("announce", 2, "u1", 1, "tell#emit", 0));
  EXPECT_THAT(h.Lines("u1", "emit"),
              ElementsAre("2026-03-01T10:00:00Z announce#1 tell emit: Rescue Started"));

  // The same input on a fresh host: the same messageId; a second entry: another.
  Host again;
  again.Install({kAnnounce});
  again.Track("u1", "Lifecycle Stage Changed", T("2026-03-01T10:00:00Z"));
  again.Track("u1", "Lifecycle Stage Changed", T("2026-03-02T10:00:00Z"));
  ASSERT_THAT(again.outbox(), SizeIs(2));
  EXPECT_EQ(Json::parse(again.outbox()[0].value())["messageId"], e["messageId"]);
  EXPECT_NE(Json::parse(again.outbox()[1].value())["messageId"], e["messageId"]);
}

TEST(EmitStep, TheEmittedEventParsesAndIsDeduplicatedWhenItComesBack) {
  Host h;
  h.Install({kAnnounce});
  h.Track("u1", "Lifecycle Stage Changed", T("2026-03-01T10:00:00Z"));
  ASSERT_THAT(h.outbox(), SizeIs(1));
  const std::string emitted = h.outbox()[0].value();
  h.Event(emitted, T("2026-03-01T10:00:01Z"));
  h.Event(emitted, T("2026-03-01T10:00:02Z"));  // re-published copy
  int64_t count = 0;
  for (const auto& s : h.customer("u1").events()) {
    if (s.name() == "Rescue Started") count = static_cast<int64_t>(s.count());
  }
  EXPECT_EQ(count, 1);
}

// ---- goto and exit

TEST(GotoStep, LoopsExactlyMaxTimesThenContinues) {
  Host h;
  h.Install({R"(
journey: nudges
version: 1
when:
  event: Go
who:
  consent: { push: implied }
entry:
  reentry: always
steps:
  - id: nudge
    send: { channel: push, template: nudge }
  - id: pause
    wait: 1d
  - id: again
    goto: { step: nudge, max: 2 }
  - id: done
    exit: gave_up
)"});
  h.Track("u1", "Go", T("2026-03-01T10:00:00Z"));
  h.AdvanceTo(T("2026-03-31T00:00:00Z"));
  EXPECT_THAT(h.Lines("u1", "send goto exit"),
              ElementsAre("2026-03-01T10:00:00Z nudges#1 nudge send",
                          "2026-03-02T10:00:00Z nudges#1 again goto: to nudge (1 of 2)",
                          "2026-03-02T10:00:00Z nudges#1 nudge send",
                          "2026-03-03T10:00:00Z nudges#1 again goto: to nudge (2 of 2)",
                          "2026-03-03T10:00:00Z nudges#1 nudge send",
                          "2026-03-04T10:00:00Z nudges#1 again goto: loop limit reached (2)",
                          "2026-03-04T10:00:00Z nudges#1 done exit: gave_up"));
  // Each pass is its own task.
  const auto ids = h.TaskIds();
  ASSERT_THAT(ids, SizeIs(3));
  EXPECT_EQ(ids[0], Runtime::TaskId("nudges", 1, "u1", 1, "nudge", 0));
  EXPECT_EQ(ids[1], Runtime::TaskId("nudges", 1, "u1", 1, "nudge", 1));
  EXPECT_EQ(ids[2], Runtime::TaskId("nudges", 1, "u1", 1, "nudge", 2));
}

TEST(ExitStep, EndsWithItsReasonAndSkipsTheRest) {
  Host h;
  h.Install({R"(
journey: early-out
version: 1
when:
  event: Go
who:
  consent: { email: implied }
steps:
  - id: check
    branch:
      - if: "'Order Completed' in customer.events"
        next: already_customer
      - else: mail
  - id: mail
    send: { channel: email, template: hello }
  - id: already_customer
    exit: already a customer
)"});
  h.Track("u1", "Order Completed", T("2026-03-01T09:00:00Z"));
  h.Track("u1", "Go", T("2026-03-01T10:00:00Z"));
  EXPECT_THAT(h.Lines("u1", "send exit"),
              ElementsAre("2026-03-01T10:00:00Z early-out#1 already_customer exit: already a "
                          "customer"));
  EXPECT_THAT(h.outbox(), IsEmpty());
}

}  // namespace
}  // namespace cairn::flow::testing
