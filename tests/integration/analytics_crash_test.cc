// Journey analytics are exactly-once under SIGKILL, with the real processes:
// `cairn broker` (4 partitions) stays up while `cairn run --journeys` is
// SIGKILLed at random moments while a stream flows, and restarted each time
// on the same data dir. At the end the analytics API
// (GET /v1/analytics/journeys/crash-analytics) must show exactly what the
// stream implies: no decision lost, none counted twice.
//
// The journey: Product Added -> send `offer` -> exit, reentry always, goal
// Order Completed within 1 day. Every customer adds products and, at random
// places in between, completes orders; about 5 % of the messages are
// published a second time (the same messageId, a redelivery).
//
// The ledger, computed from the input alone and exact whatever the engine
// did when:
//   entered = exited = sent = the distinct Product Added messages (every one
//       enters: reentry always, max_concurrent well above what is open);
//   goal    = per customer in stream order (one key, one partition, so the
//       engine sees the same order): each Order Completed converts every
//       instance entered before it and not converted yet (the goal is
//       measured for every instance in its window, also after exit);
//   revenue = the totals of the Order Completed messages that converted at
//       least one instance (credited once per event);
//   in_step = 0.
// A second, independent ledger for `sent`: the task ids on cairn.tasks,
// deduplicated (copies produced again from the outbox after a kill are
// allowed), which must be exactly the ids the task id formula gives
// (instance n = the customer's n-th entry).
//
// The counters are merged into the same RocksDB WriteBatch as the customer
// records and the partition checkpoints (engine/analytics README): a kill
// before the write loses both and the batch is read again; after it, both
// stay. Counting them in a write of their own breaks this test.
//
// CAIRN_CRASH_SEED=<n> reproduces a run; CAIRN_CRASH_KILLS=<n> changes the
// number of kills (default 8; 0 = no kill; every other one at the crash
// point engine.write_staged).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cairn/clock.h"
#include "cairn/time.h"
#include "engine_harness.h"
#include "flow/runtime.h"
#include "kafka/producer.h"
#include "test_support.h"

namespace cairn {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kPartitions = 4;
constexpr int kCustomers = 240;
constexpr int kAddsPerCustomer = 6;
constexpr int kChunk = 50;  // messages per acknowledged chunk, every second
const std::string kEvents = "cairn.events";
const std::string kTasks = "cairn.tasks";
const std::string kJourney = "crash-analytics";

constexpr char kJourneyYaml[] = R"(journey: crash-analytics
version: 1
description: crash test - entries, sends and goals counted exactly once
when:
  event: Product Added
who:
  consent: { email: implied }
entry:
  reentry: always
  max_concurrent: 100
goal:
  event: Order Completed
  within: 1d
steps:
  - id: offer
    send: { channel: email, template: offer }
  - id: done
    exit: done
)";

struct Input {
  std::vector<testing::KeyedMessage> messages;  // with the redeliveries
  std::set<std::string> tasks;                  // expected task ids
  int64_t entered = 0, goal = 0, revenue = 0;
  size_t redelivered = 0;
};

Input MakeInput(uint64_t seed, TimestampMs t0) {
  std::mt19937_64 rng(seed);
  Input in;
  // Per customer, in order: true = Product Added, false = Order Completed.
  std::vector<std::vector<bool>> plan(kCustomers);
  std::vector<int> units;
  for (int c = 0; c < kCustomers; ++c) {
    for (int i = 0; i < kAddsPerCustomer; ++i) plan[c].push_back(true);
    for (int i = 0, n = static_cast<int>(rng() % 4); i < n; ++i) plan[c].push_back(false);
    std::shuffle(plan[c].begin(), plan[c].end(), rng);
    units.insert(units.end(), plan[c].size(), c);
  }
  std::shuffle(units.begin(), units.end(), rng);
  std::vector<size_t> next(kCustomers, 0);
  std::vector<int64_t> adds(kCustomers, 0), open(kCustomers, 0);
  std::vector<testing::KeyedMessage> copies;
  uint64_t n = 0;
  for (int c : units) {
    char user[16];
    std::snprintf(user, sizeof user, "a%03d", c);
    const bool add = plan[c][next[c]++];
    json e = {{"type", "track"},
              {"userId", user},
              {"event", add ? "Product Added" : "Order Completed"},
              {"messageId", "m-" + std::to_string(n)},
              {"timestamp", FormatTimestamp(t0 + static_cast<TimestampMs>(n))}};
    ++n;
    if (add) {
      e["properties"] = {{"sku", "sku-" + std::to_string(n)}};
      in.entered++;
      open[c]++;
      in.tasks.insert(
          flow::Runtime::TaskId(kJourney, 1, user, static_cast<uint64_t>(++adds[c]), "offer", 0));
    } else {
      const int64_t total = 10 + static_cast<int64_t>(rng() % 190);
      e["properties"] = {{"total", total}};
      if (open[c] > 0) {
        in.goal += open[c];
        in.revenue += total;
        open[c] = 0;
      }
    }
    in.messages.push_back({user, e.dump()});
    // A redelivery, a little later in the stream.
    if (rng() % 20 == 0) copies.push_back(in.messages.back());
    if (!copies.empty() && rng() % 10 == 0) {
      in.messages.push_back(copies.front());
      copies.erase(copies.begin());
      in.redelivered++;
    }
  }
  for (auto& m : copies) in.messages.push_back(std::move(m));
  in.redelivered += copies.size();
  return in;
}

class AnalyticsCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = testing::BrokerProcess::Start(CAIRN_BINARY, kPartitions, dir_.Sub("broker.log"));
    ASSERT_NE(broker_, nullptr) << testing::Tail(dir_.Sub("broker.log"));
    std::filesystem::create_directories(dir_.Sub("journeys"));
    std::ofstream(dir_.Sub("journeys/crash-analytics.yaml")) << kJourneyYaml;
    std::ofstream(dir_.Sub("cairn.yaml")) << testing::kRestartableKafkaYaml;
  }

  // Each run joins a consumer group of its own: the engine resumes from its
  // RocksDB checkpoints, and the development broker lets a new group in
  // sooner than a restarted member of the old one.
  // `crash_points`: CAIRN_CRASH_POINTS for this run ("" = none).
  std::unique_ptr<testing::ChildProcess> StartEngine(const std::string& crash_points = "") {
    return testing::StartEngineProcess({.binary = CAIRN_BINARY,
                                        .config = dir_.Sub("cairn.yaml"),
                                        .brokers = broker_->address(),
                                        .data_dir = dir_.Sub("data"),
                                        .group = "analytics-crash-" + std::to_string(++starts_),
                                        .log_path = dir_.Sub("engine.log"),
                                        .journeys = dir_.Sub("journeys"),
                                        .log_level = "warn",
                                        .crash_points = crash_points},
                                       &http_addr_);
  }

  std::optional<json> Status() { return testing::EngineStatus(http_addr_); }

  testing::TempDir dir_;
  std::string http_addr_;
  int starts_ = 0;
  std::unique_ptr<testing::BrokerProcess> broker_;
};

TEST_F(AnalyticsCrashTest, SigkillCountsEveryDecisionExactlyOnce) {
  const auto started = Clock::now();
  const uint64_t seed = testing::EnvOr("CAIRN_CRASH_SEED", std::random_device{}());
  const int kills = static_cast<int>(testing::EnvOr("CAIRN_CRASH_KILLS", 8));
  std::printf("analytics crash test: seed %llu (CAIRN_CRASH_SEED reproduces), %d kills\n",
              static_cast<unsigned long long>(seed), kills);
  std::mt19937_64 rng(seed);
  const Input in = MakeInput(seed, SystemClock::Instance().NowMs() - 60000);

  auto producer = kafka::Producer::Create({broker_->address(), {}});
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  testing::ChunkedPublisher publisher(producer->get(), kEvents, &in.messages, kChunk,
                                      std::chrono::milliseconds(kills > 0 ? 1000 : 50));

  // Rounds take turns. Even rounds: start, wait until this run has applied
  // events of its own (or, once the input ended, until its API is up), kill
  // within 2 s. Odd rounds: the engine kills itself with SIGKILL at the
  // crash point `engine.write_staged` (probability 0.3 per batch): the
  // batch with its customers, checkpoints and counters built, not written.
  // A plain kill rarely lands in the few milliseconds a write takes; the
  // crash point lands there every time. The engine then stays down up to
  // 1 s, so the next run starts on a backlog. Kills stop after 60 s.
  int killed_applying = 0, at_crash_point = 0, rounds = 0;
  for (int k = 0; k < kills && Clock::now() - started < std::chrono::seconds(60); ++k) {
    const bool crash_point = k % 2 == 1;
    auto engine = StartEngine(crash_point ? "engine.write_staged:0.3" : "");
    if (crash_point) {
      testing::WaitFor([&] { return !engine->running(); }, std::chrono::seconds(10));
      if (!engine->running()) {
        at_crash_point++;
        std::printf("round %d: %zu of %zu published; died at engine.write_staged\n", k,
                    publisher.published(), in.messages.size());
      }
    } else {
      ASSERT_TRUE(testing::WaitFor(
          [&] {
            auto st = Status();
            return !engine->running() ||
                   (st && ((*st)["process"]["events"].get<uint64_t>() > 0 || publisher.done()));
          },
          std::chrono::seconds(40)))
          << testing::Tail(dir_.Sub("engine.log"));
      ASSERT_TRUE(engine->running()) << testing::Tail(dir_.Sub("engine.log"));
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 2000));
    }
    if (auto st = engine->running() ? Status() : std::nullopt) {
      const auto& p = (*st)["process"];
      killed_applying += p["events"].get<uint64_t>() > 0;
      std::printf("round %d: %zu of %zu published; this run: %s events, %s unacknowledged\n", k,
                  publisher.published(), in.messages.size(), p["events"].dump().c_str(),
                  p["outbox_unacked"].dump().c_str());
    }
    engine->Kill(SIGKILL);
    ASSERT_NE(engine->Wait(std::chrono::seconds(10)), -1);
    ++rounds;
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 1000));
  }
  if (kills > 0) {
    EXPECT_GT(killed_applying, 0) << "no kill came while the engine applied events";
    if (kills > 1) {
      EXPECT_GT(at_crash_point, 0) << "no run died at engine.write_staged";
    }
  }
  ASSERT_TRUE(testing::WaitFor([&] { return publisher.done(); }, std::chrono::minutes(2)));
  ASSERT_FALSE(publisher.failed());

  // The last start: catch up and get every task acknowledged.
  auto engine = StartEngine();
  std::optional<json> status;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        status = Status();
        return status && (*status)["process"]["outbox_unacked"] == 0 &&
               testing::CaughtUp(http_addr_, (*producer)->handle(), kEvents, kPartitions);
      },
      std::chrono::seconds(60)))
      << testing::Tail(dir_.Sub("engine.log"));
  EXPECT_EQ((*status)["dead_letters"], 0);
  EXPECT_EQ((*status)["offsets_skipped"], 0) << "input was lost to retention; the test is void";

  // Ledger 2: the task ids on cairn.tasks, deduplicated.
  testing::TaskReader reader(broker_->address(), kTasks);
  ASSERT_TRUE(reader.ok());
  auto all_seen = [&] {
    for (const auto& id : in.tasks) {
      if (!reader.seen().contains(id)) return false;
    }
    return true;
  };
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (!all_seen() && Clock::now() < deadline) reader.Read(200);
  reader.Read(500);  // late copies, if any
  std::set<std::string> seen;
  uint64_t copies = 0;
  for (const auto& [id, n] : reader.seen()) {
    seen.insert(id);
    copies += static_cast<uint64_t>(n - 1);
  }
  size_t missing = 0, unexpected = 0;
  for (const auto& id : in.tasks) missing += !seen.contains(id);
  for (const auto& id : seen) unexpected += !in.tasks.contains(id);
  EXPECT_EQ(missing, 0u) << "expected tasks missing on " << kTasks;
  EXPECT_EQ(unexpected, 0u) << "unexpected tasks on " << kTasks;
  EXPECT_EQ(reader.differing(), 0u) << "copies of a task differ: a decision was taken twice";

  // The analytics API against the ledger.
  auto res = testing::HttpGet(http_addr_, "/v1/analytics/journeys/" + kJourney);
  ASSERT_EQ(res.status, 200) << res.body;
  const json a = json::parse(res.body, nullptr, false);
  ASSERT_TRUE(a.is_object() && a.contains("totals")) << res.body;
  const json& t = a["totals"];
  auto num = [](const json& j, const char* key) -> int64_t {
    if (!j.contains(key) || !j[key].is_number()) return -1;
    return static_cast<int64_t>(std::llround(j[key].get<double>()));
  };
  EXPECT_EQ(num(t, "entered"), in.entered) << t.dump();
  EXPECT_EQ(num(t, "exited"), in.entered) << t.dump();
  EXPECT_EQ(num(t, "in_step"), 0) << t.dump();
  EXPECT_EQ(num(t, "sent"), in.entered) << t.dump();
  EXPECT_EQ(num(t, "sent"), static_cast<int64_t>(seen.size())) << "analytics vs " << kTasks;
  EXPECT_EQ(num(t, "goal"), in.goal) << t.dump();
  EXPECT_EQ(num(t, "revenue"), in.revenue) << t.dump();
  bool offer = false;
  for (const auto& s : a["steps"]) {
    if (s["step"] != "offer") continue;
    offer = true;
    EXPECT_EQ(num(s, "entered"), in.entered) << s.dump();
    EXPECT_EQ(num(s, "sent"), in.entered) << s.dump();
  }
  EXPECT_TRUE(offer) << res.body;
  std::printf(
      "analytics crash test: %zu messages (%zu redelivered), %d kills (%d while applying, %d at "
      "engine.write_staged); "
      "ledger entered %lld, goal %lld, revenue %lld, tasks %zu; analytics entered %lld, sent "
      "%lld, goal %lld, revenue %lld; %zu distinct tasks on %s (%llu copies); %.1f s\n",
      in.messages.size(), in.redelivered, rounds, killed_applying, at_crash_point,
      static_cast<long long>(in.entered), static_cast<long long>(in.goal),
      static_cast<long long>(in.revenue), in.tasks.size(),
      static_cast<long long>(num(t, "entered")), static_cast<long long>(num(t, "sent")),
      static_cast<long long>(num(t, "goal")), static_cast<long long>(num(t, "revenue")),
      seen.size(), kTasks.c_str(), static_cast<unsigned long long>(copies),
      std::chrono::duration<double>(Clock::now() - started).count());
  if (HasFailure()) {
    std::filesystem::copy_file(dir_.Sub("engine.log"), "analytics_crash_engine.log",
                               std::filesystem::copy_options::overwrite_existing);
  }
  engine->Kill(SIGTERM);
  engine->Wait(std::chrono::seconds(30));
}

}  // namespace
}  // namespace cairn
