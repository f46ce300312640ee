// The loader's checks, one by one, each at its exact line and column.
#include "journey/loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace cairn::journey {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A valid journey; tests append steps or swap lines.
constexpr const char* kBase = R"(journey: test
version: 1
when: { event: Signed Up }
who: { consent: { email: implied } }
steps:
  - id: hello
    send: { channel: email, template: welcome }
)";

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

std::vector<std::string> Problems(const std::string& text) {
  LoadResult r = LoadJourney(text, "j.yaml");
  EXPECT_EQ(r.journey.has_value(), r.diagnostics.empty());
  std::vector<std::string> out;
  for (const auto& d : r.diagnostics) out.push_back(d.ToString());
  return out;
}

// Exactly one problem, at `where` ("line:col"), whose message contains `what`.
void ExpectOne(const std::string& text, const std::string& where, const std::string& what) {
  auto problems = Problems(text);
  ASSERT_EQ(problems.size(), 1u) << ::testing::PrintToString(problems);
  EXPECT_THAT(problems[0], HasSubstr("j.yaml:" + where + ": ")) << problems[0];
  EXPECT_THAT(problems[0], HasSubstr(what)) << problems[0];
}

Journey LoadOk(const std::string& text) {
  LoadResult r = LoadJourney(text, "j.yaml");
  for (const auto& d : r.diagnostics) ADD_FAILURE() << d.ToString();
  if (!r.journey) return Journey{};
  return std::move(*r.journey);
}

TEST(LoaderTest, MinimalJourneyAndDefaults) {
  Journey j = LoadOk(kBase);
  EXPECT_EQ(j.name, "test");
  EXPECT_EQ(j.version, 1u);
  EXPECT_EQ(j.file, "j.yaml");
  EXPECT_EQ(j.source, kBase);
  EXPECT_EQ(j.timezone, "UTC");
  EXPECT_EQ(j.max_lifetime_ms, kDefaultMaxLifetimeMs);
  EXPECT_EQ(j.on_new_version, VersionPolicy::kPin);
  EXPECT_EQ(j.entry.reentry, Reentry::kNever);
  EXPECT_EQ(j.entry.max_concurrent, 1u);
  EXPECT_EQ(j.trigger.kind, TriggerKind::kEvent);
  EXPECT_EQ(j.trigger.event, "Signed Up");
  EXPECT_EQ(j.trigger.pos.line, 3);
  EXPECT_TRUE(j.trigger.where.empty());
  EXPECT_TRUE(j.audience.empty());
  ASSERT_EQ(j.steps.size(), 1u);
  EXPECT_EQ(j.steps[0].kind, StepKind::kSend);
  EXPECT_EQ(j.steps[0].channel, "email");
  EXPECT_EQ(j.steps[0].template_name, "welcome");
  EXPECT_EQ(j.steps[0].params_json, "{}");
  EXPECT_EQ(j.steps[0].next, kNoStep);
  EXPECT_EQ(j.steps[0].pos.line, 6);
  EXPECT_EQ(j.steps[0].pos.column, 5);
  EXPECT_EQ(j.StepIndex("hello"), 0);
  EXPECT_EQ(j.StepIndex("nope"), kNoStep);
}

TEST(LoaderTest, EveryStepKindResolves) {
  Journey j = LoadOk(std::string(kBase) + R"(  - id: pause
    wait: { for: 2d, at: "10:00" }
  - id: short
    wait: 90m
  - id: until_renewal
    wait: { until: renewal.date, offset: -1d, at: "09:30" }
  - id: ordered
    wait_for:
      event: Order Completed
      where: event.properties.cart_id == entry.properties.cart_id
      timeout: 1h
      lookback: 5m
      on_timeout: by_tier
  - id: by_tier
    branch:
      - if: traits.tier == 'gold'
        next: test_offer
      - else: mark
  - id: test_offer
    split:
      - { arm: A, weight: 45, next: mark }
      - { arm: B, weight: 45, next: tell }
      - { arm: holdout, weight: 10, holdout: true }
  - id: mark
    update:
      set: { vip_tier: gold, score: 10, ratio: 0.5, quoted: "10", flag: true, none: ~ }
      compute: { last_seen_offer: now }
      add_labels: [vip]
      remove_labels: [new]
  - id: tell
    emit: { event: Offer Made, properties: { source: journey, n: [1, "2"] } }
  - id: again
    goto: { step: pause, max: 2 }
  - id: done
    exit: converted
)");
  ASSERT_EQ(j.steps.size(), 11u);
  const Step& pause = j.steps[1];
  EXPECT_EQ(pause.kind, StepKind::kWait);
  EXPECT_EQ(pause.wait_ms, 2 * 86400000LL);
  EXPECT_EQ(pause.at_minute, 600);
  EXPECT_EQ(j.steps[0].next, 1);  // the step below
  EXPECT_EQ(j.steps[2].wait_ms, 90 * 60000LL);
  EXPECT_EQ(j.steps[2].at_minute, -1);
  EXPECT_EQ(j.steps[3].until_trait, "renewal.date");
  EXPECT_EQ(j.steps[3].until_offset_ms, -86400000LL);
  EXPECT_EQ(j.steps[3].at_minute, 9 * 60 + 30);

  const Step& ordered = j.steps[4];
  EXPECT_EQ(ordered.kind, StepKind::kWaitFor);
  EXPECT_EQ(ordered.awaited.event, "Order Completed");
  EXPECT_EQ(ordered.awaited.where.source, "event.properties.cart_id == entry.properties.cart_id");
  EXPECT_EQ(ordered.awaited.where.pos.line, 17);
  EXPECT_EQ(ordered.awaited.where.pos.column, 14);
  EXPECT_EQ(ordered.timeout_ms, 3600000);
  EXPECT_EQ(ordered.lookback_ms, 300000);
  EXPECT_EQ(ordered.on_event, 5);    // default: next
  EXPECT_EQ(ordered.on_timeout, 5);  // by_tier

  const Step& branch = j.steps[5];
  ASSERT_EQ(branch.cases.size(), 1u);
  EXPECT_EQ(branch.cases[0].next, 6);
  EXPECT_EQ(branch.next, 7);  // else

  const Step& split = j.steps[6];
  ASSERT_EQ(split.arms.size(), 3u);
  EXPECT_EQ(split.arms[0].name, "A");
  EXPECT_EQ(split.arms[0].weight, 45u);
  EXPECT_EQ(split.arms[0].next, 7);
  EXPECT_EQ(split.arms[1].next, 8);
  EXPECT_TRUE(split.arms[2].holdout);
  EXPECT_EQ(split.arms[2].next, kNoStep);
  EXPECT_EQ(split.next, kNoStep);

  const Step& mark = j.steps[7];
  ASSERT_EQ(mark.set_traits.size(), 7u);
  std::map<std::string, std::string> set;
  for (const auto& u : mark.set_traits) set[u.trait] = u.literal_json;
  EXPECT_EQ(set["vip_tier"], "\"gold\"");
  EXPECT_EQ(set["score"], "10");
  EXPECT_EQ(set["ratio"], "0.5");
  EXPECT_EQ(set["quoted"], "\"10\"");  // quoted stays text
  EXPECT_EQ(set["flag"], "true");
  EXPECT_EQ(set["none"], "null");
  EXPECT_EQ(set["last_seen_offer"], "");
  EXPECT_EQ(mark.set_traits.back().value.source, "now");
  EXPECT_THAT(mark.add_labels, ElementsAre("vip"));
  EXPECT_THAT(mark.remove_labels, ElementsAre("new"));

  EXPECT_EQ(j.steps[8].emit_event, "Offer Made");
  EXPECT_EQ(nlohmann::json::parse(j.steps[8].emit_properties_json),
            nlohmann::json::parse(R"({"source":"journey","n":[1,"2"]})"));
  EXPECT_EQ(j.steps[9].goto_step, 1);
  EXPECT_EQ(j.steps[9].max_loops, 2u);
  EXPECT_EQ(j.steps[9].next, 10);
  EXPECT_EQ(j.steps[10].exit_reason, "converted");
  EXPECT_EQ(j.steps[10].next, kNoStep);
}

TEST(LoaderTest, TriggerKinds) {
  Journey trait = LoadOk(Replace(kBase, "when: { event: Signed Up }",
                                 "when: { trait_changed: plan, where: \"change.new == 'pro'\" }"));
  EXPECT_EQ(trait.trigger.kind, TriggerKind::kTraitChanged);
  EXPECT_EQ(trait.trigger.trait, "plan");
  EXPECT_EQ(trait.trigger.where.pos.column, 38);

  Journey absence = LoadOk(
      Replace(kBase, "when: { event: Signed Up }", "when: { absence: Order Completed, for: 90d }"));
  EXPECT_EQ(absence.trigger.kind, TriggerKind::kAbsence);
  EXPECT_EQ(absence.trigger.event, "Order Completed");
  EXPECT_EQ(absence.trigger.for_ms, 90 * 86400000LL);

  Journey date = LoadOk(Replace(kBase, "when: { event: Signed Up }",
                                "when: { date: subscription_end, offset: -7d }"));
  EXPECT_EQ(date.trigger.kind, TriggerKind::kDate);
  EXPECT_EQ(date.trigger.trait, "subscription_end");
  EXPECT_EQ(date.trigger.offset_ms, -7 * 86400000LL);
  EXPECT_EQ(date.trigger.at_minute, kDefaultDateMinute);
  EXPECT_FALSE(date.trigger.yearly);

  Journey yearly = LoadOk(Replace(kBase, "when: { event: Signed Up }",
                                  "when: { date: birthday, yearly: true, at: \"10:15\" }"));
  EXPECT_TRUE(yearly.trigger.yearly);
  EXPECT_EQ(yearly.trigger.at_minute, 615);

  Journey once = LoadOk(Replace(kBase, "when: { event: Signed Up }",
                                "when: { schedule: { at: \"2026-12-01T09:00:00+01:00\" } }"));
  EXPECT_EQ(once.trigger.kind, TriggerKind::kSchedule);
  ASSERT_TRUE(once.trigger.at.has_value());
  EXPECT_EQ(*once.trigger.at, 1796112000000LL);  // 08:00 UTC

  Journey cron =
      LoadOk(Replace(kBase, "when: { event: Signed Up }",
                     "timezone: Europe/Berlin\nwhen: { schedule: { cron: \"0 9 * * MON-FRI\" } }"));
  EXPECT_EQ(cron.trigger.cron, "0 9 * * MON-FRI");
  EXPECT_EQ(cron.trigger.timezone, "Europe/Berlin");
  EXPECT_EQ(cron.trigger.rate, 1000);  // entries/s by default

  Journey paced = LoadOk(Replace(kBase, "when: { event: Signed Up }",
                                 "when: { schedule: { cron: \"0 9 * * *\", rate: 250 } }"));
  EXPECT_EQ(paced.trigger.rate, 250);
}

TEST(LoaderTest, MetadataAndEntry) {
  Journey j = LoadOk(Replace(kBase, "version: 1\n", R"(version: 3
description: Test
owner: crm@shop.example
priority: 50
timezone: Europe/Berlin
max_lifetime: 30d
on_new_version: migrate
migrate: { old_hello: hello }
paused: true
entry: { reentry: 30d, max_concurrent: 2 }
exit_when:
  - event: Order Completed
goal: { event: Order Completed, where: event.properties.total > 10.0, within: 7d }
)"));
  EXPECT_EQ(j.version, 3u);
  EXPECT_EQ(j.priority, 50);
  EXPECT_EQ(j.timezone, "Europe/Berlin");
  EXPECT_EQ(j.max_lifetime_ms, 30 * 86400000LL);
  EXPECT_EQ(j.on_new_version, VersionPolicy::kMigrate);
  EXPECT_EQ(j.migrate.at("old_hello"), "hello");
  EXPECT_TRUE(j.paused);
  EXPECT_EQ(j.entry.reentry, Reentry::kAfter);
  EXPECT_EQ(j.entry.reentry_after_ms, 30 * 86400000LL);
  EXPECT_EQ(j.entry.max_concurrent, 2u);
  ASSERT_EQ(j.exit_when.size(), 1u);
  EXPECT_EQ(j.exit_when[0].event, "Order Completed");
  ASSERT_TRUE(j.goal.has_value());
  EXPECT_EQ(j.goal->within_ms, 7 * 86400000LL);
  EXPECT_EQ(j.goal->match.where.pos.line, 14);
  EXPECT_EQ(j.goal->match.where.pos.column, 40);
  EXPECT_EQ(j.consent.at("email"), ConsentMode::kImplied);
}

// ---- every check at its exact position

TEST(LoaderCheckTest, YamlSyntaxError) {
  ExpectOne("journey: x\nversion: 1\nwhen: { event: A\nsteps: []\n", "4:6", "YAML syntax error");
  ExpectOne("journey: x\n  version: 1\n", "2:10", "YAML syntax error: illegal map value");
}

TEST(LoaderCheckTest, UnknownKeysSuggest) {
  ExpectOne(std::string(kBase) + "priorty: 5\n", "8:1",
            "unknown key 'priorty' in the journey; did you mean 'priority'?");
  ExpectOne(Replace(kBase, "template: welcome", "templat: welcome"), "7:29",
            "unknown key 'templat' in send; did you mean 'template'?");
  ExpectOne(Replace(kBase, "send:", "sned:"), "7:5", "did you mean 'send'?");
  ExpectOne(std::string(kBase) + "zzz: 1\n", "8:1", "unknown key 'zzz' in the journey");
}

TEST(LoaderCheckTest, DuplicateKey) {
  ExpectOne(std::string(kBase) + "version: 2\n", "8:1", "duplicate key 'version'");
}

TEST(LoaderCheckTest, WrongTypes) {
  ExpectOne(Replace(kBase, "version: 1", "version: \"1\""), "2:10",
            "'version' must be a whole number, not '1' (remove the quotes)");
  ExpectOne(Replace(kBase, "version: 1", "version: 1\npaused: yes"), "3:9",
            "'paused' must be true or false");
  ExpectOne(Replace(kBase, "version: 1", "version: 1\npriority: 500"), "3:11",
            "'priority' must be between 0 and 100");
  ExpectOne(Replace(kBase, "steps:\n", "steps:\n  - just a string\n"), "6:5",
            "a step must be a mapping");
  ExpectOne(Replace(kBase, "when: { event: Signed Up }", "when: Signed Up"), "3:7",
            "when must be a mapping");
  ExpectOne(Replace(kBase, "journey: test", "journey: Test_Journey"), "1:10",
            "'Test_Journey' is not a valid journey name");
}

TEST(LoaderCheckTest, MissingRequiredKeys) {
  ExpectOne("journey: x\nversion: 1\nwhen: { event: A }\n", "1:1", "the journey needs 'steps'");
  ExpectOne(Replace(kBase, "template: welcome", "params: {}"), "7:11", "send needs 'template'");
  ExpectOne(std::string(kBase) + "  - send: { channel: email, template: x }\n", "8:5",
            "every step needs 'id'");
  ExpectOne(std::string(kBase) + "  - id: w\n    wait_for: { event: A }\n", "9:15",
            "wait_for needs 'timeout'");
}

TEST(LoaderCheckTest, ExactlyOneTriggerKind) {
  ExpectOne(Replace(kBase, "when: { event: Signed Up }", "when: { event: A, absence: B, for: 1d }"),
            "3:19", "when has more than one trigger ('event' and 'absence')");
  ExpectOne(Replace(kBase, "when: { event: Signed Up }", "when: { where: \"true\" }"), "3:7",
            "when needs one trigger");
  ExpectOne(Replace(kBase, "when: { event: Signed Up }", "when: { event: A, for: 1d }"), "3:19",
            "'for' only goes with absence; this trigger is event");
  ExpectOne(Replace(kBase, "when: { event: Signed Up }", "when: { absence: A }"), "3:9",
            "an absence trigger needs 'for'");
}

TEST(LoaderCheckTest, ExactlyOneStepKind) {
  ExpectOne(std::string(kBase) + "  - id: two\n    wait: 1d\n    exit: done\n", "10:5",
            "step 'two' has two actions ('wait' and 'exit')");
  ExpectOne(std::string(kBase) + "  - id: none\n    next: hello\n", "8:5",
            "step 'none' needs one action");
}

TEST(LoaderCheckTest, BadDurations) {
  ExpectOne(Replace(kBase, "version: 1", "version: 1\nmax_lifetime: 3 days"), "3:15",
            "'3 days' is not a duration");
  ExpectOne(std::string(kBase) + "  - id: w\n    wait: soon\n", "9:11", "'soon' is not a duration");
  ExpectOne(std::string(kBase) + "  - id: w\n    wait: -1d\n", "9:11", "must be longer than zero");
  ExpectOne(std::string(kBase) + "  - id: w\n    wait_for: { event: A, timeout: 0s }\n", "9:36",
            "'timeout' must be longer than zero");
}

TEST(LoaderCheckTest, BadTimeOfDay) {
  ExpectOne(std::string(kBase) + "  - id: w\n    wait: { for: 1d, at: \"24:00\" }\n", "9:26",
            "'at': '24:00' is not a time of day (00:00 to 23:59)");
  ExpectOne(std::string(kBase) + "  - id: w\n    wait: { at: 9am }\n", "9:17",
            "'9am' is not a time of day");
  ExpectOne(Replace(kBase, "when: { event: Signed Up }", "when: { date: birthday, at: \"7:30\" }"),
            "3:29", "is not a time of day");
}

TEST(LoaderCheckTest, BadTimeZone) {
  ExpectOne(Replace(kBase, "version: 1", "version: 1\ntimezone: Europe/Berlinn"), "3:11",
            "'Europe/Berlinn' is not a known time zone");
  ExpectOne(Replace(kBase, "when: { event: Signed Up }",
                    "when: { schedule: { cron: \"0 9 * * *\", timezone: CET+1 } }"),
            "3:50", "'CET+1' is not a known time zone");
}

TEST(LoaderCheckTest, BadSchedule) {
  ExpectOne(
      Replace(kBase, "when: { event: Signed Up }", "when: { schedule: { cron: \"0 25 * * *\" } }"),
      "3:27", "'25' is out of range for the hour field");
  ExpectOne(Replace(kBase, "when: { event: Signed Up }", "when: { schedule: { at: tomorrow } }"),
            "3:25", "'tomorrow' is not a timestamp");
  ExpectOne(Replace(kBase, "when: { event: Signed Up }", "when: { schedule: {} }"), "3:19",
            "schedule needs either `at` (one time) or `cron` (repeating), not neither");
  ExpectOne(Replace(kBase, "when: { event: Signed Up }",
                    "when: { schedule: { cron: \"0 9 * * *\", rate: 0 } }"),
            "3:46", "'rate' must be between 1 and 1000000, not 0");
}

// CEL errors point into the expression: plain, quoted, block and folded.
TEST(LoaderCheckTest, CelErrorsPointIntoTheExpression) {
  const std::string plain =
      Replace(kBase, "when: { event: Signed Up }", "when:\n  event: A\n  where: evnt.name == 'x'");
  auto p = Problems(plain);
  ASSERT_FALSE(p.empty());
  EXPECT_THAT(p[0], HasSubstr("j.yaml:5:10: ")) << p[0];

  const std::string quoted = Replace(kBase, "when: { event: Signed Up }",
                                     "when:\n  event: A\n  where: \"event.name == 'x' && evnt\"");
  p = Problems(quoted);
  ASSERT_FALSE(p.empty());
  EXPECT_THAT(p[0], HasSubstr("j.yaml:5:32: ")) << p[0];

  const std::string single = Replace(kBase, "when: { event: Signed Up }",
                                     "when:\n  event: A\n  where: 'event.name == ''x'' && evnt'");
  p = Problems(single);
  ASSERT_FALSE(p.empty());
  EXPECT_THAT(p[0], HasSubstr("j.yaml:5:34: ")) << p[0];

  const std::string block = Replace(kBase, "when: { event: Signed Up }",
                                    "when:\n  event: A\n  where: |\n    event.name == 'x' &&\n"
                                    "      evnt.name == 'y'\n");
  p = Problems(block);
  ASSERT_FALSE(p.empty());
  EXPECT_THAT(p[0], HasSubstr("j.yaml:7:7: ")) << p[0];

  const std::string folded = Replace(kBase, "when: { event: Signed Up }",
                                     "when:\n  event: A\n  where: >-\n    event.name == 'x' &&\n"
                                     "    evnt.name == 'y'\n");
  p = Problems(folded);
  ASSERT_FALSE(p.empty());
  EXPECT_THAT(p[0], HasSubstr("j.yaml:7:5: ")) << p[0];
}

TEST(LoaderCheckTest, CelTypeErrors) {
  // Not a bool.
  auto p = Problems(
      Replace(kBase, "when: { event: Signed Up }", "when: { event: A, where: event.timestamp }"));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_THAT(p[0], HasSubstr("j.yaml:3:26: "));
  // A field the event does not have.
  p = Problems(
      Replace(kBase, "when: { event: Signed Up }", "when: { event: A, where: event.nmae == 'x' }"));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_THAT(p[0], HasSubstr("j.yaml:3:"));
}

TEST(LoaderCheckTest, VariablesOutOfPlace) {
  ExpectOne(
      Replace(kBase, "when: { event: Signed Up }", "when: { event: A, where: entry.name == 'A' }"),
      "3:26", "`entry` is not set yet in the trigger");
  ExpectOne(Replace(kBase, "when: { event: Signed Up }",
                    "when: { event: A, where: \"change.new == 'x'\" }"),
            "3:27", "`change` is only set in a trait_changed trigger");
  ExpectOne(Replace(kBase, "who: {", "who: { where: instance.loops == 0,"), "4:15",
            "`instance` is not set before the customer enters");
  ExpectOne(std::string(kBase) +
                "  - id: b\n    branch:\n      - if: event.name == 'A'\n        next: end\n"
                "  - id: end\n    exit: done\n",
            "10:13", "`event` is not set in 'if'");
}

TEST(LoaderCheckTest, DuplicateStepIds) {
  ExpectOne(std::string(kBase) + "  - id: hello\n    exit: done\n", "8:9",
            "duplicate step id 'hello' (first at line 6)");
}

TEST(LoaderCheckTest, UnknownStepReferences) {
  const std::string head = std::string(kBase);
  ExpectOne(Replace(kBase, "template: welcome }", "template: welcome }\n    next: helo"), "8:11",
            "no step 'helo' in this journey; did you mean 'hello'?");
  ExpectOne(head + "  - id: w\n    wait_for: { event: A, timeout: 1d, on_event: nowhere }\n",
            "9:50", "no step 'nowhere'");
  ExpectOne(head + "  - id: w\n    wait_for: { event: A, timeout: 1d, on_timeout: gone }\n", "9:52",
            "no step 'gone'");
  ExpectOne(head + "  - id: b\n    branch:\n      - if: traits.x == 1\n        next: nope\n",
            "11:15", "no step 'nope'");
  ExpectOne(head +
                "  - id: b\n    branch:\n      - if: traits.x == 1\n        next: end\n"
                "      - else: nope\n  - id: end\n    exit: done\n",
            "12:15", "no step 'nope'");
  ExpectOne(head +
                "  - id: s\n    split:\n      - { arm: A, weight: 50, next: nope }\n"
                "      - { arm: B, weight: 50, holdout: true }\n",
            "10:37", "no step 'nope'");
  ExpectOne(head + "  - id: g\n    goto: { step: nope, max: 1 }\n", "9:19", "no step 'nope'");
  ExpectOne(
      Replace(kBase, "version: 1", "version: 2\non_new_version: migrate\nmigrate: { a: nope }"),
      "4:15", "no step 'nope'");
}

TEST(LoaderCheckTest, UnreachableSteps) {
  ExpectOne(std::string(kBase) + "  - id: bye\n    exit: done\n  - id: lost\n    wait: 1d\n",
            "10:9", "step 'lost' is never reached");
  // Reached only through a branch, a split arm or on_timeout: fine.
  LoadOk(std::string(kBase) + R"(  - id: w
    wait_for: { event: A, timeout: 1d, on_event: out, on_timeout: b }
  - id: out
    exit: done
  - id: b
    branch:
      - if: traits.x == 1
        next: s
      - else: out
  - id: s
    split:
      - { arm: A, weight: 50, next: out }
      - { arm: B, weight: 50, next: end }
  - id: end
    exit: end
)");
}

TEST(LoaderCheckTest, UnboundedLoops) {
  ExpectOne(std::string(kBase) + "  - id: w\n    wait: 1d\n    next: hello\n", "10:11",
            "steps loop with no bound (hello -> w -> hello)");
  ExpectOne(std::string(kBase) + "  - id: w\n    wait: 1d\n  - id: back\n    goto: { step: w }\n",
            "11:19", "this goto loops forever (w -> back -> w); give it a `max:`");
  ExpectOne(
      std::string(kBase) +
          "  - id: w\n    wait_for: { event: A, timeout: 1d, on_timeout: hello, on_event: out }\n"
          "  - id: out\n    exit: x\n",
      "9:52", "steps loop with no bound");
  // A goto with max bounds it.
  LoadOk(std::string(kBase) +
         "  - id: w\n    wait: 1d\n  - id: back\n    goto: { step: hello, max: 3 }\n");
}

TEST(LoaderCheckTest, LongerThanMaxLifetime) {
  const std::string head = Replace(kBase, "version: 1", "version: 1\nmax_lifetime: 7d");
  ExpectOne(head + "  - id: w\n    wait: 8d\n", "10:11",
            "this wait is longer than the journey's max_lifetime (7d)");
  ExpectOne(head + "  - id: w\n    wait_for: { event: A, timeout: 10d }\n", "10:36",
            "this timeout is longer");
  ExpectOne(Replace(head, "version: 1", "version: 1\ngoal: { event: A, within: 30d }"), "3:27",
            "the goal window is longer");
  // The default lifetime is 365 days.
  ExpectOne(std::string(kBase) + "  - id: w\n    wait: 400d\n", "9:11", "(365d)");
}

TEST(LoaderCheckTest, SendNeedsConsentRule) {
  ExpectOne(std::string(kBase) + "  - id: text\n    send: { channel: sms, template: x }\n", "9:22",
            "channel 'sms' has no consent rule; add `sms: implied`");
  ExpectOne(Replace(kBase, "email: implied", "email: sometimes"), "4:26",
            "consent for 'email' must be implied or explicit");
}

TEST(LoaderCheckTest, SplitWeightsAndArms) {
  const std::string head = std::string(kBase);
  ExpectOne(head +
                "  - id: s\n    split:\n      - { arm: A, weight: 50, next: end }\n"
                "      - { arm: B, weight: 40, next: end }\n  - id: end\n    exit: done\n",
            "10:7", "split weights add up to 90, not 100");
  ExpectOne(head +
                "  - id: s\n    split:\n      - { arm: A, weight: 50, next: end }\n"
                "      - { arm: B, weight: 50 }\n  - id: end\n    exit: done\n",
            "11:9", "arm 'B' needs `next`");
  ExpectOne(head +
                "  - id: s\n    split:\n      - { arm: A, weight: 50, next: end }\n"
                "      - { arm: H, weight: 50, holdout: true, next: end }\n"
                "  - id: end\n    exit: done\n",
            "11:46", "a holdout arm sends nothing and exits; it takes no `next`");
  ExpectOne(head +
                "  - id: s\n    split:\n      - { arm: A, weight: 50, next: end }\n"
                "      - { arm: A, weight: 50, next: end }\n  - id: end\n    exit: done\n",
            "11:16", "duplicate arm 'A'");
}

TEST(LoaderCheckTest, MigrateNeedsPolicy) {
  ExpectOne(Replace(kBase, "version: 1", "version: 2\nmigrate: { a: hello }"), "3:1",
            "migrate only applies with `on_new_version: migrate`");
}

TEST(LoaderCheckTest, MapsWhereMapsBelong) {
  ExpectOne(Replace(kBase, "template: welcome", "template: welcome, params: [1, 2]"), "7:56",
            "'params' must be a mapping of names to values, not a list");
  ExpectOne(std::string(kBase) + "  - id: e\n    emit: { event: X, properties: hi }\n", "9:35",
            "'properties' must be a mapping of names to values, not 'hi'");
  ExpectOne(std::string(kBase) + "  - id: u\n    update: { set: [a] }\n", "9:20",
            "set must map trait names to values");
  ExpectOne(std::string(kBase) + "  - id: u\n    update: {}\n", "9:13", "update changes nothing");
}

TEST(LoaderCheckTest, NextWhereItDoesNotBelong) {
  ExpectOne(std::string(kBase) + "  - id: out\n    exit: done\n    next: hello\n", "10:5",
            "a exit step takes no `next`");
  ExpectOne(
      std::string(kBase) +
          "  - id: b\n    next: hello\n    branch:\n      - if: traits.x == 1\n        next: end\n"
          "  - id: end\n    exit: done\n",
      "9:5", "use `- else: <step>` as its last case");
}

TEST(LoaderCheckTest, EntryRules) {
  ExpectOne(Replace(kBase, "version: 1", "version: 1\nentry: { reentry: sometimes }"), "3:19",
            "reentry must be never, always or a duration");
  ExpectOne(Replace(kBase, "version: 1", "version: 1\nentry: { max_concurrent: 2 }"), "3:26",
            "max_concurrent above 1 needs `reentry: always`");
}

TEST(LoaderCheckTest, LiteralsThatJsonCannotHold) {
  ExpectOne(Replace(kBase, "template: welcome", "template: welcome, params: { x: .inf }"), "7:61",
            "'.inf' cannot be stored as JSON");
  ExpectOne(
      Replace(kBase, "template: welcome", "template: welcome, params: { x: 99999999999999999999 }"),
      "7:61", "too large for a whole number");
}

TEST(LoaderCheckTest, AllProblemsAreCollectedInOrder) {
  auto p = Problems(R"(journey: Bad
version: x
when: { event: A, for: 1d }
steps:
  - id: a
    wait: forever
  - id: a
    send: { channel: fax, template: t }
)");
  ASSERT_EQ(p.size(), 6u) << ::testing::PrintToString(p);
  EXPECT_THAT(p[0], HasSubstr("j.yaml:1:10: "));
  EXPECT_THAT(p[1], HasSubstr("j.yaml:2:10: "));
  EXPECT_THAT(p[2], HasSubstr("j.yaml:3:19: "));
  EXPECT_THAT(p[3], HasSubstr("j.yaml:6:11: "));
  EXPECT_THAT(p[4], HasSubstr("j.yaml:7:9: duplicate step id"));
  EXPECT_THAT(p[5], HasSubstr("j.yaml:8:22: channel 'fax' has no consent rule"));
}

TEST(LoaderTest, EmptyAndNonMappingDocuments) {
  ExpectOne("", "1:1", "empty file");
  ExpectOne("# only a comment\n", "1:1", "empty file");
  ExpectOne("- a\n- b\n", "1:1", "the journey must be a mapping");
}

TEST(LoaderTest, DiagnosticToString) {
  EXPECT_EQ((Diagnostic{"a.yaml", Pos{3, 7}, "bad"}).ToString(), "a.yaml:3:7: bad");
  EXPECT_EQ((Diagnostic{"a.yaml", Pos{}, "cannot read the file"}).ToString(),
            "a.yaml: cannot read the file");
}

TEST(LoaderTest, ParseTimeOfDay) {
  EXPECT_EQ(*ParseTimeOfDay("00:00"), 0);
  EXPECT_EQ(*ParseTimeOfDay("10:00"), 600);
  EXPECT_EQ(*ParseTimeOfDay("23:59"), 1439);
  for (const char* bad : {"24:00", "9:00", "09:60", "0900", "09:00:00", "", "ab:cd", " 09:00"}) {
    EXPECT_FALSE(ParseTimeOfDay(bad).ok()) << bad;
  }
}

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("journey-test-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
             "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& text) const {
    const auto p = path_ / name;
    std::ofstream(p) << text;
    return p.string();
  }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

TEST(LoaderTest, DirectoryLoadsSortedAndChecksDuplicateNames) {
  TempDir dir;
  dir.Write("b.yaml", Replace(kBase, "journey: test", "journey: bee"));
  dir.Write("a.yml", Replace(kBase, "journey: test", "journey: ay"));
  const std::string c = dir.Write("c.yaml", Replace(kBase, "journey: test", "journey: bee"));
  const std::string d = dir.Write("d.yaml", "journey: broken\n");
  dir.Write("notes.txt", "not a journey");
  LoadedSet set = LoadJourneyDir(dir.path());
  EXPECT_EQ(set.files, 4);
  ASSERT_EQ(set.journeys.size(), 2u);
  EXPECT_EQ(set.journeys[0].name, "ay");
  EXPECT_EQ(set.journeys[1].name, "bee");
  EXPECT_THAT(set.journeys[1].file, HasSubstr("b.yaml"));
  ASSERT_EQ(set.diagnostics.size(), 4u);  // c: duplicate; d: version, when, steps missing
  EXPECT_EQ(set.diagnostics[0].file, c);
  EXPECT_EQ(set.diagnostics[0].pos.line, 1);
  EXPECT_EQ(set.diagnostics[0].pos.column, 10);
  EXPECT_THAT(set.diagnostics[0].message, HasSubstr("journey 'bee' is also defined in"));
  EXPECT_EQ(set.diagnostics[1].file, d);
  EXPECT_THAT(set.diagnostics[1].message, HasSubstr("needs 'version'"));

  // A file named twice (directly and through its directory) counts once.
  LoadedSet twice = LoadJourneyPaths({dir.path() + "/a.yml", dir.path()});
  EXPECT_EQ(twice.files, 4);
  EXPECT_EQ(twice.journeys.size(), 2u);

  LoadedSet missing = LoadJourneyPaths({dir.path() + "/nope.yaml"});
  ASSERT_EQ(missing.diagnostics.size(), 1u);
  EXPECT_THAT(missing.diagnostics[0].ToString(), HasSubstr("nope.yaml: no such file or directory"));
  EXPECT_THAT(LoadJourneyDir(dir.path() + "/b.yaml").diagnostics[0].message,
              HasSubstr("not a directory"));
}

}  // namespace
}  // namespace cairn::journey
