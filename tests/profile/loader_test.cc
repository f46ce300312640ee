// The profile loader: a good file loads into the model; every mistake is a
// diagnostic at file:line:col, all of them at once, and never a crash.
#include "profile/loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace cairn::profile {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> Problems(const std::string& yaml) {
  auto r = LoadProfile({{"p.yaml", yaml}});
  std::vector<std::string> out;
  for (const auto& d : r.diagnostics) out.push_back(d.ToString());
  EXPECT_EQ(r.model == nullptr, !out.empty());
  return out;
}

TEST(ProfileLoader, LoadsEverySection) {
  auto r = LoadProfile({{"p.yaml", R"(
traits:
  orders_90d: { count: Order Completed, window: 90d }
  revenue: { sum: Order Completed, of: total }
  last_order_at: { last: Order Completed }
  big: { count: Order Completed, where: "event.properties.total > 100.0" }
  cats: { distinct: Product Viewed, of: product.category }
rfm:
  recency: last_order_at
  frequency: orders_90d
  monetary: revenue
  thresholds: { recency: [7d, 30d, 90d, 180d], frequency: [1, 2, 4, 8], monetary: [10, 50, 100, 500] }
  groups: { prime: "traits.rfm_r >= 4", sleeping: "true" }
lifecycle:
  initial: new
  stages: [new, active, at-risk]
  transitions:
    - { from: new, to: active, on: Order Completed }
    - { from: active, to: at-risk, idle: { event: Order Completed, for: 60d } }
labels:
  spender: "traits.revenue > 100.0"
segments:
  vip: { if: "traits.revenue >= 500.0", description: Big spenders }
  lapsed: "traits.orders_90d == 0"
)"}});
  ASSERT_TRUE(r.diagnostics.empty()) << r.diagnostics[0].ToString();
  const Model& m = *r.model;
  ASSERT_EQ(m.traits.size(), 5u);
  EXPECT_EQ(m.traits[0].window_ms, int64_t{90} * 86400000);
  EXPECT_EQ(m.traits[4].of, (std::vector<std::string>{"product", "category"}));
  EXPECT_EQ(m.traits_by_event.at("Order Completed").size(), 4u);
  EXPECT_EQ(m.rfm.recency_trait, 2);
  EXPECT_EQ(m.rfm.frequency_trait, 0);
  EXPECT_EQ(m.rfm.recency_ms[0], 7.0 * 86400000);
  EXPECT_EQ(m.rfm.groups.size(), 2u);
  EXPECT_EQ(m.lifecycle.transitions[1].idle_ms, int64_t{60} * 86400000);
  EXPECT_EQ(m.segments[1].name, "lapsed");
  EXPECT_EQ(m.segments[0].description, "Big spenders");
}

TEST(ProfileLoader, ReportsEveryMistakeWithItsPosition) {
  EXPECT_THAT(Problems("traits:\n  x: { count: A, windw: 3d }\n"),
              ElementsAre(HasSubstr("p.yaml:2:18: unknown key 'windw' in trait 'x'; did you mean "
                                    "'window'?")));
  EXPECT_THAT(Problems("traits:\n  x: { sum: A }\n"),
              ElementsAre(HasSubstr("p.yaml:2:8: trait 'x': 'sum' needs 'of'")));
  EXPECT_THAT(Problems("traits:\n  x: { count: A, sum: B, of: t }\n"),
              ElementsAre(HasSubstr("has two aggregates"), HasSubstr("'count' counts events")));
  EXPECT_THAT(Problems("traits:\n  Bad-Name: { count: A }\n"),
              ElementsAre(HasSubstr("p.yaml:2:3: a computed trait's name")));
  EXPECT_THAT(Problems("traits:\n  x: { count: A, window: soon }\n"),
              ElementsAre(HasSubstr("p.yaml:2:26: 'window': 'soon' is not a duration")));
  EXPECT_THAT(Problems("segments:\n  vip: \"traits.x >\"\n"), ElementsAre(HasSubstr("p.yaml:2:")));
  EXPECT_THAT(Problems("segments:\n  vip: \"event.name == 'x'\"\n"),
              ElementsAre(HasSubstr("may only use `traits` and `customer`")));
  EXPECT_THAT(Problems("lifecycle:\n  initial: nu\n  stages: [new, old]\n"),
              ElementsAre(HasSubstr("p.yaml:2:12: unknown stage 'nu'; did you mean 'new'?")));
  EXPECT_THAT(Problems("lifecycle:\n  initial: new\n  stages: [new, old]\n  transitions:\n"
                       "    - { from: new, to: old }\n"),
              ElementsAre(HasSubstr("p.yaml:5:7: a transition needs at least one of")));
  EXPECT_THAT(Problems("traits:\n  n: { count: A }\nrfm:\n  recency: n\n  frequency: n\n"
                       "  monetary: m\n  thresholds: { recency: [1d, 2d, 3d, 4d], frequency: [1, "
                       "2, 3, 4], monetary: [1, 2, 3, 4] }\n"),
              ElementsAre(HasSubstr("p.yaml:4:12: recency needs a trait that gives a time"),
                          HasSubstr("p.yaml:6:13: no computed trait 'm'; did you mean 'n'?")));
  EXPECT_THAT(Problems("traits:\n  n: { last: A }\nrfm:\n  recency: n\n  frequency: n\n"
                       "  monetary: n\n  thresholds: { recency: [1d, 2d, 3d, 4d], frequency: [1, "
                       "2, 2, 4], monetary: [1, 2, 3] }\n"),
              ElementsAre(HasSubstr("'n' gives a time"), HasSubstr("'n' gives a time"),
                          HasSubstr("'frequency' must be strictly ascending"),
                          HasSubstr("'monetary' needs four ascending numbers")));
  EXPECT_THAT(Problems("colour: blue\n"), ElementsAre(HasSubstr("p.yaml:1:1: unknown key")));
  EXPECT_THAT(Problems("traits: [\n"), ElementsAre(HasSubstr("YAML syntax error")));
}

TEST(ProfileLoader, NamesAreUniqueAcrossFilesAndSectionsDeclaredOnce) {
  auto r = LoadProfile({{"a.yaml",
                         "traits:\n  x: { count: A }\nlifecycle:\n  initial: n\n"
                         "  stages: [n]\n"},
                        {"b.yaml",
                         "traits:\n  x: { count: B }\nlifecycle:\n  initial: n\n"
                         "  stages: [n]\n"}});
  ASSERT_EQ(r.diagnostics.size(), 2u);
  EXPECT_EQ(r.diagnostics[0].ToString(),
            "b.yaml:2:3: computed trait 'x' is already declared at a.yaml:2");
  EXPECT_EQ(r.diagnostics[1].ToString(), "b.yaml:3:1: 'lifecycle' is already declared in a.yaml:3");
}

TEST(ProfileLoader, EmptyOrMissingIsAnEmptyModel) {
  auto r = LoadProfileDir("/nonexistent/dir");
  ASSERT_TRUE(r.model);
  EXPECT_TRUE(r.model->empty());
  auto e = LoadProfile({{"empty.yaml", ""}});
  ASSERT_TRUE(e.model);
  EXPECT_TRUE(e.model->empty());
}

TEST(ProfileLoader, GarbageNeverCrashes) {
  const char* inputs[] = {"{{{{",
                          "traits: 3",
                          "segments: [a, b]",
                          "rfm: x",
                          "lifecycle: {transitions: 5}",
                          "traits: {x: 5}",
                          "labels: [1]",
                          "segments: {a: {if: [1]}}",
                          "traits: {x: {count: [a]}}",
                          "lifecycle: {initial: a, stages: [a], transitions: [{to: a, idle: 3}]}"};
  for (const char* in : inputs) {
    auto r = LoadProfile({{"g.yaml", in}});
    EXPECT_FALSE(r.diagnostics.empty()) << in;
  }
  EXPECT_TRUE(LoadProfile({{"tabs.yaml", "\t\t"}}).diagnostics.size() <= 1);
}

}  // namespace
}  // namespace cairn::profile

namespace cairn::profile {
namespace {

// What each condition reads of `traits` (Model::Finish): the stage
// re-evaluates a segment or label rule only when one of those changed.
TEST(ProfileLoader, ConditionsKnowTheTraitsTheyRead) {
  auto r = LoadProfile({{"p.yaml", R"y(
traits:
  a: { count: Order Completed }
  b: { sum: Order Completed, of: total }
  c: { count: Product Viewed }
  d: { last: Signed Up }
rfm:
  recency: d
  frequency: a
  monetary: b
  thresholds: { recency: [7d, 30d, 90d, 180d], frequency: [1, 2, 4, 8], monetary: [10, 50, 100, 500] }
  groups: { any: "true" }
labels:
  l1: "traits.a > 1 && has(traits.b)"
  l2: "'vip' in customer.labels"
segments:
  s1: "traits['c'] > 0 && traits.rfm_r >= 3"
  s2: "size(traits) > 3"
  s3: "traits.a > 0 && hours_since(timestamp('2026-01-01T00:00:00Z')) > 1.0"
  s4: "traits.plan == 'pro'"
)y"}});
  ASSERT_TRUE(r.model) << (r.diagnostics.empty() ? "" : r.diagnostics[0].ToString());
  const Model& m = *r.model;
  ASSERT_EQ(m.label_reads.size(), 2u);
  ASSERT_EQ(m.segment_reads.size(), 4u);
  EXPECT_FALSE(m.label_reads[0].all);
  EXPECT_THAT(m.label_reads[0].traits, ElementsAre(0, 1));
  EXPECT_TRUE(m.label_reads[1].traits.empty());
  EXPECT_FALSE(m.label_reads[1].all);
  EXPECT_THAT(m.segment_reads[0].traits, ElementsAre(2));
  EXPECT_TRUE(m.segment_reads[0].rfm);
  EXPECT_TRUE(m.segment_reads[1].all);   // traits as a whole
  EXPECT_TRUE(m.segment_reads[2].all);   // the clock
  EXPECT_FALSE(m.segment_reads[3].all);  // an identify trait: changes with identify only
  EXPECT_TRUE(m.segment_reads[3].traits.empty());
  // s2 reads every trait: all are built for the stage's conditions.
  EXPECT_TRUE(m.traits_read.empty());
}

TEST(ProfileLoader, OnlyTheTraitsConditionsReadAreBuilt) {
  auto r = LoadProfile({{"p.yaml", R"y(
traits:
  a: { count: Order Completed }
  b: { sum: Order Completed, of: total }
  c: { count: Product Viewed, where: "traits.d > 1" }
  d: { count: Signed Up }
segments:
  s1: "traits.a > 1"
)y"}});
  ASSERT_TRUE(r.model);
  EXPECT_THAT(r.model->traits_read, ElementsAre(true, false, false, true));
}

}  // namespace
}  // namespace cairn::profile
