// Journey analytics on the real engine (librdkafka mock cluster, real
// RocksDB, event-time clock): a generated stream of customers entering an
// A/B/holdout journey, converting (or not) with revenue, against a brute
// force over the same stream and over the stored customer records; the
// HTTP API's numbers against the counters; and exactly-once: the stream's
// first messages delivered again after a restart count nothing twice.
#include <date/date.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "analytics/keys.h"
#include "analytics/reader.h"
#include "cairn/time.h"
#include "engine_api_fixture.h"

namespace cairn {
namespace {

constexpr int kPartitionCount = 4;
constexpr int kCustomers = 300;
constexpr int64_t kMinute = 60 * 1000, kHour = 60 * kMinute;
constexpr int64_t kGoalWindow = 48 * kHour;
constexpr double kRevenue = 10;

constexpr const char* kJourney = R"(journey: promo
version: 1
when:
  event: Product Added
who:
  consent: { email: implied, sms: implied }
entry:
  reentry: never
goal:
  event: Order Completed
  within: 2d
steps:
  - id: pick
    split:
      - { arm: A, weight: 45, next: email_a }
      - { arm: B, weight: 45, next: email_b }
      - { arm: control, weight: 10, holdout: true }
  - id: email_a
    send: { channel: email, template: a, params: { coupon_cost: 1.5 } }
    next: pause
  - id: email_b
    send: { channel: email, template: b }
  - id: pause
    wait: 3d
  - id: text
    send: { channel: sms, template: t }
  - id: done
    exit: done
)";

struct Generated {
  TimestampMs at;
  std::string customer, json;
};

// What the stream says, computed without the engine.
struct Truth {
  std::map<std::string, std::string> arm;  // customer -> arm
  std::map<std::string, int> goals_by_arm;
  int goals = 0;
  std::array<std::array<uint64_t, 24>, 7> order_cells{};
  uint64_t orders = 0;
  std::map<int, uint64_t> interval_buckets;
};

std::string ArmOf(const std::string& customer) {
  const uint32_t b = flow::Runtime::SplitBucket(customer, "promo", "pick");
  return b < 45 ? "A" : b < 90 ? "B" : "control";
}

std::vector<Generated> Generate(Truth& truth) {
  std::mt19937_64 rng(20261205);
  const TimestampMs base = *ParseTimestamp("2026-11-02T00:00:00Z");  // a Monday
  std::vector<Generated> out;
  auto event = [&](const std::string& user, const char* name, TimestampMs at, int seq,
                   nlohmann::json props) {
    nlohmann::json e = {{"type", "track"},
                        {"userId", user},
                        {"event", name},
                        {"messageId", user + "-" + std::to_string(seq)},
                        {"timestamp", FormatTimestamp(at)},
                        {"properties", std::move(props)}};
    out.push_back({at, user, e.dump()});
  };
  for (int i = 0; i < kCustomers; ++i) {
    const std::string user = "u" + std::to_string(i);
    const TimestampMs added =
        base + static_cast<int64_t>(rng() % static_cast<uint64_t>(7 * 24 * kHour));
    event(user, "Product Added", added, 0, {{"sku", "s1"}});
    truth.arm[user] = ArmOf(user);
    if (rng() % 3 != 0) {  // two in three order, some after the goal window
      const TimestampMs ordered =
          added + 10 * kMinute + static_cast<int64_t>(rng() % static_cast<uint64_t>(72 * kHour));
      event(user, "Order Completed", ordered, 1, {{"revenue", kRevenue}, {"order_id", user}});
      truth.orders++;
      const auto t = date::sys_seconds(std::chrono::seconds(ordered / 1000));
      const auto day = date::floor<date::days>(t);
      truth.order_cells[date::weekday(day).iso_encoding() - 1]
                       [static_cast<size_t>((t - day).count() / 3600)]++;
      truth.interval_buckets[analytics::IntervalBucketOf(static_cast<double>(ordered - added) /
                                                         1000.0)]++;
      if (ordered - added <= kGoalWindow) {
        truth.goals++;
        truth.goals_by_arm[truth.arm[user]]++;
      }
    }
    const int views = static_cast<int>(rng() % 3);
    for (int v = 0; v < views; ++v) {
      event(user, "Page Viewed", added + static_cast<int64_t>(rng() % (24 * kHour)), 2 + v,
            nlohmann::json::object());
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Generated& a, const Generated& b) { return a.at < b.at; });
  return out;
}

class AnalyticsEngineTest : public testing::EngineApiFixture {
 protected:
  void SetUp() override {
    SetUpEngine(
        {.name = "an", .journeys = {{"promo.yaml", kJourney}}, .partitions = kPartitionCount});
    options_.event_time_clock = true;
    options_.analytics.cost_per_message = {{"email", 0.01}, {"sms", 0.05}};
    options_.analytics.intervals = {{"Product Added", "Order Completed"}};
  }

  void ConfigureApi(api::EngineApiContext& ctx, api::ServerOptions&) override {
    ctx.analytics_intervals = options_.analytics.intervals;
  }

  void Produce(const std::vector<Generated>& events, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      ASSERT_TRUE(
          producer_->Produce(options_.topics.events, events[i].customer, events[i].json).ok());
    }
    ASSERT_TRUE(producer_->Flush(20000).ok());
  }

  // Every produced message consumed and written (events + duplicates).
  bool Consumed(uint64_t n) {
    return testing::WaitFor(
        [&] {
          const auto m = engine_->metrics();
          return m.events + m.duplicates + m.dead_letters >= n && m.batches > 0;
        },
        std::chrono::seconds(40));
  }

  analytics::Counters Counters() {
    auto all = analytics::ReadJourneys(*store_, {}, "promo");
    EXPECT_TRUE(all.ok());
    return all.ok() && all->count("promo") ? all->at("promo") : analytics::Counters{};
  }
  static int64_t At(const analytics::Counters& c, const std::string& scope, const char* metric) {
    auto s = c.find(scope);
    if (s == c.end()) return 0;
    auto m = s->second.find(metric);
    return m == s->second.end() ? 0 : m->second;
  }
};

TEST_F(AnalyticsEngineTest, CountersMatchBruteForceAndSurviveRedelivery) {
  Truth truth;
  const auto events = Generate(truth);
  StartEngine();
  ASSERT_TRUE(testing::WaitFor([&] { return engine_->ready(); }, std::chrono::seconds(30)));
  Produce(events, events.size());
  ASSERT_TRUE(Consumed(events.size()));
  // The last write is in flight until the next batch: give it one more poll.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        uint64_t sum = 0;
        for (const auto& [p, off] : engine_->committed_offsets()) sum += static_cast<uint64_t>(off);
        return sum >= events.size();
      },
      std::chrono::seconds(20)));
  // Timers due before the stream's end fire in the iterations after it:
  // wait until the counters (and the decision counts) stop moving.
  analytics::Counters last;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto now = Counters();
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        const bool stable = now == last && now == Counters();
        last = std::move(now);
        return stable;
      },
      std::chrono::seconds(30)));
  const auto c = Counters();
  const auto trace = engine_->journey_counts();
  auto traced = [&](const std::string& key) {
    auto it = trace.find(key);
    return it == trace.end() ? int64_t{0} : static_cast<int64_t>(it->second);
  };
  auto traced_action = [&](const std::string& action) {
    int64_t n = 0;
    for (const auto& [k, v] : trace) {
      if (k.size() > action.size() &&
          k.compare(k.size() - action.size() - 1, std::string::npos, "/" + action) == 0) {
        n += static_cast<int64_t>(v);
      }
    }
    return n;
  };

  // Entries, arms and goals: the stream decides them.
  EXPECT_EQ(At(c, "", analytics::kEntered), kCustomers);
  std::map<std::string, int> arm_sizes;
  for (const auto& [u, arm] : truth.arm) arm_sizes[arm]++;
  for (const auto& [arm, n] : arm_sizes) {
    EXPECT_EQ(At(c, "a:" + arm, analytics::kEntered), n) << arm;
    EXPECT_EQ(At(c, "a:" + arm, analytics::kGoal), truth.goals_by_arm[arm]) << arm;
  }
  EXPECT_EQ(At(c, "a:control", analytics::kHoldout), arm_sizes["control"]);
  EXPECT_EQ(At(c, "", analytics::kGoal), truth.goals);
  EXPECT_EQ(At(c, "", analytics::kRevenue), static_cast<int64_t>(truth.goals * kRevenue * 1e6));
  EXPECT_GT(truth.goals, 20);

  // Steps and sends: as the decision trace counted them, independently.
  EXPECT_EQ(At(c, "s:email_a", analytics::kSent), traced("promo/email_a/send"));
  EXPECT_EQ(At(c, "s:email_a", analytics::kSent), arm_sizes["A"]);
  EXPECT_EQ(At(c, "s:email_b", analytics::kSent), arm_sizes["B"]);
  EXPECT_EQ(At(c, "s:text", analytics::kSent), traced("promo/text/send"));
  EXPECT_GT(At(c, "s:text", analytics::kSent), 0);
  EXPECT_EQ(At(c, "", analytics::kSent), traced_action("send"));
  EXPECT_EQ(At(c, "", analytics::kExited), traced_action("exit"));
  EXPECT_EQ(At(c, "s:pick", analytics::kEntered), kCustomers);
  EXPECT_EQ(At(c, "s:pause", analytics::kEntered), arm_sizes["A"] + arm_sizes["B"]);
  const int64_t cost_micros =
      std::llround((0.01 * static_cast<double>(arm_sizes["A"] + arm_sizes["B"]) +
                    0.05 * static_cast<double>(At(c, "s:text", analytics::kSent)) +
                    1.5 * static_cast<double>(arm_sizes["A"])) *
                   1e6);
  EXPECT_EQ(At(c, "", analytics::kCost), cost_micros);

  // In step now: a brute force over the stored customer records.
  std::map<std::string, int64_t> resting;
  int64_t active = 0;
  ASSERT_TRUE(store_
                  ->ScanCustomers([&](int32_t, const v1::CustomerState& s) {
                    for (const auto& inst : s.instances()) {
                      if (inst.done()) continue;
                      ++active;
                      resting[inst.step_id()]++;
                    }
                    return true;
                  })
                  .ok());
  EXPECT_EQ(At(c, "", analytics::kInStep), active);
  EXPECT_EQ(At(c, "", analytics::kInStep),
            At(c, "", analytics::kEntered) - At(c, "", analytics::kExited));
  for (const char* step : {"pick", "email_a", "email_b", "pause", "text", "done"}) {
    EXPECT_EQ(At(c, std::string("s:") + step, analytics::kInStep), resting[step]) << step;
  }
  EXPECT_GT(resting["pause"], 0);  // the stream ends while some still wait

  // Heatmap and intervals against the stream.
  auto h = analytics::ReadHeatmap(*store_, "Order Completed", {}, "UTC");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->total, truth.orders);
  EXPECT_EQ(h->cells, truth.order_cells);
  auto iv = analytics::ReadIntervals(*store_, "Product Added", "Order Completed", {});
  ASSERT_TRUE(iv.ok());
  EXPECT_EQ(iv->count, truth.orders);
  for (const auto& [b, n] : truth.interval_buckets) {
    EXPECT_EQ(iv->counts[static_cast<size_t>(b)], n) << b;
  }

  // Paths: every exited instance has one.
  auto paths = analytics::ReadPaths(*store_, "promo", {}, 100);
  ASSERT_TRUE(paths.ok());
  uint64_t path_total = 0;
  for (const auto& p : *paths) path_total += p.count;
  EXPECT_EQ(static_cast<int64_t>(path_total), At(c, "", analytics::kExited));
  ASSERT_FALSE(paths->empty());
  EXPECT_EQ((*paths)[0].steps.front(), "pick");

  // The API serves the same numbers.
  const std::string addr = http_->address();
  auto r = testing::HttpGet(addr, "/v1/analytics/journeys/promo");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["totals"]["entered"], kCustomers);
  EXPECT_EQ(j["totals"]["goal"], truth.goals);
  EXPECT_DOUBLE_EQ(j["totals"]["revenue"].get<double>(), truth.goals * kRevenue);
  ASSERT_EQ(j["steps"].size(), 6u);
  EXPECT_EQ(j["steps"][0]["step"], "pick");
  EXPECT_EQ(j["steps"][1]["channel"], "email");
  EXPECT_EQ(j["funnel"][0]["count"], kCustomers);
  ASSERT_EQ(j["arms"].size(), 2u);
  EXPECT_EQ(j["arms"][0]["arm"], "A");
  EXPECT_EQ(j["holdout"]["entered"], arm_sizes["control"]);
  ASSERT_EQ(j["uplift"].size(), 2u);
  EXPECT_EQ(j["uplift"][0]["vs"], "holdout");
  auto list = testing::HttpGet(addr, "/v1/analytics/journeys?from=0");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(nlohmann::json::parse(list.body)["journeys"][0]["entered"], kCustomers);
  auto heat =
      testing::HttpGet(addr, "/v1/analytics/heatmap?event=Order%20Completed&tz=Europe/Berlin");
  ASSERT_EQ(heat.status, 200) << heat.body;
  EXPECT_EQ(nlohmann::json::parse(heat.body)["total"], truth.orders);
  EXPECT_EQ(testing::HttpGet(addr, "/v1/analytics/intervals?from_event=A&to_event=B").status, 404);
  auto ivr = testing::HttpGet(
      addr, "/v1/analytics/intervals?from_event=Product%20Added&to_event=Order%20Completed");
  ASSERT_EQ(ivr.status, 200) << ivr.body;
  EXPECT_EQ(nlohmann::json::parse(ivr.body)["count"], truth.orders);
  EXPECT_EQ(testing::HttpGet(addr, "/v1/analytics/journeys/nope").status, 404);
  EXPECT_EQ(testing::HttpGet(addr, "/v1/analytics/journeys?from=yesterday").status, 400);

  // Exactly-once: after a restart, the first 400 messages again (a
  // producer's retry, a replayed batch). Nothing they carry is counted
  // again; only timers may still fire (the waits of the stream's last days),
  // and every counter stays consistent with the stored records.
  StopEngine();
  StartEngine();
  ASSERT_TRUE(testing::WaitFor([&] { return engine_->ready(); }, std::chrono::seconds(30)));
  const size_t again = std::min<size_t>(400, events.size());
  Produce(events, again);
  ASSERT_TRUE(testing::WaitFor([&] { return engine_->metrics().duplicates >= again; },
                               std::chrono::seconds(40)));
  StopEngine();
  const auto c2 = Counters();
  for (const char* scope : {"", "a:A", "a:B", "a:control", "s:pick", "s:email_a", "s:email_b"}) {
    for (const char* metric : {analytics::kEntered, analytics::kGoal, analytics::kRevenue}) {
      EXPECT_EQ(At(c2, scope, metric), At(c, scope, metric)) << scope << " " << metric;
    }
  }
  int64_t active2 = 0, pausing2 = 0;
  ASSERT_TRUE(store_
                  ->ScanCustomers([&](int32_t, const v1::CustomerState& s) {
                    for (const auto& inst : s.instances()) {
                      if (inst.done()) continue;
                      ++active2;
                      if (inst.step_id() == "pause") ++pausing2;
                    }
                    return true;
                  })
                  .ok());
  EXPECT_EQ(At(c2, "", analytics::kInStep), active2);
  EXPECT_EQ(At(c2, "s:pause", analytics::kInStep), pausing2);
  EXPECT_EQ(At(c2, "", analytics::kEntered) - At(c2, "", analytics::kExited), active2);
  EXPECT_EQ(At(c2, "s:text", analytics::kSent), At(c2, "s:pause", analytics::kExited));
  EXPECT_EQ(At(c2, "s:done", analytics::kEntered), At(c2, "s:pause", analytics::kExited));
  EXPECT_EQ(At(c2, "", analytics::kExited),
            At(c2, "a:control", analytics::kHoldout) + At(c2, "s:done", analytics::kExited));
  EXPECT_EQ(At(c2, "", analytics::kSent), At(c2, "s:email_a", analytics::kSent) +
                                              At(c2, "s:email_b", analytics::kSent) +
                                              At(c2, "s:text", analytics::kSent));
  auto h2 = analytics::ReadHeatmap(*store_, "Order Completed", {}, "UTC");
  ASSERT_TRUE(h2.ok());
  EXPECT_EQ(h2->total, truth.orders);
  auto iv2 = analytics::ReadIntervals(*store_, "Product Added", "Order Completed", {});
  ASSERT_TRUE(iv2.ok());
  EXPECT_EQ(iv2->count, truth.orders);
  auto paths2 = analytics::ReadPaths(*store_, "promo", {}, 100);
  ASSERT_TRUE(paths2.ok());
  uint64_t path_total2 = 0;
  for (const auto& p : *paths2) path_total2 += p.count;
  EXPECT_EQ(static_cast<int64_t>(path_total2), At(c2, "", analytics::kExited));
}

}  // namespace
}  // namespace cairn
