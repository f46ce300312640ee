// The campaign audience filter: the traits-only fast path reads the same
// traits protobuf parses, conditions over `customer` and over `traits`, the
// consent rules, and records that do not parse.
#include "campaign/audience.h"

#include <gtest/gtest.h>

#include "journey/loader.h"
#include "journey/scope.h"

namespace cairn::campaign {
namespace {

journey::Journey Load(const std::string& who) {
  const std::string yaml =
      "journey: promo\nversion: 1\nwhen:\n  schedule:\n    at: 2026-12-01T08:00:00Z\n"
      "    rate: 50\n" +
      who +
      "entry:\n  reentry: always\nsteps:\n  - id: mail\n    send: { channel: email, template: "
      "promo }\n";
  auto r = journey::LoadJourney(yaml, "promo.yaml");
  EXPECT_TRUE(r.diagnostics.empty()) << r.diagnostics.front().ToString();
  return r.journey.value_or(journey::Journey{});
}

std::string Record(const std::string& traits, uint64_t orders = 0) {
  v1::CustomerState c;
  c.set_id("u1");
  c.set_traits_json(traits);
  c.set_first_seen_ms(1000);
  c.set_events_total(orders + 3);
  for (int i = 0; i < 20; ++i) c.add_recent_message_ids(0xfeedfacecafebeefULL + i);
  auto* e = c.add_events();
  e->set_name("Order Completed");
  e->set_count(orders);
  (*e->mutable_sums())["total"] = 99.5;
  c.add_labels("newsletter");
  auto* je = c.add_journey_entries();
  je->set_journey("promo");
  je->set_last_run_ms(5);
  return c.SerializeAsString();
}

constexpr TimestampMs kNow = 1790000000000;

TEST(AudienceTest, ReadsTraitsWithoutParsingTheRecord) {
  const std::string rec = Record(R"({"plan":"pro","country":"DE"})", 2);
  std::string_view traits;
  ASSERT_TRUE(ReadTraitsJson(rec, traits));
  EXPECT_EQ(traits, R"({"plan":"pro","country":"DE"})");
  ASSERT_TRUE(ReadTraitsJson(Record(""), traits));
  EXPECT_EQ(traits, "");
  EXPECT_FALSE(ReadTraitsJson(rec.substr(0, rec.size() - 3), traits));  // truncated
  EXPECT_FALSE(ReadTraitsJson("\x12\x7f", traits));                     // length past the end
}

TEST(AudienceTest, TraitConditionAndConsent) {
  const auto j = Load(
      "who:\n  where: traits.plan == 'pro' && traits.country in ['DE', 'AT']\n"
      "  consent: { email: implied }\n");
  Audience a(j, kNow);
  EXPECT_FALSE(a.reads_customer());
  EXPECT_TRUE(a.Matches(Record(R"({"plan":"pro","country":"DE"})"), kNow));
  EXPECT_FALSE(a.Matches(Record(R"({"plan":"free","country":"DE"})"), kNow));
  // Opted out of the only channel: not in the audience.
  EXPECT_FALSE(
      a.Matches(Record(R"({"plan":"pro","country":"AT","consent":{"email":false}})"), kNow));
  // A missing trait is an evaluation error: not in the audience, with the reason.
  std::string error;
  EXPECT_FALSE(a.Matches(Record(R"({"country":"DE"})"), kNow, &error));
  EXPECT_FALSE(error.empty());
  EXPECT_FALSE(a.Matches("\xff\xff\xff", kNow));
}

TEST(AudienceTest, ConditionOverTheWholeTraitsMap) {
  // `traits` used whole (not field by field): every trait is built.
  const auto j = Load(
      "who:\n  where: \"'vip' in traits && traits['plan'] == 'pro'\"\n  consent: { email: implied "
      "}\n");
  std::vector<std::string> fields;
  EXPECT_FALSE(j.audience.program.SelectedFields(journey::kTraitsSlot, &fields));
  Audience a(j, kNow);
  EXPECT_TRUE(a.Matches(Record(R"({"vip":1,"plan":"pro"})"), kNow));
  EXPECT_FALSE(a.Matches(Record(R"({"plan":"pro"})"), kNow));
}

TEST(AudienceTest, SelectedFieldsOfTraits) {
  const auto j = Load(
      "who:\n  where: traits.plan == 'pro' && has(traits.country) && traits['age'] > 18\n"
      "  consent: { email: implied }\n");
  std::vector<std::string> fields;
  ASSERT_TRUE(j.audience.program.SelectedFields(journey::kTraitsSlot, &fields));
  EXPECT_EQ(fields, (std::vector<std::string>{"age", "country", "plan"}));
  Audience a(j, kNow);
  EXPECT_TRUE(a.Matches(Record(R"({"plan":"pro","country":"DE","age":30,"x":[1,2]})"), kNow));
  EXPECT_FALSE(a.Matches(Record(R"({"plan":"pro","age":30})"), kNow));
}

TEST(AudienceTest, ExplicitConsentNeedsOptIn) {
  const auto j = Load("who:\n  consent: { email: explicit }\n");
  Audience a(j, kNow);
  EXPECT_FALSE(a.Matches(Record("{}"), kNow));
  EXPECT_TRUE(a.Matches(Record(R"({"consent":{"email":true}})"), kNow));
}

TEST(AudienceTest, CustomerConditionParsesTheRecord) {
  const auto j = Load(
      "who:\n  where: customer.events['Order Completed'].count >= 2 && 'newsletter' in "
      "customer.labels\n  consent: { email: implied }\n");
  Audience a(j, kNow);
  EXPECT_TRUE(a.reads_customer());
  EXPECT_TRUE(a.Matches(Record("{}", 2), kNow));
  EXPECT_FALSE(a.Matches(Record("{}", 1), kNow));
}

TEST(AudienceTest, ConditionSeesTheCampaignEvent) {
  const auto j = Load(
      "who:\n  where: event.name == 'Campaign Started' && "
      "event.properties.journey == 'promo'\n  consent: { email: implied }\n");
  Audience a(j, kNow);
  EXPECT_TRUE(a.Matches(Record("{}"), kNow));
}

TEST(AudienceTest, NoConditionAdmitsEveryone) {
  const auto j = Load("who:\n  consent: { email: implied }\n");
  Audience a(j, kNow);
  EXPECT_TRUE(a.Matches(Record(""), kNow));
}

}  // namespace
}  // namespace cairn::campaign
