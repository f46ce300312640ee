// Identity merge of computed state (profile/merge.h) against a brute force:
// events A fed to one customer, B to another, the second merged into the
// first, compared with a third customer fed A then B — every aggregate,
// all-time and windowed, read at several later times; the window cap; rule
// labels; re-derivation of segments after the merge.
#include "profile/merge.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <random>

#include "profile/loader.h"
#include "profile/profiler.h"
#include "profile/values.h"

namespace cairn::profile {
namespace {

constexpr int64_t kHour = 3600 * 1000;
constexpr int64_t kDay = 24 * kHour;
constexpr TimestampMs kT0 = 1767225600000;  // 2026-01-01

constexpr const char* kProfile = R"(
traits:
  orders: { count: Order Completed }
  revenue: { sum: Order Completed, of: total }
  avg_order: { avg: Order Completed, of: total }
  min_order: { min: Order Completed, of: total }
  max_order: { max: Order Completed, of: total }
  first_order_at: { first: Order Completed }
  last_order_at: { last: Order Completed }
  min_order_at: { min: Order Completed }
  first_category: { first: Order Completed, of: category }
  last_category: { last: Order Completed, of: category }
  categories: { distinct: Order Completed, of: category }
  views: { count: Product Viewed }
  big_orders: { count: Order Completed, where: "event.properties.total >= 150.0" }
  orders_10d: { count: Order Completed, window: 10d }
  revenue_10d: { sum: Order Completed, of: total, window: 10d }
  avg_30d: { avg: Order Completed, of: total, window: 30d }
  min_30d: { min: Order Completed, of: total, window: 30d }
  max_30d: { max: Order Completed, of: total, window: 30d }
  first_30d: { first: Order Completed, of: category, window: 30d }
  last_30d: { last: Order Completed, of: category, window: 30d }
  last_at_30d: { last: Order Completed, window: 30d }
  categories_30d: { distinct: Order Completed, of: category, window: 30d }
  views_10d: { count: Product Viewed, window: 10d }
labels:
  spender: "traits.revenue >= 800.0"
  viewer: "traits.views >= 3"
segments:
  big: "traits.revenue >= 1000.0"
  regular: "traits.orders >= 5"
)";

std::shared_ptr<const Model> LoadModel() {
  auto r = LoadProfile({{"merge.yaml", kProfile}});
  EXPECT_TRUE(r.model) << (r.diagnostics.empty() ? "" : r.diagnostics[0].ToString());
  return r.model;
}

Event MakeEvent(std::mt19937_64& rng, TimestampMs at) {
  Event e;
  e.name = rng() % 10 < 7 ? "Order Completed" : "Product Viewed";
  e.timestamp_ms = at;
  const double total = static_cast<double>(rng() % 1000) / 4.0;
  const std::string category = "c" + std::to_string(rng() % 8);
  if (rng() % 10 == 0) {  // no total: not counted by the numeric aggregates
    e.properties_json = fmt::format(R"({{"category":"{}"}})", category);
  } else {
    e.properties_json = fmt::format(R"({{"total":{},"category":"{}"}})", total, category);
    e.numeric_properties = {{"total", total}};
  }
  return e;
}

void Feed(const Model& m, v1::CustomerState& c, const std::vector<Event>& events) {
  for (const auto& e : events) {
    Context ctx;
    ctx.now = e.timestamp_ms;
    OnEvent(m, ctx, c, e);
  }
}

// Every computed value of `got` equals `want`'s at `now`.
// `min_window`: traits with a shorter window are left out.
void ExpectSameValues(const Model& m, const v1::ProfileState& got, const v1::ProfileState& want,
                      TimestampMs now, const std::string& where, int64_t min_window = 0) {
  for (size_t i = 0; i < m.traits.size(); ++i) {
    const auto& t = m.traits[i];
    if (t.window_ms > 0 && t.window_ms < min_window) continue;
    // Beyond the cap only count, sum, min and max (and avg) are promised.
    if (min_window > 0 && t.window_ms > 0 &&
        (t.aggregate == Aggregate::kFirst || t.aggregate == Aggregate::kLast ||
         t.aggregate == Aggregate::kDistinct)) {
      continue;
    }
    v1::ProfileState sa, sb;
    const auto a = ComputedValue(m, i, &ForReading(m, got, sa), now);
    const auto b = ComputedValue(m, i, &ForReading(m, want, sb), now);
    if (a.kind() == expr::Kind::kDouble && b.kind() == expr::Kind::kDouble) {
      EXPECT_NEAR(a.double_value(), b.double_value(), 1e-9 * (1 + std::abs(b.double_value())))
          << where << " " << t.name;
    } else {
      EXPECT_TRUE(a.Equals(b)) << where << " " << t.name << ": merged " << a.DebugString()
                               << ", brute force " << b.DebugString();
    }
  }
}

TEST(MergeProfiles, EqualsOneCustomerFedBothStreams) {
  auto model = LoadModel();
  ASSERT_TRUE(model);
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 200; ++trial) {
    // Times on a 6-hour grid over 60 days: equal times across A and B are
    // common (ties), and streams arrive out of order (late events).
    auto stream = [&](int n) {
      std::vector<Event> out;
      for (int i = 0; i < n; ++i) {
        out.push_back(MakeEvent(rng, kT0 + static_cast<int64_t>(rng() % 240) * 6 * kHour));
      }
      return out;
    };
    const auto a = stream(static_cast<int>(rng() % 40));
    const auto b = stream(static_cast<int>(rng() % 40));
    v1::CustomerState ca, cb, both;
    ca.set_id("a");
    cb.set_id("b");
    both.set_id("a");
    Feed(*model, ca, a);
    Feed(*model, cb, b);
    Feed(*model, both, a);
    Feed(*model, both, b);
    const TimestampMs end = kT0 + 60 * kDay;
    const std::string where = fmt::format("trial {} ({} + {} events)", trial, a.size(), b.size());
    MergeProfiles(*model, *ca.mutable_profile(), cb.profile(), end);
    for (int64_t later : {int64_t{0}, 3 * kDay, 12 * kDay, 25 * kDay, 31 * kDay}) {
      ExpectSameValues(*model, ca.profile(), both.profile(), end + later,
                       where + fmt::format(" +{}d", later / kDay));
    }
    // Segments and rule labels: re-derived on the merged record (the
    // conditions read all-time traits: equal whenever evaluated).
    Context ctx;
    ctx.now = end;
    Rederive(*model, ctx, ca);
    Rederive(*model, ctx, both);
    EXPECT_EQ(SegmentNames(ca.profile()), SegmentNames(both.profile())) << where;
    EXPECT_EQ(std::vector<std::string>(ca.profile().rule_labels().begin(),
                                       ca.profile().rule_labels().end()),
              std::vector<std::string>(both.profile().rule_labels().begin(),
                                       both.profile().rule_labels().end()))
        << where;
  }
}

TEST(MergeProfiles, BeyondTheWindowCapValuesStayExact) {
  auto model = LoadModel();
  ASSERT_TRUE(model);
  std::mt19937_64 rng(9);
  // 1,500 orders each, all inside the 30-day window at `end`.
  auto stream = [&] {
    std::vector<Event> out;
    for (int i = 0; i < 1500; ++i) {
      Event e = MakeEvent(rng, kT0 + static_cast<int64_t>(rng() % (25 * kDay)));
      e.name = "Order Completed";
      out.push_back(std::move(e));
    }
    return out;
  };
  const auto a = stream();
  const auto b = stream();
  v1::CustomerState ca, cb, both;
  Feed(*model, ca, a);
  Feed(*model, cb, b);
  Feed(*model, both, a);
  Feed(*model, both, b);
  const TimestampMs end = kT0 + 25 * kDay;
  MergeProfiles(*model, *ca.mutable_profile(), cb.profile(), end);
  const auto i = static_cast<size_t>(model->TraitIndex("max_30d"));
  EXPECT_LE(Entries(*model, i, ca.profile().computed()), kMaxWindowEntries);
  EXPECT_EQ(Entries(*model, i, ca.profile().computed()),
            Entries(*model, i, both.profile().computed()));
  // The 30-day windows hold every occurrence: exact. (The 10-day ones have
  // merged entries straddling their edge: exact only while inside.)
  ExpectSameValues(*model, ca.profile(), both.profile(), end, "beyond the cap", 30 * kDay);
  EXPECT_EQ(ComputedValue(*model, static_cast<size_t>(model->TraitIndex("orders")),
                          &ca.profile().computed(), end)
                .int_value(),
            3000);
}

TEST(MergeProfiles, StatesOutOfModelOrderAndEmptySides) {
  auto model = LoadModel();
  ASSERT_TRUE(model);
  std::mt19937_64 rng(3);
  std::vector<Event> a, b;
  for (int i = 0; i < 20; ++i) a.push_back(MakeEvent(rng, kT0 + i * kDay));
  for (int i = 0; i < 20; ++i) b.push_back(MakeEvent(rng, kT0 + i * kDay + kHour));
  v1::CustomerState ca, cb, both;
  Feed(*model, ca, a);
  Feed(*model, cb, b);
  Feed(*model, both, a);
  Feed(*model, both, b);
  // `from` written under another model: reversed order, one unknown trait,
  // and the last declared trait under another name.
  Model other;
  other.traits.assign(model->traits.rbegin(), model->traits.rend());
  other.traits[0].name = "retired-too";
  ComputedTrait retired;
  retired.name = "retired";
  other.traits.push_back(retired);
  other.Finish();
  v1::ProfileState from = cb.profile();
  ASSERT_TRUE(Align(other, from));
  v1::ProfileState into = ca.profile();
  MergeProfiles(*model, into, from, kT0 + 20 * kDay);
  EXPECT_TRUE(Fits(*model, into.computed()));
  // The renamed trait (the last declared) keeps `into`'s value; every other
  // equals the brute force.
  const auto& last = model->traits.back();
  v1::ProfileState want = both.profile();
  want.mutable_computed()->Clear();
  ASSERT_TRUE(Align(*model, want));  // empty, then filled trait by trait
  v1::ProfileState bs = both.profile();
  for (size_t k = 0; k + 1 < model->traits.size(); ++k) {
    MergeTrait(*model, k, *want.mutable_computed(), bs.computed());
  }
  MergeTrait(*model, model->traits.size() - 1, *want.mutable_computed(), ca.profile().computed());
  ExpectSameValues(*model, into, want, kT0 + 20 * kDay, "reordered");
  EXPECT_EQ(last.name, "views_10d");

  // Into an empty profile: the other's values; from an empty one: unchanged.
  v1::ProfileState empty_into;
  MergeProfiles(*model, empty_into, cb.profile(), kT0 + 20 * kDay);
  ExpectSameValues(*model, empty_into, cb.profile(), kT0 + 20 * kDay, "into empty");
  v1::ProfileState unchanged = ca.profile();
  MergeProfiles(*model, unchanged, v1::ProfileState(), kT0 + 20 * kDay);
  ExpectSameValues(*model, unchanged, ca.profile(), kT0 + 20 * kDay, "from empty");
}

TEST(MergeProfiles, LabelsUnion) {
  auto model = LoadModel();
  ASSERT_TRUE(model);
  v1::ProfileState into, from;
  into.add_rule_labels("b");
  into.add_rule_labels("d");
  from.add_rule_labels("a");
  from.add_rule_labels("d");
  from.add_rule_labels("e");
  MergeProfiles(*model, into, from, kT0);
  EXPECT_EQ(std::vector<std::string>(into.rule_labels().begin(), into.rule_labels().end()),
            (std::vector<std::string>{"a", "b", "d", "e"}));
  v1::CustomerState ci, cf;
  ci.add_labels("gold");
  ci.add_labels("beta");
  cf.add_labels("beta");
  cf.add_labels("vip");
  MergeLabels(*ci.mutable_labels(), cf.labels());
  EXPECT_EQ(std::vector<std::string>(ci.labels().begin(), ci.labels().end()),
            (std::vector<std::string>{"gold", "beta", "vip"}));
}

}  // namespace
}  // namespace cairn::profile
