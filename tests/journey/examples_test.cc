// Every journey shipped in journeys/ loads without a single diagnostic, and
// each tells its story the way journeys/README.md describes it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "journey/loader.h"

namespace cairn::journey {
namespace {

const std::string kDir = std::string(CAIRN_SOURCE_DIR) + "/journeys";

const Journey& Find(const LoadedSet& set, const std::string& name) {
  for (const auto& j : set.journeys) {
    if (j.name == name) return j;
  }
  static const Journey kNone;
  ADD_FAILURE() << "no journey " << name;
  return kNone;
}

TEST(ExamplesTest, EveryExampleLoadsClean) {
  LoadedSet set = LoadJourneyDir(kDir);
  for (const auto& d : set.diagnostics) ADD_FAILURE() << d.ToString();
  EXPECT_GE(set.files, 5);
  EXPECT_EQ(static_cast<int>(set.journeys.size()), set.files);
  for (const auto& entry : std::filesystem::directory_iterator(kDir)) {
    if (entry.path().extension() != ".yaml") continue;
    LoadResult r = LoadJourneyFile(entry.path().string());
    ASSERT_TRUE(r.journey.has_value()) << entry.path();
    // The file is named after the journey.
    EXPECT_EQ(entry.path().stem().string(), r.journey->name);
  }
}

TEST(ExamplesTest, CartAbandonment) {
  LoadedSet set = LoadJourneyDir(kDir);
  const Journey& j = Find(set, "cart-abandonment");
  EXPECT_EQ(j.trigger.kind, TriggerKind::kEvent);
  EXPECT_EQ(j.trigger.event, "Product Added");
  ASSERT_EQ(j.exit_when.size(), 1u);
  EXPECT_EQ(j.exit_when[0].event, "Order Completed");
  const Step& wait = j.steps[static_cast<size_t>(j.StepIndex("give_them_an_hour"))];
  EXPECT_EQ(wait.timeout_ms, 3600000);
  EXPECT_EQ(wait.lookback_ms, 300000);
  EXPECT_EQ(wait.on_event, j.StepIndex("ordered"));
  EXPECT_EQ(wait.on_timeout, j.StepIndex("reminder_email"));
  EXPECT_EQ(j.entry.reentry, Reentry::kAfter);
}

TEST(ExamplesTest, WinbackSleepingVip) {
  LoadedSet set = LoadJourneyDir(kDir);
  const Journey& j = Find(set, "winback-sleeping-vip");
  EXPECT_EQ(j.trigger.kind, TriggerKind::kAbsence);
  EXPECT_EQ(j.trigger.for_ms, 90LL * 86400000);
  EXPECT_FALSE(j.audience.empty());
  EXPECT_EQ(j.consent.at("sms"), ConsentMode::kExplicit);
  const Step& email = j.steps[static_cast<size_t>(j.StepIndex("coupon_email"))];
  EXPECT_THAT(email.params_json, ::testing::HasSubstr("\"coupon_id\":\"VIP-WINBACK-15\""));
  const Step& wait = j.steps[static_cast<size_t>(j.StepIndex("coupon_redeemed"))];
  EXPECT_EQ(wait.timeout_ms, 10LL * 86400000);
  EXPECT_EQ(wait.on_timeout, j.StepIndex("sms_reminder"));
}

TEST(ExamplesTest, WelcomeSeriesSplitsWithHoldout) {
  LoadedSet set = LoadJourneyDir(kDir);
  const Journey& j = Find(set, "welcome-series");
  const Step& tips = j.steps[static_cast<size_t>(j.StepIndex("two_days_later"))];
  EXPECT_EQ(tips.wait_ms, 2LL * 86400000);
  EXPECT_EQ(tips.at_minute, 600);
  const Step& split = j.steps[static_cast<size_t>(j.StepIndex("first_order_offer"))];
  ASSERT_EQ(split.arms.size(), 3u);
  uint32_t total = 0;
  for (const auto& a : split.arms) total += a.weight;
  EXPECT_EQ(total, 100u);
  EXPECT_TRUE(split.arms[2].holdout);
  EXPECT_EQ(split.arms[2].weight, 10u);
}

TEST(ExamplesTest, VipMembershipDayIsYearly) {
  LoadedSet set = LoadJourneyDir(kDir);
  const Journey& j = Find(set, "vip-membership-day");
  EXPECT_EQ(j.trigger.kind, TriggerKind::kDate);
  EXPECT_EQ(j.trigger.trait, "member_since");
  EXPECT_TRUE(j.trigger.yearly);
  EXPECT_EQ(j.trigger.at_minute, 600);
}

TEST(ExamplesTest, AtRiskRescueLoopsAtMostOnce) {
  LoadedSet set = LoadJourneyDir(kDir);
  const Journey& j = Find(set, "at-risk-rescue");
  EXPECT_EQ(j.trigger.event, "Lifecycle Stage Changed");
  const Step& again = j.steps[static_cast<size_t>(j.StepIndex("once_more"))];
  EXPECT_EQ(again.kind, StepKind::kGoto);
  EXPECT_EQ(again.goto_step, j.StepIndex("check_back"));
  EXPECT_EQ(again.max_loops, 1u);
}

}  // namespace
}  // namespace cairn::journey
