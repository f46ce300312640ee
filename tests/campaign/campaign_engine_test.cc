// Campaign runs in the real engine: embedded broker, real RocksDB, the
// customers seeded straight into the customers column family.
//  - a once run enters exactly the audience (a trait condition, minus the
//    opted-out), throttled to its rate, through the same record events fold
//    into (a later event moves the entered instance on), records the run on
//    every customer, shows in /v1/status, and does not run again on restart;
//  - a cron run on the event-time clock runs when its tick is due, and ticks
//    missed while the engine was down make one run, not one per tick.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "cairn/time.h"
#include "engine_api_fixture.h"

namespace cairn {
namespace {

using nlohmann::json;
constexpr int kPartitionCount = 4;

std::string Name(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "u%03d", i);
  return buf;
}

struct Task {
  std::string customer, step;
  uint64_t instance = 0;
  TimestampMs created_at = 0;  // when the engine decided it (wall clock here)
};

class CampaignEngineTest : public testing::EngineApiFixture {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(SetUpEngine({.name = "ct", .partitions = kPartitionCount}));
    OpenTaskReader();
  }

  void ConfigureApi(api::EngineApiContext& ctx, api::ServerOptions&) override {
    ctx.campaigns = [e = engine_.get()] { return e->campaigns(); };
  }

  // Customers written as the engine would have stored them.
  void Seed(int n, const std::function<std::string(int)>& traits) {
    auto batch = store_->NewBatch();
    for (int i = 0; i < n; ++i) {
      v1::CustomerState c;
      c.set_id(Name(i));
      c.set_traits_json(traits(i));
      c.set_first_seen_ms(1000);
      c.set_events_total(1);
      batch.PutCustomer(PartitionForKey(c.id(), kPartitionCount), c);
    }
    ASSERT_TRUE(store_->Write(batch).ok());
  }

  void Track(const std::string& user, const std::string& event, const std::string& id,
             const std::string& ts = "") {
    json e = {{"type", "track"}, {"userId", user}, {"event", event}, {"messageId", id}};
    if (!ts.empty()) e["timestamp"] = ts;
    ASSERT_TRUE(producer_->Produce(options_.topics.events, user, e.dump()).ok());
    ASSERT_TRUE(producer_->Flush(10000).ok());
  }

  // Reads tasks for `ms` or until `pred` holds.
  bool ReadTasks(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred() && std::chrono::steady_clock::now() < deadline) {
      auto j = json::parse(NextTask(50), nullptr, false);
      if (!j.is_object()) continue;
      const std::string id = j["task_id"].get<std::string>();
      if (!ids_.insert(id).second) continue;  // an outbox copy
      tasks_read_.push_back({j["customer_id"].get<std::string>(), j["step"].get<std::string>(),
                             j["instance"],
                             ParseTimestamp(j["created_at"].get<std::string>()).value_or(0)});
    }
    return pred();
  }

  size_t Count(const std::string& step, uint64_t instance = 0) {
    size_t n = 0;
    for (const auto& t : tasks_read_)
      n += t.step == step && (instance == 0 || t.instance == instance);
    return n;
  }

  json Campaigns() {
    auto r = testing::HttpGet(http_->address(), "/v1/status");
    auto j = json::parse(r.body, nullptr, false);
    return j.is_object() && j.contains("campaigns") ? j["campaigns"] : json();
  }

  json Run(const std::string& journey) {
    auto c = Campaigns();
    if (!c.is_object()) return json();
    for (const auto& r : c["runs"]) {
      if (r["journey"] == journey) return r;
    }
    return json();
  }

  std::set<std::string> ids_;
  std::vector<Task> tasks_read_;
};

constexpr char kPromo[] = R"(journey: promo
version: 1
when:
  schedule:
    at: 2026-01-01T00:00:00Z
    rate: 150
who:
  where: traits.tier == 'gold'
  consent: { email: implied }
entry:
  reentry: always
steps:
  - id: promo
    send: { channel: email, template: promo }
  - id: wait_order
    wait_for:
      event: Order Completed
      timeout: 1h
      on_event: thanks
      on_timeout: done
  - id: thanks
    send: { channel: email, template: thanks }
  - id: done
    exit: done
)";

TEST_F(CampaignEngineTest, OnceRunEntersTheAudienceThrottledAndOnlyOnce) {
  constexpr int kCustomers = 600;
  std::set<std::string> audience;
  Seed(kCustomers, [&](int i) {
    if (i % 3 != 0) return std::string(R"({"tier":"silver"})");
    if (i % 30 == 0) return std::string(R"({"tier":"gold","consent":{"email":false}})");
    audience.insert(Name(i));
    return std::string(R"({"tier":"gold"})");
  });
  ASSERT_EQ(audience.size(), 180u);
  std::ofstream(journeys_ + "/promo.yaml") << kPromo;
  StartEngine();

  ASSERT_TRUE(
      ReadTasks([&] { return Count("promo") >= audience.size(); }, std::chrono::seconds(30)))
      << Count("promo") << " of " << audience.size() << " entered";
  // Throttled: 150/s with a bucket that starts at 15 needs more than a
  // second between the first decision and the last.
  TimestampMs first = 0, last = 0;
  std::set<std::string> entered;
  for (const auto& t : tasks_read_) {
    if (t.step != "promo") continue;
    first = first == 0 ? t.created_at : std::min(first, t.created_at);
    last = std::max(last, t.created_at);
    EXPECT_TRUE(audience.contains(t.customer)) << t.customer << " is not in the audience";
    EXPECT_TRUE(entered.insert(t.customer).second) << t.customer << " entered twice";
    EXPECT_EQ(t.instance, 1u);
  }
  EXPECT_EQ(entered, audience);
  EXPECT_GT(last - first, 800) << "180 entries at 150/s came too fast";
  EXPECT_LT(last - first, 6000);

  ASSERT_TRUE(
      testing::WaitFor([&] { return Run("promo")["state"] == "done"; }, std::chrono::seconds(10)))
      << Campaigns().dump();
  const json run = Run("promo");
  EXPECT_EQ(run["scanned"], kCustomers) << run.dump();
  EXPECT_EQ(run["entered"], audience.size()) << run.dump();
  EXPECT_EQ(run["run_at"], "2026-01-01T00:00:00.000Z");
  EXPECT_EQ(run["partition_runs"], kPartitionCount);
  EXPECT_EQ(Campaigns()["process"]["entered"], audience.size());

  // An event folds into the record the campaign entered: the waiting
  // instance takes its branch.
  Track("u003", "Order Completed", "o-1");
  ASSERT_TRUE(ReadTasks([&] { return Count("thanks") == 1; }, std::chrono::seconds(20)));

  // A restart does not run the campaign again.
  StopEngine();
  StartEngine();
  ASSERT_TRUE(testing::WaitFor([&] { return engine_->ready(); }, std::chrono::seconds(30)));
  ReadTasks([] { return false; }, std::chrono::milliseconds(2000));
  EXPECT_EQ(Count("promo"), audience.size());
  EXPECT_EQ(Run("promo")["state"], "done");

  // Every entered customer's record names the run.
  const TimestampMs at = *ParseTimestamp("2026-01-01T00:00:00Z");
  for (const auto& id : audience) {
    auto c = store_->GetCustomer(PartitionForKey(id, kPartitionCount), id);
    ASSERT_TRUE(c.ok() && c->has_value()) << id;
    bool found = false;
    for (const auto& e : (*c)->journey_entries()) {
      if (e.journey() != "promo") continue;
      found = true;
      EXPECT_EQ(e.last_run_ms(), at) << id;
      EXPECT_EQ(e.entries(), 1u) << id;
    }
    EXPECT_TRUE(found) << id;
  }
}

constexpr char kDaily[] = R"(journey: daily
version: 1
when:
  schedule:
    cron: "0 9 * * *"
    timezone: Europe/Berlin
who:
  where: traits.news == true
  consent: { email: implied }
entry:
  reentry: always
steps:
  - id: digest
    send: { channel: email, template: digest }
)";

TEST_F(CampaignEngineTest, CronOnEventTimeRunsOncePerDueTickAndOnceAfterDowntime) {
  options_.event_time_clock = true;
  constexpr int kCustomers = 40;
  Seed(kCustomers, [](int i) { return std::string(i % 2 ? R"({"news":true})" : "{}"); });
  std::ofstream(journeys_ + "/daily.yaml") << kDaily;
  StartEngine();
  // 07:00 Berlin: the first run is planned for 09:00 Berlin (08:00Z).
  Track("x", "Ping", "p1", "2026-01-05T06:00:00Z");
  // (Reading tasks meanwhile lets the reader join its group.)
  ASSERT_TRUE(ReadTasks([&] { return Run("daily")["next_run"] == "2026-01-05T08:00:00.000Z"; },
                        std::chrono::seconds(30)))
      << Campaigns().dump();
  EXPECT_EQ(Run("daily")["state"], "scheduled");
  EXPECT_EQ(Count("digest"), 0u);
  // Time passes 09:00: one run.
  Track("x", "Ping", "p2", "2026-01-05T08:30:00Z");
  ASSERT_TRUE(
      ReadTasks([&] { return Count("digest", 1) == kCustomers / 2; }, std::chrono::seconds(40)))
      << Count("digest", 1) << " entered; " << Campaigns().dump();
  ASSERT_TRUE(testing::WaitFor([&] { return Run("daily")["state"] == "scheduled"; },
                               std::chrono::seconds(10)))
      << Campaigns().dump();
  EXPECT_EQ(Run("daily")["next_run"], "2026-01-06T08:00:00.000Z");

  // Down for three ticks: one run when back, then the next tick.
  StopEngine();
  Track("x", "Ping", "p3", "2026-01-08T10:00:00Z");
  StartEngine();
  ASSERT_TRUE(
      ReadTasks([&] { return Count("digest", 2) == kCustomers / 2; }, std::chrono::seconds(30)));
  ReadTasks([] { return false; }, std::chrono::milliseconds(2000));
  EXPECT_EQ(Count("digest", 3), 0u) << "missed ticks ran more than once";
  EXPECT_EQ(Count("digest"), static_cast<size_t>(kCustomers));
  const json run = Run("daily");
  EXPECT_EQ(run["run_at"], "2026-01-06T08:00:00.000Z") << run.dump();
  EXPECT_EQ(run["next_run"], "2026-01-09T08:00:00.000Z") << run.dump();
}

}  // namespace
}  // namespace cairn
