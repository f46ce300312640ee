// The profile stage inside the journey runtime, on a fake clock: lifecycle
// migrations on events and on timers (no event needed for "no order for 60
// days"), segment entry/exit with their events and live counts, rule labels
// and bulk labels, RFM scores against a brute-force computation, and a
// journey triggered by a stage change.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "cairn/fnv1a.h"
#include "flow/flow_host.h"
#include "profile/eval_scope.h"
#include "profile/loader.h"
#include "profile/profiler.h"
#include "profile/values.h"

namespace cairn::flow::testing {
namespace {

using ::testing::ElementsAre;

constexpr const char* kProfile = R"(
traits:
  orders_total: { count: Order Completed }
  orders_30d: { count: Order Completed, window: 30d }
  revenue_30d: { sum: Order Completed, of: total, window: 30d }
  last_order_at: { last: Order Completed }
rfm:
  recency: last_order_at
  frequency: orders_30d
  monetary: revenue_30d
  thresholds: { recency: [7d, 14d, 21d, 28d], frequency: [2, 3, 4, 5], monetary: [50, 100, 200, 400] }
  groups:
    prime: "traits.rfm_r >= 4 && traits.rfm_f >= 3"
    sleeping: "traits.rfm_r <= 2"
    regular: "true"
lifecycle:
  initial: new
  stages: [new, active, at-risk, dormant, won-back]
  transitions:
    - { from: new, to: active, on: Order Completed }
    - { from: [active, won-back], to: at-risk, idle: { event: Order Completed, for: 60d } }
    - { from: at-risk, to: dormant, idle: { event: Order Completed, for: 120d } }
    - { from: [at-risk, dormant], to: won-back, on: Order Completed }
labels:
  spender: "traits.revenue_30d >= 100.0"
segments:
  buyers-30d: "traits.orders_30d > 0"
  vip: { if: "traits.revenue_30d >= 200.0" }
)";

// The events the profile published, as "<name> <properties>" lines.
std::vector<std::string> Emitted(const Host& h) {
  std::vector<std::string> out;
  for (const auto& r : h.outbox()) {
    auto j = nlohmann::json::parse(r.value());
    out.push_back(j["event"].get<std::string>() + " " + j["properties"].dump());
  }
  return out;
}

// The customer's segments, as the API lists them.
std::vector<std::string> Names(const v1::ProfileState& p) {
  std::vector<std::string> out;
  for (std::string_view n : profile::SegmentNames(p)) out.emplace_back(n);
  return out;
}

int64_t Count(const google::protobuf::Map<std::string, int64_t>& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? 0 : it->second;
}

TEST(ProfileStage, LifecycleMigratesOnEventsAndOnTimers) {
  Host h;
  h.SetProfile(kProfile);
  h.Install(std::vector<std::string>{});
  const TimestampMs t0 = T("2026-01-01T10:00:00Z");
  h.Track("u1", "Signed Up", t0);
  EXPECT_EQ(h.customer("u1").profile().stage(), "new");
  h.Track("u1", "Order Completed", t0 + kDay, R"({"total": 120.0})");
  EXPECT_EQ(h.customer("u1").profile().stage(), "active");
  h.ClearRecords();
  // No events at all: the timer moves the customer at exactly 60 days.
  h.AdvanceTo(t0 + 61 * kDay - 1);
  EXPECT_EQ(h.customer("u1").profile().stage(), "active");
  h.AdvanceTo(t0 + 61 * kDay);
  EXPECT_EQ(h.customer("u1").profile().stage(), "at-risk");
  EXPECT_EQ(h.customer("u1").profile().stage_since_ms(), t0 + 61 * kDay);
  h.AdvanceTo(t0 + 121 * kDay);
  EXPECT_EQ(h.customer("u1").profile().stage(), "dormant");
  h.Track("u1", "Order Completed", t0 + 200 * kDay, R"({"total": 10.0})");
  EXPECT_EQ(h.customer("u1").profile().stage(), "won-back");
  const auto emitted = Emitted(h);
  EXPECT_THAT(
      std::vector<std::string>(emitted.begin(), emitted.end()),
      ::testing::IsSupersetOf({R"(Lifecycle Stage Changed {"from":"active","to":"at-risk"})",
                               R"(Lifecycle Stage Changed {"from":"at-risk","to":"dormant"})",
                               R"(Lifecycle Stage Changed {"from":"dormant","to":"won-back"})"}));
  EXPECT_EQ(Count(h.profile_stats().stages(), "won-back"), 1);
  EXPECT_EQ(Count(h.profile_stats().stages(), "active"), 0);
  EXPECT_THAT(h.Lines("u1", "stage"),
              ElementsAre("2026-03-03T10:00:00Z  at-risk stage: from active: no Order "
                          "Completed for 60d",
                          "2026-05-02T10:00:00Z  dormant stage: from at-risk: no Order "
                          "Completed for 120d",
                          "2026-07-20T10:00:00Z  won-back stage: from dormant: on Order "
                          "Completed"));
}

TEST(ProfileStage, SegmentsFollowWindowsExactlyAndEmitEvents) {
  Host h;
  h.SetProfile(kProfile);
  h.Install(std::vector<std::string>{});
  const TimestampMs t0 = T("2026-03-01T00:00:00Z");
  h.Track("u2", "Order Completed", t0, R"({"total": 150.0})");
  h.Track("u2", "Order Completed", t0 + 5 * kDay, R"({"total": 60.0})");
  const auto& p = h.customer("u2").profile();
  EXPECT_THAT(Names(p), ElementsAre("buyers-30d", "vip"));
  EXPECT_EQ(Count(h.profile_stats().segments(), "vip"), 1);
  EXPECT_THAT(
      std::vector<std::string>(h.customer("u2").labels().begin(), h.customer("u2").labels().end()),
      ElementsAre("spender"));
  // The first order leaves the 30-day window at exactly t0 + 30d: revenue
  // drops to 60, out of vip and spender; the second leaves at t0 + 35d.
  h.ClearRecords();
  h.AdvanceTo(t0 + 30 * kDay - 1);
  EXPECT_EQ(Names(p).size(), 2u);
  h.AdvanceTo(t0 + 30 * kDay);
  EXPECT_THAT(Names(p), ElementsAre("buyers-30d"));
  EXPECT_TRUE(h.customer("u2").labels().empty());
  h.AdvanceTo(t0 + 35 * kDay);
  EXPECT_TRUE(Names(p).empty());
  EXPECT_EQ(p.segment_names(), "");
  EXPECT_THAT(Emitted(h), ElementsAre(R"(Segment Exited {"segment":"vip"})",
                                      R"(Segment Exited {"segment":"buyers-30d"})"));
  // Deterministic messageIds: "prof-<FNV-1a 64 of the customer, 16 hex>-<n>",
  // n counting the customer's emitted events (the same as earlier binaries,
  // so a replay across an upgrade is deduplicated).
  ASSERT_EQ(h.outbox().size(), 2u);
  for (size_t k = 0; k < h.outbox().size(); ++k) {
    const auto j = nlohmann::json::parse(h.outbox()[k].value());
    EXPECT_EQ(j["messageId"], fmt::format("prof-{:016x}-{}", Fnv1a64("u2"), p.emitted() - 1 + k));
  }
  EXPECT_EQ(Count(h.profile_stats().segments(), "vip"), 0);
  EXPECT_EQ(Count(h.profile_stats().segments(), "buyers-30d"), 0);
  // Every emitted event has a deterministic, distinct messageId.
  std::set<std::string> ids;
  for (const auto& r : h.outbox()) ids.insert(nlohmann::json::parse(r.value())["messageId"]);
  EXPECT_EQ(ids.size(), h.outbox().size());
}

TEST(ProfileStage, BulkLabelsAndComputedTraitsInJourneyConditions) {
  Host h;
  h.SetProfile(kProfile);
  h.Install(std::vector<std::string>{R"(
journey: vip-thanks
version: 1
when:
  event: Segment Entered
  where: "event.properties.segment == 'vip' && 'vip' in customer.segments"
who:
  where: "traits.revenue_30d >= 200.0 && customer.stage == 'active' && 'gold' in customer.labels"
  consent: { email: implied }
steps:
  - id: thanks
    send: { channel: email, template: thanks }
)"});
  const TimestampMs t0 = T("2026-03-01T00:00:00Z");
  h.Track("u3", "Labels Updated", t0, R"({"add": ["gold", "beta"], "remove": []})");
  h.Track("u3", "Labels Updated", t0 + 1, R"({"add": ["gold"], "remove": ["beta"]})");
  EXPECT_THAT(
      std::vector<std::string>(h.customer("u3").labels().begin(), h.customer("u3").labels().end()),
      ElementsAre("gold"));
  h.Track("u3", "Order Completed", t0 + kHour, R"({"total": 250.0})");
  // The Segment Entered event comes back through the events topic.
  auto back = h.outbox();
  for (const auto& r : back) {
    if (r.topic() == "cairn.events") h.Event(r.value(), t0 + 2 * kHour);
  }
  EXPECT_EQ(h.Tasks("u3").size(), 1u);
}

TEST(ProfileStage, RfmScoresMatchABruteForceComputation) {
  Host h;
  h.SetProfile(kProfile);
  h.Install(std::vector<std::string>{});
  std::mt19937_64 rng(11);
  const TimestampMs t0 = T("2026-01-01T00:00:00Z");
  struct Order {
    TimestampMs at;
    double total;
  };
  std::map<std::string, std::vector<Order>> orders;
  std::set<std::pair<TimestampMs, std::string>> stream;  // one event per customer and time
  for (int c = 0; c < 300; ++c) {
    const std::string id = "c" + std::to_string(c);
    const int n = static_cast<int>(rng() % 9);
    for (int i = 0; i < n; ++i) {
      const Order o{t0 + static_cast<int64_t>(rng() % (90 * kDay)),
                    static_cast<double>(rng() % 30000) / 100.0};
      orders[id].push_back(o);
    }
  }
  for (const auto& [id, list] : orders) {
    for (const auto& o : list) stream.emplace(o.at, id);
  }
  for (const auto& [at, id] : stream) {
    const auto& list = orders[id];
    // The customer's orders at this time (several may share one).
    for (const auto& o : list) {
      if (o.at == at) {
        h.Track(id, "Order Completed", at, fmt::format(R"({{"total": {}}})", o.total));
        break;
      }
    }
  }
  const TimestampMs end = t0 + 100 * kDay;
  h.AdvanceTo(end);
  auto asc = [](double v, std::array<double, 4> t) {
    int s = 1;
    for (double x : t) s += v >= x ? 1 : 0;
    return s;
  };
  int checked = 0;
  for (const auto& [id, list] : orders) {
    if (list.empty() || !h.has_customer(id)) continue;
    // What the stage should say at `end`, computed from the raw orders.
    TimestampMs last = 0;
    double f = 0, m = 0;
    std::set<TimestampMs> seen;
    for (const auto& o : list) {
      if (!seen.insert(o.at).second) continue;  // the host sent one event per distinct time
      last = std::max(last, o.at);
      if (o.at > end - 30 * kDay) {
        f += 1;
        m += o.total;
      }
    }
    const double age = static_cast<double>(end - last);
    int r = 1;
    const std::array<double, 4> rt = {7.0 * kDay, 14.0 * kDay, 21.0 * kDay, 28.0 * kDay};
    for (int i = 3; i >= 0; --i) {
      if (age <= rt[static_cast<size_t>(i)]) r = 5 - i;
    }
    const auto& p = h.customer(id).profile();
    // Scores are current as of the customer's last profile event or timer;
    // the recency timer re-scores at every threshold, windows expire on timers.
    EXPECT_EQ(p.rfm_r(), r) << id;
    EXPECT_EQ(p.rfm_f(), asc(f, {2, 3, 4, 5})) << id;
    EXPECT_EQ(p.rfm_m(), asc(m, {50, 100, 200, 400})) << id;
    const std::string group = (r >= 4 && p.rfm_f() >= 3) ? "prime"
                              : r <= 2                   ? "sleeping"
                                                         : "regular";
    EXPECT_EQ(p.rfm_group(), group) << id;
    ++checked;
  }
  EXPECT_GT(checked, 200);
  int64_t groups = 0;
  for (const auto& [g, n] : h.profile_stats().rfm_groups()) groups += n;
  EXPECT_EQ(groups, checked);
}

// Membership is read from a mask by segment index while the stage keeps it
// in step; the names stay the truth: sorted, and read again when another
// writer (an earlier binary) changed them behind the mask.
// Within one pass, a condition sees what the pass did before it: a segment
// entered by an earlier segment, a trait folded by the same event.
TEST(ProfileStage, ConditionsSeeEarlierChangesOfTheSamePass) {
  Host h;
  h.SetProfile(R"(
traits:
  orders: { count: Order Completed }
  repeat_orders: { count: Order Completed, where: "traits.orders >= 2" }
segments:
  buyers: "traits.orders > 0"
  known-buyers: "'buyers' in customer.segments"
  repeat: "traits.repeat_orders > 0"
)");
  h.Install(std::vector<std::string>{});
  const TimestampMs t0 = T("2026-05-01T10:00:00Z");
  h.Track("u1", "Order Completed", t0, R"({"total": 5.0})");
  EXPECT_THAT(Names(h.customer("u1").profile()), ElementsAre("buyers", "known-buyers"));
  h.Track("u1", "Order Completed", t0 + kDay, R"({"total": 5.0})");
  EXPECT_THAT(Names(h.customer("u1").profile()), ElementsAre("buyers", "known-buyers", "repeat"));
}

TEST(ProfileStage, SegmentNamesStaySortedAndAChangeBehindTheMaskIsRead) {
  Host h;
  h.SetProfile(R"(
traits:
  orders: { count: Order Completed }
  revenue_30d: { sum: Order Completed, of: total, window: 30d }
segments:
  zeta: "traits.orders > 0"
  alpha: "traits.revenue_30d >= 100.0"
  mid: "traits.orders > 1"
)");
  h.Install(std::vector<std::string>{});
  const TimestampMs t0 = T("2026-05-01T10:00:00Z");
  auto names = [&] { return Names(h.customer("u1").profile()); };
  h.Track("u1", "Order Completed", t0, R"({"total": 50.0})");
  EXPECT_THAT(names(), ElementsAre("zeta"));
  h.Track("u1", "Order Completed", t0 + kDay, R"({"total": 60.0})");
  EXPECT_THAT(names(), ElementsAre("alpha", "mid", "zeta"));
  {
    const auto& p = h.customer("u1").profile();
    EXPECT_EQ(p.segment_names(), "alpha\nmid\nzeta\n") << "one string, sorted";
    EXPECT_EQ(p.segments_size(), 0);
    EXPECT_EQ(p.segment_mask_check(), p.emitted() + 1) << "the mask is in use";
    EXPECT_EQ(p.segment_mask(), 0b111u);
  }
  // An earlier binary, which keeps names as a list (field 4) and knows
  // nothing of the mask or of segment_names, takes the customer out of
  // `mid` and emits Segment Exited: its list is the newer truth.
  {
    auto& p = *h.customer("u1").mutable_profile();
    p.add_segments("alpha");
    p.add_segments("zeta");
    p.set_emitted(98765432109);  // (many events emitted: an 11-digit messageId below)
  }
  h.ClearRecords();
  h.Track("u1", "Order Completed", t0 + 2 * kDay, R"({"total": 5.0})");
  EXPECT_THAT(names(), ElementsAre("alpha", "mid", "zeta"));
  EXPECT_EQ(h.customer("u1").profile().segments_size(), 0) << "moved into segment_names";
  EXPECT_THAT(Emitted(h), ElementsAre(R"(Segment Entered {"segment":"mid"})"));
  EXPECT_EQ(nlohmann::json::parse(h.outbox().at(0).value())["messageId"],
            fmt::format("prof-{:016x}-98765432110", Fnv1a64("u1")));
  // The first two orders leave the window: out of `alpha`, the first name.
  h.ClearRecords();
  h.AdvanceTo(t0 + 31 * kDay);
  EXPECT_THAT(names(), ElementsAre("mid", "zeta"));
  EXPECT_THAT(Emitted(h), ElementsAre(R"(Segment Exited {"segment":"alpha"})"));
  EXPECT_EQ(Count(h.profile_stats().segments(), "alpha"), 0);
  const auto& p = h.customer("u1").profile();
  EXPECT_EQ(p.segment_mask_check(), p.emitted() + 1);
  EXPECT_EQ(p.segment_mask(), 0b101u);  // zeta (0) and mid (2)
  // An earlier binary read the record as in no segment (it knows only the
  // list) and left a valid mask of none: the names still say mid and zeta,
  // and no one enters them again.
  h.customer("u1").mutable_profile()->set_segment_mask(0);
  h.ClearRecords();
  h.Track("u1", "Order Completed", t0 + 32 * kDay, R"({"total": 1.0})");
  EXPECT_THAT(names(), ElementsAre("mid", "zeta"));
  EXPECT_THAT(Emitted(h), ElementsAre());
  EXPECT_EQ(h.customer("u1").profile().segment_mask(), 0b101u);
}

}  // namespace
}  // namespace cairn::flow::testing

namespace cairn::flow::testing {
namespace {

// Quantile scores: the partition's distributions (kept by the stage in its
// counts) give cut points at the 20/40/60/80 % quantiles; frequency and
// monetary within the sketch's 1 %, recency exact to the day.
TEST(ProfileStage, RfmQuantileCutPointsMatchTheSortedPopulation) {
  Host h;
  h.SetProfile(R"(
traits:
  orders: { count: Order Completed }
  revenue: { sum: Order Completed, of: total }
  last_order_at: { last: Order Completed }
rfm:
  recency: last_order_at
  frequency: orders
  monetary: revenue
  scores: quantiles
  groups: { top: "traits.rfm_m == 5", rest: "true" }
)");
  h.Install(std::vector<std::string>{});
  std::mt19937_64 rng(5);
  const TimestampMs t0 = T("2026-01-01T00:00:00Z");
  std::map<std::string, std::tuple<TimestampMs, double, double>> truth;  // last, f, m
  for (int c = 0; c < 400; ++c) {
    const std::string id = "q" + std::to_string(c);
    const int n = 1 + static_cast<int>(rng() % 6);
    TimestampMs at = t0 + static_cast<int64_t>(rng() % (60 * kDay));
    double m = 0;
    for (int i = 0; i < n; ++i) {
      const double total = 5.0 + static_cast<double>(rng() % 50000) / 100.0;
      h.Track(id, "Order Completed", at + i * kMinute, fmt::format(R"({{"total": {}}})", total));
      m += total;
    }
    truth[id] = {at + (n - 1) * kMinute, n, m};
  }
  const TimestampMs now = t0 + 70 * kDay;
  const auto cuts = profile::QuantileThresholds({&h.profile_stats()}, now);
  ASSERT_TRUE(cuts.ready);
  std::vector<double> f, m, age_days;
  for (const auto& [id, v] : truth) {
    f.push_back(std::get<1>(v));
    m.push_back(std::get<2>(v));
  }
  std::sort(f.begin(), f.end());
  std::sort(m.begin(), m.end());
  for (size_t k = 0; k < 4; ++k) {
    const double q = 0.2 * static_cast<double>(k + 1);
    const size_t rank = static_cast<size_t>(q * static_cast<double>(f.size() - 1));
    EXPECT_NEAR(cuts.frequency[k], f[rank], f[rank] * 0.011) << k;
    EXPECT_NEAR(cuts.monetary[k], m[rank], m[rank] * 0.011) << k;
  }
  // Recency: at least k*20 % of customers are within cut k (by day), and the
  // cut is the newest such day.
  for (size_t k = 0; k < 4; ++k) {
    size_t within = 0;
    for (const auto& [id, v] : truth) {
      const int64_t day = std::get<0>(v) / kDay;
      if (static_cast<double>(now - day * kDay) <= cuts.recency_ms[k]) ++within;
    }
    EXPECT_GE(within * 5, truth.size() * (k + 1)) << k;
  }
  // With the cut points, customers score; about a fifth have M5.
  h.set_rfm_quantiles(&cuts);
  for (const auto& [id, v] : truth) h.Track(id, "Page Viewed", now);
  int m5 = 0;
  for (const auto& [id, v] : truth) m5 += h.customer(id).profile().rfm_m() == 5 ? 1 : 0;
  EXPECT_NEAR(m5, 80, 8);
  EXPECT_EQ(h.profile_stats().rfm_groups().at("top"), m5);
}

}  // namespace
}  // namespace cairn::flow::testing

namespace cairn::flow::testing {
namespace {

// The stage writes its events directly; the bytes are EventRecord's.
TEST(ProfileStage, EmittedEventsAreEventRecordBytes) {
  Host h;
  h.SetProfile(kProfile);
  h.Install(std::vector<std::string>{});
  const TimestampMs t0 = T("2026-03-01T00:00:00Z");
  h.Track("u\"9", "Order Completed", t0, R"({"total": 250.0})");
  ASSERT_FALSE(h.outbox().empty());
  for (const auto& r : h.outbox()) {
    auto j = nlohmann::json::parse(r.value());
    const auto want = profile::EventRecord(
        r.topic(), j["userId"].get<std::string>(), j["event"].get<std::string>(),
        j["messageId"].get<std::string>(), t0, j["properties"].dump(), j["context"].dump());
    EXPECT_EQ(r.value(), want.value());
    EXPECT_EQ(r.key(), "u\"9");
  }
}

// The profile YAML changes while the engine is down: after the restart the
// catalog generation is 1 again, as it was when the records were derived.
// The model's fingerprint still tells the records apart: their computed
// states are re-aligned by name (a trait keeps its value, a new one starts
// empty) and the segments are re-evaluated, without waiting for an event
// that touches their traits.
TEST(ProfileStage, AModelChangedAcrossARestartIsReAlignedByName) {
  auto before = profile::LoadProfile({{"p.yaml", R"(
traits:
  orders: { count: Order Completed }
  revenue: { sum: Order Completed, of: total }
)"}});
  auto after = profile::LoadProfile({{"p.yaml", R"(
traits:
  revenue: { sum: Order Completed, of: total }
  views: { count: Product Viewed }
segments:
  buyers: "traits.revenue > 0.0"
)"}});
  ASSERT_TRUE(before.model && after.model);
  ASSERT_NE(before.model->fingerprint, after.model->fingerprint);
  v1::CustomerState c;
  c.set_id("u1");
  Event e;
  e.user_id = "u1";
  e.name = "Order Completed";
  e.timestamp_ms = T("2026-04-01T10:00:00Z");
  e.properties_json = R"({"total": 80.0})";
  e.numeric_properties = {{"total", 80.0}};
  profile::Context ctx;
  ctx.now = e.timestamp_ms;
  ctx.generation = 1;  // the same before and after the restart
  profile::OnEvent(*before.model, ctx, c, e);
  profile::OnEvent(*before.model, ctx, c, e);
  // The restart, then an event that folds into no computed trait.
  Event other = e;
  other.name = "Signed Up";
  ctx.now += kDay;
  profile::OnEvent(*after.model, ctx, c, other);
  profile::EvalScope scope(c, ctx.now);
  scope.SetProfile(after.model.get());
  EXPECT_EQ(scope.Trait("revenue").double_value(), 160.0);
  EXPECT_EQ(scope.Trait("views").int_value(), 0);
  EXPECT_TRUE(scope.Trait("orders").is_null());
  EXPECT_THAT(Names(c.profile()), ElementsAre("buyers"));
  EXPECT_EQ(c.profile().model_fingerprint(), after.model->fingerprint);
}

}  // namespace
}  // namespace cairn::flow::testing

namespace cairn::flow::testing {
namespace {

// Label rules and segments whose conditions the stage reads straight from
// the computed traits (NumericTest) answer as the interpreter does, on
// generated data: every numeric aggregate, windows that empty (avg, min of
// none), a window over the entry cap (a head), && and || with
// short-circuit, the constant on either side, Int, Uint and Double
// constants; other conditions keep the interpreter.
constexpr const char* kNumericProfile = R"yaml(
traits:
  n_all: { count: Order Completed }
  n_7d: { count: Order Completed, window: 7d }
  n_long: { count: Order Completed, window: 3650d }
  s_all: { sum: Order Completed, of: total }
  s_7d: { sum: Order Completed, of: total, window: 7d }
  s_long: { sum: Order Completed, of: total, window: 3650d }
  a_all: { avg: Order Completed, of: total }
  a_7d: { avg: Order Completed, of: total, window: 7d }
  lo_7d: { min: Order Completed, of: total, window: 7d }
  hi_all: { max: Order Completed, of: total }
  hi_at: { max: Order Completed }
  d_7d: { distinct: Order Completed, of: category, window: 7d }
  last_at: { last: Order Completed }
  first_cat: { first: Order Completed, of: category }
labels:
  big-week: "traits.s_7d > 100.0 && traits.n_7d >= 2u"
  odd: "traits.first_cat == 'c1'"
segments:
  f1: "traits.n_7d >= 2 && traits.s_7d > 50.5"
  f2: "traits.a_7d < 40 || traits.lo_7d <= 10.25"
  f3: "3 <= traits.n_all && (traits.hi_all == 99.5 || traits.d_7d != 2)"
  f4: "traits.s_all >= 100 && traits.a_7d >= 20.0 || traits.n_7d == 0"
  f5: "traits.a_all > 45.25 && 2.0 > traits.d_7d"
  f6: "traits.n_7d < 4 && traits.d_7d <= 2 || traits.n_7d > 9 && 3 >= traits.d_7d"
  f7: "traits.n_7d == 5 || 7 < traits.n_7d && traits.d_7d != 4"
  f8: "traits.n_long >= 1030 && traits.s_long > 51000.5 || traits.n_all < 9007199254740992"
  f9: "traits.n_7d >= 3u || traits.n_long == 1100"
  g1: "has(traits.last_at)"
  g2: "traits.n_all >= 9007199254740993"
  g3: "traits.first_cat == 'c1'"
  g4: "traits.n_all + 1 > 2"
  g5: "traits.hi_at > 5"
)yaml";

// Order events of generated totals and categories, a few days apart at
// times (windows empty), more than the entry cap in all.
std::vector<Event> NumericStream() {
  std::mt19937_64 rng(11);
  std::vector<Event> out;
  TimestampMs now = T("2026-01-01T00:00:00Z");
  for (int step = 0; step < 1200; ++step) {
    now += static_cast<int64_t>(rng() % (step % 50 == 49 ? 12 * kDay : kDay / 2));
    Event e;
    e.user_id = "u1";
    e.name = "Order Completed";
    e.timestamp_ms = now;
    const double total = static_cast<double>(rng() % 400) / 4.0;
    e.properties_json = fmt::format(R"({{"total":{},"category":"c{}"}})", total, rng() % 4);
    e.numeric_properties = {{"total", total}};
    out.push_back(std::move(e));
  }
  return out;
}

TEST(ProfileStage, NumericTestsAnswerAsTheInterpreterDoes) {
  auto loaded = profile::LoadProfile({{"p.yaml", kNumericProfile}});
  ASSERT_TRUE(loaded.model) << loaded.diagnostics[0].ToString();
  const profile::Model& m = *loaded.model;
  struct Cond {
    std::string name;
    const journey::Condition* when;
    const profile::NumericTest* test;
  };
  std::vector<Cond> conds;
  for (size_t i = 0; i < m.segments.size(); ++i) {
    conds.push_back({m.segments[i].name, &m.segments[i].when, &m.segment_tests[i]});
    EXPECT_EQ(m.segment_tests[i].empty(), m.segments[i].name[0] == 'g') << m.segments[i].name;
  }
  for (size_t i = 0; i < m.labels.size(); ++i) {
    conds.push_back({m.labels[i].label, &m.labels[i].when, &m.label_tests[i]});
    EXPECT_EQ(m.label_tests[i].empty(), m.labels[i].label == "odd");
  }
  std::mt19937_64 rng(12);
  v1::CustomerState c;
  c.set_id("u1");
  int answered = 0, left = 0, trues = 0, step = 0;
  TimestampMs last = 0;
  for (const Event& e : NumericStream()) {
    last = e.timestamp_ms;
    profile::Context ctx;
    ctx.now = e.timestamp_ms;
    profile::OnEvent(m, ctx, c, e);
    for (const TimestampMs at : {ctx.now, ctx.now + static_cast<int64_t>(rng() % (8 * kDay))}) {
      profile::EvalScope scope(c, at);
      scope.SetProfile(&m);
      for (const Cond& k : conds) {
        if (k.test->empty()) continue;
        const auto fast = profile::EvalNumericTest(m, *k.test, c.profile().computed(), at);
        const auto slow = k.when->program.EvalBool(scope);
        if (fast) {
          ++answered;
          trues += *fast ? 1 : 0;
          ASSERT_TRUE(slow.ok()) << k.name << ": " << slow.status().ToString();
          EXPECT_EQ(*fast, slow.value()) << k.name << " at step " << step;
        } else {
          ++left;  // a trait without a value: the interpreter decides
          EXPECT_FALSE(k.when->program.EvalComparisons(scope)) << k.name;
        }
      }
    }
    ++step;
  }
  EXPECT_GT(answered, 10000);
  EXPECT_GT(trues, 2000);
  EXPECT_LT(trues, answered - 2000);
  EXPECT_GT(left, 50) << "windows emptied: avg and min of none";
  const auto n_long = static_cast<size_t>(m.FindTrait("n_long"));
  EXPECT_GT(c.profile().computed().head_of_size(), 0) << "a window went over the entry cap";
  EXPECT_TRUE(profile::ComputedValue(m, n_long, &c.profile().computed(), last)
                  .Equals(expr::Value::Int(1200)));
}

// The stage gives the same events, trace and record with its NumericTests
// as with the interpreter alone.
TEST(ProfileStage, NumericTestsChangeNothingTheStageDoes) {
  auto loaded = profile::LoadProfile({{"p.yaml", kNumericProfile}});
  ASSERT_TRUE(loaded.model) << loaded.diagnostics[0].ToString();
  const profile::Model& fast = *loaded.model;
  profile::Model slow = fast;  // the same compiled programs, without the tests
  for (auto* tests : {&slow.segment_tests, &slow.label_tests}) {
    for (auto& t : *tests) t.nodes.clear();
  }
  class Recorder final : public profile::Sink {
   public:
    void AddTimer(const timer::Timer& t) override {
      lines.push_back(fmt::format("timer {}", t.due_ms));
    }
    void Publish(const v1::OutboxRecord& r) override { lines.push_back(r.value()); }
    void Record(const v1::TraceEntry& e) override {
      lines.push_back(e.action() + " " + e.step() + " " + e.reason());
    }
    std::vector<std::string> lines;
  };
  Recorder with, without;
  v1::CustomerState a, b;
  a.set_id("u1");
  b.set_id("u1");
  for (const Event& e : NumericStream()) {
    profile::Context ctx;
    ctx.now = e.timestamp_ms;
    ctx.generation = 1;
    ctx.sink = &with;
    profile::OnEvent(fast, ctx, a, e);
    ctx.sink = &without;
    profile::OnEvent(slow, ctx, b, e);
  }
  EXPECT_GT(with.lines.size(), 500u);
  EXPECT_EQ(with.lines, without.lines);
  EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());
  EXPECT_THAT(with.lines, ::testing::Contains("label big-week added by rule"));
  EXPECT_THAT(with.lines, ::testing::Contains("label big-week removed by rule"));
}

}  // namespace
}  // namespace cairn::flow::testing
