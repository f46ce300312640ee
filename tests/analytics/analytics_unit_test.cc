// engine/analytics without Kafka: keys, the counter merge operator on a real
// RocksDB, the z-test against known values, histogram quantiles, the
// recorder's step accounting on hand-written traces, the heatmap folded into
// a daylight-saving zone, conversion intervals and paths.
#include <gtest/gtest.h>

#include <cmath>

#include "analytics/counter_merge.h"
#include "analytics/keys.h"
#include "analytics/reader.h"
#include "analytics/recorder.h"
#include "analytics/stats.h"
#include "cairn/time.h"
#include "test_support.h"

namespace cairn::analytics {
namespace {

TEST(AnalyticsKeys, RoundTrip) {
  const std::string k = Key(kJourneyKind, {"cart", "s:remind", "sent"}, 123456, 7);
  ParsedKey p;
  ASSERT_TRUE(ParseKey(k, p));
  EXPECT_EQ(p.kind, kJourneyKind);
  ASSERT_EQ(p.fields.size(), 3u);
  EXPECT_EQ(p.fields[0], "cart");
  EXPECT_EQ(p.fields[1], "s:remind");
  EXPECT_EQ(p.fields[2], "sent");
  EXPECT_EQ(p.hour, 123456u);
  EXPECT_EQ(p.partition, 7);
  // A \0 inside a name cannot split it.
  ASSERT_TRUE(ParseKey(Key(kEventKind, {std::string("a\0b", 3)}, 1, 0), p));
  ASSERT_EQ(p.fields.size(), 1u);
  EXPECT_EQ(p.fields[0], "a b");
  EXPECT_FALSE(ParseKey("short", p));
  EXPECT_EQ(HourOf(-5), 0u);
  EXPECT_EQ(HourOf(kHourMs * 5 + 1), 5u);
}

TEST(AnalyticsStats, TwoProportionZTestKnownValues) {
  // 200/1000 vs 150/1000: pooled p = 0.175, SE = sqrt(.175*.825*2/1000)
  // = 0.016993; z = 0.05 / 0.016993 = 2.9424; two-sided p = 0.003258.
  const Uplift u = TwoProportionZTest(200, 1000, 150, 1000);
  EXPECT_NEAR(u.absolute, 0.05, 1e-12);
  ASSERT_TRUE(u.relative.has_value());
  EXPECT_NEAR(*u.relative, 0.05 / 0.15, 1e-12);
  EXPECT_NEAR(u.z, 2.9424, 1e-4);
  EXPECT_NEAR(u.p_value, 0.003258, 1e-5);
  EXPECT_TRUE(u.significant);
  // Unpooled SE = sqrt(.2*.8/1000 + .15*.85/1000) = 0.016956; CI = 0.05 -+ 1.96*SE.
  EXPECT_NEAR(u.ci_low, 0.05 - 1.959964 * 0.0169558, 1e-5);
  EXPECT_NEAR(u.ci_high, 0.05 + 1.959964 * 0.0169558, 1e-5);

  // 52/500 vs 48/500: pooled p = 0.1, SE = sqrt(.1*.9*2/500) = 0.018974;
  // z = 0.008 / 0.018974 = 0.4216, p = 0.6733, not significant.
  const Uplift v = TwoProportionZTest(52, 500, 48, 500);
  EXPECT_NEAR(v.z, 0.4216, 1e-4);
  EXPECT_NEAR(v.p_value, 0.6733, 1e-4);
  EXPECT_FALSE(v.significant);
  EXPECT_LT(v.ci_low, 0);
  EXPECT_GT(v.ci_high, 0);

  // No test without data, or without variance.
  EXPECT_EQ(TwoProportionZTest(0, 0, 5, 10).p_value, 1);
  const Uplift w = TwoProportionZTest(0, 10, 0, 10);
  EXPECT_EQ(w.z, 0);
  EXPECT_FALSE(w.significant);
  EXPECT_FALSE(TwoProportionZTest(3, 10, 0, 10).relative.has_value());
}

TEST(AnalyticsStats, HistogramQuantile) {
  std::vector<double> bounds, counts_d;
  for (int b = 0; b < kIntervalBuckets; ++b) bounds.push_back(IntervalBucketBound(b));
  std::vector<uint64_t> counts(kIntervalBuckets, 0);
  EXPECT_FALSE(HistogramQuantile(bounds, counts, 0.5).has_value());
  counts[static_cast<size_t>(IntervalBucketOf(100))] = 10;  // (64, 128]
  auto p50 = HistogramQuantile(bounds, counts, 0.5);
  ASSERT_TRUE(p50.has_value());
  EXPECT_NEAR(*p50, 64 * std::sqrt(2.0), 1e-9);              // half way through, geometrically
  counts[static_cast<size_t>(IntervalBucketOf(5000))] = 90;  // (4096, 8192]
  auto p90 = HistogramQuantile(bounds, counts, 0.9);
  ASSERT_TRUE(p90.has_value());
  EXPECT_GT(*p90, 4096);
  EXPECT_LE(*p90, 8192);
  EXPECT_EQ(IntervalBucketOf(0), 0);
  EXPECT_EQ(IntervalBucketOf(1e12), kIntervalBuckets - 1);
}

class AnalyticsStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::StateStore::Open({.dir = dir_.Sub("db")});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  void Write(Recorder& r) {
    auto batch = store_->NewBatch();
    r.Stage(batch, store_->analytics_cf());
    ASSERT_TRUE(store_->Write(batch).ok());
  }
  Counters Journey(const std::string& name, const Range& range = {}) {
    auto all = ReadJourneys(*store_, range, name);
    EXPECT_TRUE(all.ok());
    return all.ok() && all->count(name) ? all->at(name) : Counters{};
  }
  static int64_t At(const Counters& c, const std::string& scope, const std::string& metric) {
    auto s = c.find(scope);
    if (s == c.end()) return 0;
    auto m = s->second.find(metric);
    return m == s->second.end() ? 0 : m->second;
  }

  testing::TempDir dir_;
  std::unique_ptr<state::StateStore> store_;
};

TEST_F(AnalyticsStoreTest, MergeAddsAcrossWritesAndReopen) {
  for (int i = 0; i < 3; ++i) {
    auto batch = store_->NewBatch();
    ASSERT_TRUE(batch.raw()
                    .Merge(store_->analytics_cf(), Key(kEventKind, {"Order Completed"}, 10, 0),
                           EncodeCounter(i == 2 ? -1 : 5))
                    .ok());
    ASSERT_TRUE(store_->Write(batch).ok());
  }
  store_.reset();
  auto s = state::StateStore::Open({.dir = dir_.Sub("db")});
  ASSERT_TRUE(s.ok());
  store_ = std::move(s).value();
  std::string v;
  ASSERT_TRUE(store_->db()
                  ->Get(rocksdb::ReadOptions(), store_->analytics_cf(),
                        Key(kEventKind, {"Order Completed"}, 10, 0), &v)
                  .ok());
  EXPECT_EQ(DecodeCounter(v), 9);
}

v1::TraceEntry T(TimestampMs at, uint64_t instance, const std::string& step,
                 const std::string& action, const std::string& channel = "") {
  v1::TraceEntry e;
  e.set_at_ms(at);
  e.set_journey("j");
  e.set_version(1);
  e.set_instance(instance);
  e.set_step(step);
  e.set_action(action);
  e.set_channel(channel);
  return e;
}

// A walk as the runtime traces it: enter, send, wait (rests); later the
// timer: waited, send, exit step; and a goal event with revenue.
TEST_F(AnalyticsStoreTest, RecorderStepsInStepGoalsCostsAndPaths) {
  Options o;
  o.cost_per_message = {{"email", 0.5}, {"sms", 2}};
  Recorder r(o);
  v1::CustomerState c;
  c.set_id("u1");
  const TimestampMs t0 = int64_t{1800000} * kHourMs;  // an hour boundary
  // Walk 1: the event that enters.
  Event e;
  e.name = "Product Added";
  e.timestamp_ms = t0;
  r.OnEvent(0, e, c, nullptr);
  auto* inst = c.add_instances();
  inst->set_journey("j");
  inst->set_id(1);
  inst->set_arm("B");
  r.OnTrace(T(t0, 1, "", "enter"), c);
  inst->set_step_id("hello");
  r.OnTrace(T(t0, 1, "hello", "send", "email"), c);
  r.OnTrace(T(t0, 1, "pick", "split"), c);
  inst->set_step_id("pause");
  r.OnTrace(T(t0, 1, "pause", "wait"), c);
  Write(r);
  Counters now = Journey("j");
  EXPECT_EQ(At(now, "", kEntered), 1);
  EXPECT_EQ(At(now, "", kInStep), 1);
  EXPECT_EQ(At(now, "s:pause", kInStep), 1);
  EXPECT_EQ(At(now, "s:hello", kInStep), 0);
  EXPECT_EQ(At(now, "s:hello", kExited), 1);
  EXPECT_EQ(At(now, "s:hello", kSent), 1);
  EXPECT_EQ(At(now, "a:B", kEntered), 1);
  EXPECT_EQ(At(now, "", kCost), 500000);

  // Walk 2: the timer, an hour later. The instance rests at `pause`.
  r.Begin(0, c, nullptr, nullptr);
  r.OnTrace(T(t0 + kHourMs, 1, "pause", "waited"), c);
  inst->set_step_id("text");
  r.OnTrace(T(t0 + kHourMs, 1, "text", "send", "sms"), c);
  inst->set_step_id("done");
  r.OnTrace(T(t0 + kHourMs, 1, "done", "exit"), c);
  inst->set_done(true);
  Write(r);
  // Walk 3: the goal, with revenue, after the exit.
  Event order;
  order.name = "Order Completed";
  order.timestamp_ms = t0 + 2 * kHourMs;
  order.numeric_properties = {{"quantity", 2}, {"total", 80}, {"revenue", 75.5}};
  r.OnEvent(0, order, c, nullptr);
  r.OnTrace(T(order.timestamp_ms, 1, "done", "goal"), c);
  Write(r);

  now = Journey("j");
  EXPECT_EQ(At(now, "", kInStep), 0);
  EXPECT_EQ(At(now, "s:pause", kInStep), 0);
  EXPECT_EQ(At(now, "s:done", kInStep), 0);
  EXPECT_EQ(At(now, "s:pause", kExited), 1);
  EXPECT_EQ(At(now, "s:done", kEntered), 1);
  EXPECT_EQ(At(now, "", kExited), 1);
  EXPECT_EQ(At(now, "", kGoal), 1);
  EXPECT_EQ(At(now, "", kRevenue), 75500000);  // `revenue` before `total`
  EXPECT_EQ(At(now, "a:B", kGoal), 1);
  EXPECT_EQ(At(now, "a:B", kRevenue), 75500000);
  EXPECT_EQ(At(now, "", kSent), 2);
  EXPECT_EQ(At(now, "", kCost), 2500000);

  // The range: only the first hour; running counters stay current.
  const Counters first = Journey("j", {t0, t0 + kHourMs});
  EXPECT_EQ(At(first, "", kEntered), 1);
  EXPECT_EQ(At(first, "", kSent), 1);
  EXPECT_EQ(At(first, "", kGoal), 0);
  EXPECT_EQ(At(first, "", kInStep), 0);

  auto paths = ReadPaths(*store_, "j", {}, 10);
  ASSERT_TRUE(paths.ok());
  ASSERT_EQ(paths->size(), 1u);
  EXPECT_EQ((*paths)[0].steps,
            (std::vector<std::string>{"hello", "pick", "pause", "text", "done"}));
  EXPECT_EQ((*paths)[0].count, 1u);
  EXPECT_EQ(inst->analytics_path_size(), 0);  // cleared once counted
}

TEST_F(AnalyticsStoreTest, HoldoutArmAndOutcomes) {
  Recorder r;
  v1::CustomerState c;
  auto* inst = c.add_instances();
  inst->set_journey("j");
  inst->set_id(1);
  inst->set_arm("control");
  r.Begin(3, c, nullptr, nullptr);
  r.OnTrace(T(1000, 1, "", "enter"), c);
  r.OnTrace(T(1000, 1, "split", "holdout"), c);
  r.OnTrace(T(1000, 1, "split", "exit"), c);
  Event opened;
  opened.name = "Message Opened";
  opened.timestamp_ms = 2000;
  opened.properties_json = R"({"task_id":"t","journey":"j","step":"hello","channel":"email"})";
  r.OnEvent(3, opened, c, nullptr);
  Event bad;
  bad.name = "Message Clicked";
  bad.properties_json = "not json";
  r.OnEvent(3, bad, c, nullptr);  // never crashes, counts nothing
  Write(r);
  const Counters now = Journey("j");
  EXPECT_EQ(At(now, "a:control", kEntered), 1);
  EXPECT_EQ(At(now, "a:control", kHoldout), 1);
  EXPECT_EQ(At(now, "s:split", kInStep), 0);
  EXPECT_EQ(At(now, "", kInStep), 0);
  EXPECT_EQ(At(now, "", "opened"), 1);
  EXPECT_EQ(At(now, "s:hello", "opened"), 1);
  EXPECT_EQ(At(now, "", "clicked"), 0);
}

// 2026-03-29 01:00 UTC Berlin jumps from 02:00 (CET) to 03:00 (CEST).
TEST_F(AnalyticsStoreTest, HeatmapInDaylightSavingZone) {
  Recorder r;
  v1::CustomerState c;
  auto at = [](const char* s) { return *ParseTimestamp(s); };
  const char* times[] = {
      "2026-03-28T23:30:00Z",  // Sun 00:30 CET (UTC+1)... Sat 23:30 UTC
      "2026-03-29T00:10:00Z",  // Sun 01:10 CET
      "2026-03-29T01:10:00Z",  // Sun 03:10 CEST (UTC+2): no local 02:xx
      "2026-03-29T01:50:00Z",  // Sun 03:50 CEST
      "2026-03-30T10:00:00Z",  // Mon 12:00 CEST
  };
  for (const char* t : times) {
    Event e;
    e.name = "Order Completed";
    e.timestamp_ms = at(t);
    r.OnEvent(0, e, c, nullptr);
  }
  Event other;
  other.name = "Page Viewed";
  other.timestamp_ms = at("2026-03-30T10:00:00Z");
  r.OnEvent(1, other, c, nullptr);
  Write(r);
  auto h = ReadHeatmap(*store_, "Order Completed", {}, "Europe/Berlin");
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->total, 5u);
  EXPECT_EQ(h->cells[6][0], 1u);   // Sun 00
  EXPECT_EQ(h->cells[6][1], 1u);   // Sun 01
  EXPECT_EQ(h->cells[6][2], 0u);   // Sun 02 does not exist that day
  EXPECT_EQ(h->cells[6][3], 2u);   // Sun 03 (both events share the 01:00 UTC bucket)
  EXPECT_EQ(h->cells[0][12], 1u);  // Mon 12
  auto utc = ReadHeatmap(*store_, "Order Completed", {}, "UTC");
  ASSERT_TRUE(utc.ok());
  EXPECT_EQ(utc->cells[5][23], 1u);  // Sat 23 UTC
  EXPECT_EQ(utc->cells[6][1], 2u);
  EXPECT_EQ(ReadHeatmap(*store_, "Order Completed", {}, "Mars/Olympus").status().code(),
            StatusCode::kInvalidArgument);
  // A range of one day (UTC) keeps only its buckets.
  auto sunday = ReadHeatmap(*store_, "Order Completed",
                            {at("2026-03-29T00:00:00Z"), at("2026-03-30T00:00:00Z")}, "UTC");
  ASSERT_TRUE(sunday.ok());
  EXPECT_EQ(sunday->total, 3u);
}

TEST_F(AnalyticsStoreTest, EventNamesAreBounded) {
  Options o;
  o.max_event_names = 2;
  {
    Recorder r(o);
    v1::CustomerState c;
    for (const char* n : {"A", "B", "C", "D", "A"}) {
      Event e;
      e.name = n;
      e.timestamp_ms = 5000;
      r.OnEvent(0, e, c, nullptr);
    }
    Write(r);
  }
  auto count = [&](const char* name) {
    auto h = ReadHeatmap(*store_, name, {}, "UTC");
    return h.ok() ? h->total : 0;
  };
  EXPECT_EQ(count("A"), 2u);
  EXPECT_EQ(count("B"), 1u);
  EXPECT_EQ(count("C"), 0u);
  EXPECT_EQ(count("(other)"), 2u);
  // After a restart the names known are read back: B keeps counting.
  Recorder again(o);
  ASSERT_TRUE(again.Load(*store_).ok());
  v1::CustomerState c;
  for (const char* n : {"B", "E"}) {
    Event e;
    e.name = n;
    e.timestamp_ms = 5000;
    again.OnEvent(0, e, c, nullptr);
  }
  Write(again);
  EXPECT_EQ(count("B"), 2u);
  EXPECT_EQ(count("(other)"), 3u);
}

TEST_F(AnalyticsStoreTest, ConversionIntervals) {
  Options o;
  o.intervals = {{"Product Added", "Order Completed"}};
  Recorder r(o);
  const int64_t gaps_s[] = {30, 100, 100, 3000, 90000};
  for (size_t i = 0; i < std::size(gaps_s); ++i) {
    v1::CustomerState c;
    auto* s = c.add_events();
    s->set_name("Product Added");
    s->set_last_at_ms(1'000'000'000);
    Event e;
    e.name = "Order Completed";
    e.timestamp_ms = 1'000'000'000 + gaps_s[i] * 1000;
    r.OnEvent(static_cast<int32_t>(i % 3), e, c, nullptr);
  }
  v1::CustomerState never;  // no Product Added: not counted
  Event e;
  e.name = "Order Completed";
  e.timestamp_ms = 5;
  r.OnEvent(0, e, never, nullptr);
  Write(r);
  auto iv = ReadIntervals(*store_, "Product Added", "Order Completed", {});
  ASSERT_TRUE(iv.ok());
  EXPECT_EQ(iv->count, 5u);
  EXPECT_EQ(iv->counts[static_cast<size_t>(IntervalBucketOf(100))], 2u);
  EXPECT_EQ(iv->counts[static_cast<size_t>(IntervalBucketOf(90000))], 1u);
  auto p50 = HistogramQuantile(iv->bounds, iv->counts, 0.5);
  ASSERT_TRUE(p50.has_value());
  EXPECT_GT(*p50, 64);
  EXPECT_LE(*p50, 128);
  auto other = ReadIntervals(*store_, "Product Added", "Checkout", {});
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->count, 0u);
}

}  // namespace
}  // namespace cairn::analytics
