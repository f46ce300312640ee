// Versions: pin, migrate, exit on hot reload; and replay determinism.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "flow_host.h"

namespace cairn::flow::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Json = nlohmann::json;

// The onboarding journey: hello, a 2-day pause, tips.
std::string Onboard(int version, const std::string& policy, const std::string& pause_id = "pause",
                    const std::string& migrate = "") {
  const std::string v = std::to_string(version);
  std::string y = "journey: onboard\nversion: " + v + "\non_new_version: " + policy + "\n";
  if (!migrate.empty()) y += "migrate: " + migrate + "\n";
  y += R"(when:
  event: Signed Up
who:
  consent: { email: implied }
entry:
  reentry: always
steps:
  - id: hello
    send: { channel: email, template: hello-v)" +
       v + R"( }
  - id: )" +
       pause_id +
       R"(
    wait: 2d
  - id: tips
    send: { channel: email, template: tips-v)" +
       v + R"( }
)";
  return y;
}

// "<template> v<version> @<time>" for each task of `customer`.
std::vector<std::string> Sent(const Host& h, const std::string& customer) {
  std::vector<std::string> out;
  for (const auto& task : h.Tasks(customer)) {
    const Json j = Json::parse(task);
    out.push_back(j["template"].get<std::string>() + " v" +
                  std::to_string(j["version"].get<int>()) + " @" +
                  j["created_at"].get<std::string>().substr(0, 16));
  }
  return out;
}

TEST(Versions, PinKeepsOldInstancesOnV1WhileNewEntriesGetV2) {
  Host h;
  h.Install({Onboard(1, "pin")});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("early", "Signed Up", t);
  h.AdvanceTo(t + kDay);
  h.Install({Onboard(2, "pin")}, {Onboard(1, "pin")});
  h.Track("late", "Signed Up", t + kDay);
  h.Track("early", "Page Viewed", t + kDay + kHour);  // a touch changes nothing
  h.AdvanceTo(t + 10 * kDay);
  EXPECT_THAT(Sent(h, "early"),
              ElementsAre("hello-v1 v1 @2026-03-01T10:00", "tips-v1 v1 @2026-03-03T10:00"));
  EXPECT_THAT(Sent(h, "late"),
              ElementsAre("hello-v2 v2 @2026-03-02T10:00", "tips-v2 v2 @2026-03-04T10:00"));
}

TEST(Versions, PinWithoutTheOldVersionEndsTheInstance) {
  Host h;
  h.Install({Onboard(1, "pin")});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Signed Up", t);
  h.Install({Onboard(2, "pin")});  // v1 not kept
  h.AdvanceTo(t + 10 * kDay);
  EXPECT_THAT(h.Lines("u1", "exit"),
              ElementsAre("2026-03-03T10:00:00Z onboard#1 pause exit: version 1 is no longer "
                          "available"));
  EXPECT_THAT(Sent(h, "u1"), ElementsAre("hello-v1 v1 @2026-03-01T10:00"));
}

// docs/journeys.md: with migrate, instances move at their next touch (their
// own timer, or any event of the customer); a waiting customer keeps the
// moment it was waiting for, so the touch never moves it.
TEST(Versions, MigrateByStepMapKeepsTheDueMomentOfAWait) {
  Host h;
  h.Install({Onboard(1, "pin")});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Signed Up", t);
  h.AdvanceTo(t + kDay);
  h.Install({Onboard(2, "migrate", "settle", "{ pause: settle }")}, {Onboard(1, "pin")});
  h.AdvanceTo(t + 10 * kDay);
  EXPECT_THAT(h.Lines("u1", "migrate wait waited exit"),
              ElementsAre("2026-03-01T10:00:00Z onboard#1 pause wait: until "
                          "2026-03-03T10:00:00.000Z",
                          "2026-03-03T10:00:00Z onboard#1 settle migrate: from version 1 step "
                          "'pause' to version 2 step 'settle', keeping its due moment "
                          "2026-03-03T10:00:00.000Z",
                          "2026-03-03T10:00:00Z onboard#1 settle waited: its moment came before "
                          "the migration",
                          "2026-03-03T10:00:00Z onboard#1 tips exit: completed"));
  EXPECT_THAT(Sent(h, "u1"),
              ElementsAre("hello-v1 v1 @2026-03-01T10:00", "tips-v2 v2 @2026-03-03T10:00"));
}

TEST(Versions, MigrateOnAnEventOfTheCustomer) {
  Host h;
  h.Install({Onboard(1, "pin")});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Signed Up", t);
  h.Install({Onboard(2, "migrate", "settle", "{ pause: settle }")}, {Onboard(1, "pin")});
  h.Track("u1", "Page Viewed", t + kDay);
  h.Track("u1", "Page Viewed", t + kDay + kHour);  // already on v2: no second migration
  h.AdvanceTo(t + 10 * kDay);
  EXPECT_THAT(h.Lines("u1", "migrate"),
              ElementsAre("2026-03-02T10:00:00Z onboard#1 settle migrate: from version 1 step "
                          "'pause' to version 2 step 'settle', keeping its due moment "
                          "2026-03-03T10:00:00.000Z"));
  EXPECT_THAT(Sent(h, "u1"),
              ElementsAre("hello-v1 v1 @2026-03-01T10:00", "tips-v2 v2 @2026-03-03T10:00"));
  EXPECT_EQ(h.runtime().counters().stale_timers.load(), 1u);  // v1's timer
}

TEST(Versions, MigrateKeepsTheSameStepIdWithoutAMapEntry) {
  Host h;
  h.Install({Onboard(1, "pin")});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Signed Up", t);
  h.Install({Onboard(2, "migrate")}, {Onboard(1, "pin")});
  h.Track("u1", "Page Viewed", t + kHour);
  h.AdvanceTo(t + 10 * kDay);
  EXPECT_THAT(h.Lines("u1", "migrate"),
              ElementsAre("2026-03-01T11:00:00Z onboard#1 pause migrate: from version 1 step "
                          "'pause' to version 2 step 'pause', keeping its due moment "
                          "2026-03-03T10:00:00.000Z"));
  EXPECT_THAT(Sent(h, "u1"),
              ElementsAre("hello-v1 v1 @2026-03-01T10:00", "tips-v2 v2 @2026-03-03T10:00"));
}

TEST(Versions, MigrateIntoAStepOfAnotherKindStartsItThen) {
  Host h;
  h.Install({Onboard(1, "pin")});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Signed Up", t);
  // v2 sends the tips at once instead of waiting.
  h.Install({Onboard(2, "migrate", "settle", "{ pause: tips }")}, {Onboard(1, "pin")});
  h.Track("u1", "Page Viewed", t + kHour);
  EXPECT_THAT(h.Lines("u1", "migrate send exit"),
              ElementsAre("2026-03-01T10:00:00Z onboard#1 hello send",
                          "2026-03-01T11:00:00Z onboard#1 tips migrate: from version 1 step "
                          "'pause' to version 2 step 'tips'",
                          "2026-03-01T11:00:00Z onboard#1 tips send",
                          "2026-03-01T11:00:00Z onboard#1 tips exit: completed"));
  h.AdvanceTo(t + 10 * kDay);
  EXPECT_EQ(Sent(h, "u1").size(), 2u);  // the v1 timer is stale now
}

TEST(Versions, MigrateUnmappedStepExitsWithAReason) {
  Host h;
  h.Install({Onboard(1, "pin")});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Signed Up", t);
  h.Install({Onboard(2, "migrate", "rest")}, {Onboard(1, "pin")});
  h.AdvanceTo(t + 10 * kDay);
  EXPECT_THAT(h.Lines("u1", "exit"),
              ElementsAre("2026-03-03T10:00:00Z onboard#1 pause exit: step 'pause' has no place "
                          "in version 2"));
  EXPECT_EQ(h.trace().back().version(), 2u);
  EXPECT_THAT(Sent(h, "u1"), ElementsAre("hello-v1 v1 @2026-03-01T10:00"));
}

TEST(Versions, ExitEndsV1InstancesAtTheirNextTouch) {
  Host h;
  h.Install({Onboard(1, "pin")});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("by-timer", "Signed Up", t);
  h.Track("by-event", "Signed Up", t);
  h.Install({Onboard(2, "exit")}, {Onboard(1, "pin")});
  h.Track("by-event", "Page Viewed", t + kHour);
  h.AdvanceTo(t + 10 * kDay);
  EXPECT_THAT(h.Lines("by-event", "exit"),
              ElementsAre("2026-03-01T11:00:00Z onboard#1 pause exit: version 1 replaced by 2 "
                          "(on_new_version: exit)"));
  EXPECT_THAT(h.Lines("by-timer", "exit"),
              ElementsAre("2026-03-03T10:00:00Z onboard#1 pause exit: version 1 replaced by 2 "
                          "(on_new_version: exit)"));
  EXPECT_THAT(Sent(h, "by-timer"), ElementsAre("hello-v1 v1 @2026-03-01T10:00"));
}

TEST(Versions, RemovedJourneyTakesNoEntriesButInFlightFinish) {
  Host h;
  h.Install({Onboard(1, "pin")});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("in-flight", "Signed Up", t);
  h.Install(std::vector<journey::Journey>{}, {Load(Onboard(1, "pin"))});
  h.Track("newcomer", "Signed Up", t + kHour);
  h.AdvanceTo(t + 10 * kDay);
  EXPECT_THAT(Sent(h, "in-flight"),
              ElementsAre("hello-v1 v1 @2026-03-01T10:00", "tips-v1 v1 @2026-03-03T10:00"));
  EXPECT_THAT(h.Lines("newcomer"), IsEmpty());
}

TEST(Versions, RemovedWithoutItsVersionEndsInFlightInstancesNamingTheJourney) {
  Host h;
  h.Install({Onboard(1, "pin")});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("u1", "Signed Up", t);
  h.Install(std::vector<journey::Journey>{});
  h.AdvanceTo(t + 10 * kDay);
  EXPECT_THAT(h.Lines("u1", "exit"),
              ElementsAre("2026-03-03T10:00:00Z onboard#1 pause exit: journey no longer loaded"));
  EXPECT_EQ(h.trace().back().version(), 1u);
}

TEST(Versions, AnEditWithoutAVersionBumpFindsTheStepByIdOrEndsTheInstance) {
  Host h;
  h.Install({Onboard(1, "pin")});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  h.Track("kept", "Signed Up", t);
  h.Track("gone", "Signed Up", t + kHour);
  // Same version, a step added in front: `pause` moved from index 1 to 2.
  std::string moved = Onboard(1, "pin");
  moved.replace(moved.find("  - id: hello"), 0,
                "  - id: intro\n    send: { channel: email, template: intro }\n");
  h.Install({moved});
  h.AdvanceTo(t + 2 * kDay);
  // Renamed: `pause` no longer exists.
  h.Install({Onboard(1, "pin", "rest")});
  h.AdvanceTo(t + 10 * kDay);
  EXPECT_THAT(Sent(h, "kept"),
              ElementsAre("hello-v1 v1 @2026-03-01T10:00", "tips-v1 v1 @2026-03-03T10:00"));
  EXPECT_THAT(h.Lines("gone", "exit"),
              ElementsAre("2026-03-03T11:00:00Z onboard#1 pause exit: step 'pause' no longer "
                          "exists"));
}

// ---- determinism

// A day in the life of three customers across a hot reload.
void Script(Host& h) {
  h.Install({Onboard(1, "pin"), R"(
journey: cart
version: 1
when:
  event: Product Added
who:
  consent: { email: implied, push: implied }
entry:
  reentry: always
steps:
  - id: hour
    wait_for:
      event: Order Completed
      timeout: 1h
      on_event: bought
      on_timeout: remind
  - id: remind
    send: { channel: email, template: cart }
  - id: split
    split:
      - { arm: a, weight: 50, next: push_a }
      - { arm: b, weight: 50, next: push_b }
  - id: push_a
    send: { channel: push, template: a }
  - id: again
    goto: { step: remind, max: 1 }
  - id: push_b
    send: { channel: push, template: b }
  - id: bought
    exit: bought
)"});
  const TimestampMs t = T("2026-03-01T10:00:00Z");
  for (const char* c : {"ann", "bob", "cid"}) {
    h.Track(c, "Signed Up", t);
    h.Track(c, "Product Added", t + kMinute);
  }
  h.Track("bob", "Order Completed", t + 30 * kMinute);
  h.AdvanceTo(t + kDay);
  h.Install({Onboard(2, "pin"), R"(
journey: cart
version: 1
when:
  event: Product Added
steps:
  - id: bought
    exit: bought
)"},
            {Onboard(1, "pin")});
  h.Track("dan", "Signed Up", t + kDay + kHour);
  h.Track("ann", "Product Added", t + kDay + 2 * kHour);
  h.AdvanceTo(t + 30 * kDay);
}

TEST(Determinism, AReplayProducesTheSameTaskIds) {
  Host first;
  Script(first);
  Host second;
  Script(second);
  const auto ids = first.TaskIds();
  ASSERT_GE(ids.size(), 10u);
  EXPECT_EQ(ids, second.TaskIds());
  EXPECT_EQ(first.Lines(), second.Lines());
  // Every send is its own task: no two ids alike.
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());
  // Outbox records byte for byte.
  ASSERT_EQ(first.outbox().size(), second.outbox().size());
  for (size_t i = 0; i < first.outbox().size(); ++i) {
    EXPECT_EQ(first.outbox()[i].value(), second.outbox()[i].value()) << i;
  }
}

TEST(Determinism, TaskIdDependsOnEveryInput) {
  const std::string base = Runtime::TaskId("j", 1, "c", 1, "s", 0);
  EXPECT_EQ(base.size(), 32u);
  EXPECT_EQ(base.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(base, Runtime::TaskId("j", 1, "c", 1, "s", 0));
  std::set<std::string> ids = {
      base, Runtime::TaskId("k", 1, "c", 1, "s", 0), Runtime::TaskId("j", 2, "c", 1, "s", 0),
      Runtime::TaskId("j", 1, "d", 1, "s", 0), Runtime::TaskId("j", 1, "c", 2, "s", 0),
      Runtime::TaskId("j", 1, "c", 1, "t", 0), Runtime::TaskId("j", 1, "c", 1, "s", 1),
      // No ambiguity where fields meet.
      Runtime::TaskId("j1", 1, "c", 1, "s", 0), Runtime::TaskId("j", 11, "c", 1, "s", 0)};
  EXPECT_EQ(ids.size(), 9u);
}

}  // namespace
}  // namespace cairn::flow::testing
