// Crash safety of journeys, with the real processes: `cairn broker` stays up
// while `cairn run --journeys` is SIGKILLed at random moments -- while events
// flow, and after the input ended while wall-clock timers fire -- and is
// restarted each time on the same data dir. At the end every task the
// journeys decided is on cairn.tasks: none missing, none unexpected.
//
// Duplicates on cairn.tasks are allowed, and counted: a task produced but not
// yet acknowledged (or acknowledged, but its outbox row not yet deleted) when
// the engine died is produced again from the outbox on restart. Consumers
// drop them by task id -- the task's `task_id` field, which equals the
// `cairn.task_id` header; the dispatcher passes it to the provider as its
// idempotency key. A decision is never taken twice: the engine's own record
// (decision trace, entry counts) shows every instance entered and exited
// exactly once.
//
// The expected tasks follow from the input alone, computed twice: by the
// journey runtime in flow::Simulator (the engine's own runtime, on event
// time) and from the task id formula (instance n = the customer's n-th
// entry). The journeys are built so that the outcome does not depend on when
// the engine ran, was down, or fired a timer:
//   crash-cart      Product Added -> send a1, wait 2s, send a2 (two tasks;
//                   the second through a durable wall-clock timer);
//   crash-checkout  Checkout Started -> wait_for Order Completed of the same
//                   cart, timeout 15s, lookback 10m. The order is published
//                   right before the checkout (found by the look-back: send
//                   thanks) or never (the timer fires: send nudge).
//
// CAIRN_CRASH_SEED=<n> reproduces a run; CAIRN_CRASH_KILLS=<n> changes the
// number of kills (default 10, the last 3 after the input ended).
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cairn/clock.h"
#include "cairn/time.h"
#include "engine_harness.h"
#include "flow/catalog.h"
#include "flow/runtime.h"
#include "flow/simulator.h"
#include "journey/loader.h"
#include "kafka/producer.h"
#include "state/state_store.h"
#include "test_support.h"
#include "timer/timer_store.h"

namespace cairn {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kPartitions = 4;
constexpr int kCustomers = 300;
constexpr int kAddsPerCustomer = 10;      // 3,000 Product Added
constexpr int kCheckoutsPerCustomer = 2;  // 600 Checkout Started, about half after an order
constexpr int kChunk = 65;                // messages per acknowledged chunk, every 500 ms
constexpr int kKillsAfterInput = 3;
constexpr int kSampleCustomers = 25;
const std::string kEvents = "cairn.events";
const std::string kTasks = "cairn.tasks";
const std::string kCart = "crash-cart";
const std::string kCheckout = "crash-checkout";

constexpr char kCartYaml[] = R"(journey: crash-cart
version: 1
description: crash test - two sends around a wall-clock wait
when:
  event: Product Added
who:
  consent: { email: implied, push: implied }
entry:
  reentry: always
  max_concurrent: 100
steps:
  - id: a1
    send: { channel: email, template: a1 }
  - id: pause
    wait: 2s
  - id: a2
    send: { channel: push, template: a2 }
  - id: done
    exit: done
)";

constexpr char kCheckoutYaml[] = R"(journey: crash-checkout
version: 1
description: crash test - wait_for that either looks back or times out
when:
  event: Checkout Started
who:
  consent: { email: implied }
entry:
  reentry: always
  max_concurrent: 100
steps:
  - id: wait_order
    wait_for:
      event: Order Completed
      where: event.properties.cart == entry.properties.cart
      timeout: 15s
      lookback: 10m
      on_event: thanks
      on_timeout: nudge
  - id: nudge
    send: { channel: email, template: b-nudge }
  - id: nudged
    exit: nudged
  - id: thanks
    send: { channel: email, template: b-thanks }
  - id: thanked
    exit: thanked
)";

using testing::EnvOr;
using testing::StringField;
using Message = testing::KeyedMessage;

// A task the journeys must decide.
struct Expected {
  std::string customer, journey, step;
  uint64_t instance = 0;
  std::string entry_message_id;  // the event that started the instance
};

// The input stream and what it must produce.
struct Input {
  std::vector<Message> messages;
  std::map<std::string, Expected> tasks;                      // by task id
  std::map<std::string, std::map<std::string, int>> entries;  // customer -> journey -> entries
};

std::string CustomerName(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "u%03d", i);
  return buf;
}

// Every customer gets kAddsPerCustomer Product Added and kCheckoutsPerCustomer
// Checkout Started (each preceded, by a coin toss, by the Order Completed of
// its cart), interleaved at random across customers. Event timestamps count
// milliseconds from `t0`, in publishing order: always in the past for the
// engine's wall clock, within the look-back, and in the same order for the
// simulator.
Input MakeInput(uint64_t seed, TimestampMs t0) {
  std::mt19937_64 rng(seed);
  Input in;
  // Per customer, in order: 0 = Product Added, 1 = Checkout Started alone,
  // 2 = Order Completed then Checkout Started of the same cart.
  std::vector<std::vector<int>> plan(kCustomers);
  std::vector<int> units;  // one customer index per unit of input
  for (int c = 0; c < kCustomers; ++c) {
    for (int i = 0; i < kAddsPerCustomer; ++i) plan[c].push_back(0);
    for (int i = 0; i < kCheckoutsPerCustomer; ++i) {
      plan[c].push_back(1 + static_cast<int>(rng() % 2));
    }
    std::shuffle(plan[c].begin(), plan[c].end(), rng);
    units.insert(units.end(), plan[c].size(), c);
  }
  std::shuffle(units.begin(), units.end(), rng);
  std::vector<size_t> next(kCustomers, 0);
  std::map<std::string, uint64_t> adds, checkouts;
  uint64_t n = 0;
  auto add = [&](const std::string& user, const std::string& name, json props) {
    const std::string id = "m-" + std::to_string(n);
    json e = {{"type", "track"},
              {"userId", user},
              {"event", name},
              {"messageId", id},
              {"timestamp", FormatTimestamp(t0 + static_cast<TimestampMs>(n))},
              {"properties", std::move(props)}};
    ++n;
    in.messages.push_back({user, e.dump()});
    return id;
  };
  auto expect = [&](const std::string& user, const std::string& journey, uint64_t instance,
                    const std::string& step, const std::string& entry_id) {
    in.tasks[flow::Runtime::TaskId(journey, 1, user, instance, step, 0)] = {user, journey, step,
                                                                            instance, entry_id};
  };
  for (int c : units) {
    const std::string user = CustomerName(c);
    const int kind = plan[c][next[c]++];
    if (kind == 0) {
      const std::string id = add(user, "Product Added", {{"sku", "sku-" + std::to_string(n)}});
      const uint64_t k = ++adds[user];
      expect(user, kCart, k, "a1", id);
      expect(user, kCart, k, "a2", id);
      in.entries[user][kCart]++;
      continue;
    }
    const std::string cart = "cart-" + std::to_string(n);
    if (kind == 2) add(user, "Order Completed", {{"cart", cart}, {"total", 10}});
    const std::string id = add(user, "Checkout Started", {{"cart", cart}});
    expect(user, kCheckout, ++checkouts[user], kind == 2 ? "thanks" : "nudge", id);
    in.entries[user][kCheckout]++;
  }
  return in;
}

class JourneyCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = testing::BrokerProcess::Start(CAIRN_BINARY, kPartitions, dir_.Sub("broker.log"));
    ASSERT_NE(broker_, nullptr) << testing::Tail(dir_.Sub("broker.log"));
    broker_addr_ = broker_->address();
    std::filesystem::create_directories(dir_.Sub("journeys"));
    std::ofstream(dir_.Sub("journeys/crash-cart.yaml")) << kCartYaml;
    std::ofstream(dir_.Sub("journeys/crash-checkout.yaml")) << kCheckoutYaml;
    // Static membership and a short session: a restarted engine gets its
    // partitions back at once. The trace keeps every decision of a customer.
    std::ofstream(dir_.Sub("cairn.yaml")) << "kafka:\n"
                                             "  instance_id: engine-0\n"
                                             "  consumer:\n"
                                             "    session.timeout.ms: \"3000\"\n"
                                             "    heartbeat.interval.ms: \"500\"\n"
                                             "journeys:\n"
                                             "  trace_limit: 1000\n";
  }

  std::unique_ptr<testing::ChildProcess> StartEngine() {
    http_addr_ = testing::FreeLoopbackAddress();
    return std::make_unique<testing::ChildProcess>(
        std::vector<std::string>{CAIRN_BINARY, "run", "--config", dir_.Sub("cairn.yaml"),
                                 "--brokers", broker_addr_, "--journeys", dir_.Sub("journeys"),
                                 "--data-dir", dir_.Sub("data"), "--http", http_addr_,
                                 "--public-listen", testing::FreeLoopbackAddress(), "--group",
                                 "journey-crash", "--log-level", "warn"},
        dir_.Sub("engine.log"));
  }

  std::optional<json> EngineStatus() { return testing::EngineStatus(http_addr_); }

  // The running engine's checkpoints have reached every partition's end.
  bool CaughtUp(rd_kafka_t* rk) { return testing::CaughtUp(http_addr_, rk, kEvents, kPartitions); }

  // Checks one customer's journeys as the engine recorded them: the entry
  // counts, no instance left open, and per instance exactly one enter, one
  // exit, and one send per expected task (with that task id).
  void ExpectCustomerState(const std::string& user, const Input& in) {
    auto res = testing::HttpGet(http_addr_, "/v1/customers/" + user + "/journeys?trace=1000");
    ASSERT_EQ(res.status, 200) << user << ": " << res.body;
    const auto j = json::parse(res.body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << res.body;
    const auto& want_entries = in.entries.at(user);
    for (const auto& e : j["entries"]) {
      const auto want = want_entries.find(e["journey"].get<std::string>());
      if (want == want_entries.end()) {
        ADD_FAILURE() << user << ": entered an unexpected journey: " << e.dump();
        continue;
      }
      EXPECT_EQ(e["entries"].get<int>(), want->second) << user << " " << e.dump();
    }
    EXPECT_EQ(j["entries"].size(), want_entries.size()) << user;
    for (const auto& i : j["instances"]) {
      EXPECT_EQ(i["status"], "exited") << user << " " << i.dump();
    }
    std::map<std::pair<std::string, uint64_t>, std::map<std::string, int>> actions;
    std::map<std::string, int> sends;
    for (const auto& t : j["trace"]) {
      const uint64_t instance = t.value("instance", uint64_t{0});
      actions[{t["journey"].get<std::string>(), instance}][t["action"].get<std::string>()]++;
      if (t["action"] == "send") sends[StringField(t, "task_id")]++;
    }
    for (const auto& [journey, n] : want_entries) {
      for (int k = 1; k <= n; ++k) {
        auto& a = actions[{journey, static_cast<uint64_t>(k)}];
        EXPECT_EQ(a["enter"], 1) << user << " " << journey << " #" << k;
        EXPECT_EQ(a["exit"], 1) << user << " " << journey << " #" << k;
      }
    }
    size_t want = 0;
    for (const auto& [id, t] : in.tasks) {
      if (t.customer != user) continue;
      ++want;
      EXPECT_EQ(sends[id], 1) << user << " " << t.journey << " #" << t.instance << " " << t.step
                              << ": send decided " << sends[id] << " times";
    }
    EXPECT_EQ(sends.size(), want) << user << ": unexpected send decisions";
  }

  bool LogContains(const std::string& text) {
    return testing::FileContains(dir_.Sub("engine.log"), text);
  }

  testing::TempDir dir_;
  std::string broker_addr_;
  std::string http_addr_;
  std::unique_ptr<testing::BrokerProcess> broker_;
};

TEST_F(JourneyCrashTest, SigkillWhileTimersFireLosesNoTask) {
  const auto started = Clock::now();
  const uint64_t seed = EnvOr("CAIRN_CRASH_SEED", std::random_device{}());
  const int kills = static_cast<int>(EnvOr("CAIRN_CRASH_KILLS", 10));
  std::printf("journey crash test: seed %llu (CAIRN_CRASH_SEED=%llu reproduces), %d kills\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed), kills);
  std::mt19937_64 rng(seed);

  const TimestampMs t0 = SystemClock::Instance().NowMs() - 60000;
  const Input in = MakeInput(seed, t0);

  // The expected tasks by the journey runtime itself (simulator, event time).
  {
    auto set = journey::LoadJourneyDir(dir_.Sub("journeys"));
    ASSERT_TRUE(set.diagnostics.empty()) << set.diagnostics.front().ToString();
    ASSERT_EQ(set.journeys.size(), 2u);
    flow::SimulatorOptions so;
    so.data_dir = dir_.Sub("simulator");
    so.horizon_ms = 60000;
    auto sim = flow::Simulator::Create(flow::Catalog::Build(std::move(set.journeys), {}, 1), so);
    ASSERT_TRUE(sim.ok()) << sim.status().ToString();
    std::set<std::string> simulated;
    (*sim)->OnAction([&](const v1::TraceEntry& e) {
      if (e.action() == "send") {
        EXPECT_TRUE(simulated.insert(e.task_id()).second) << e.task_id();
      }
    });
    for (const auto& m : in.messages) ASSERT_TRUE((*sim)->AddEvent(m.value, "input").ok());
    ASSERT_TRUE((*sim)->Run().ok());
    std::set<std::string> formula;
    for (const auto& [id, t] : in.tasks) formula.insert(id);
    ASSERT_EQ(simulated, formula) << "the simulator and the task id formula disagree";
  }

  // Publish at about 130 messages a second, in acknowledged chunks.
  auto producer = kafka::Producer::Create({broker_addr_, {}});
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  testing::ChunkedPublisher publisher(producer->get(), kEvents, &in.messages, kChunk,
                                      std::chrono::milliseconds(500));
  auto input_done = [&] { return publisher.done(); };

  // Each round starts the engine and kills it. While the input flows the
  // rounds take turns: (a) within 2.5 s after this run wrote state of its
  // own; (b) within 1.5 s after this run fired timers; (c) at an arbitrary
  // moment in the first 6 s (start-up, group join -- about 5 s with the
  // development broker --, the backlog). The windows are about as long as
  // the broker takes to acknowledge what a restart produces again, so kills
  // find the outbox unacknowledged, partly acknowledged or drained. The last
  // rounds come after the input ended, when only timers fire (the checkout
  // timeouts run 15 s past the last event): (b) again, or killed idle when
  // no timer fired in 8 s.
  constexpr const char* kKinds[] = {"after a write", "while timers fire", "arbitrary moment"};
  int during_input = 0, after_input = 0, while_firing = 0;
  const int input_rounds = std::max(0, kills - kKillsAfterInput);
  for (int k = 0; k < kills; ++k) {
    auto engine = StartEngine();
    if (k >= input_rounds) {
      ASSERT_TRUE(testing::WaitFor([&] { return input_done() || !engine->running(); },
                                   std::chrono::minutes(3)));
    }
    const bool flowing = !input_done();
    const int kind = flowing ? k % 3 : 1;
    if (kind == 2) {
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 6000));
    } else {
      std::optional<json> before;
      ASSERT_TRUE(testing::WaitFor([&] { return (before = EngineStatus()) || !engine->running(); },
                                   std::chrono::seconds(30)))
          << testing::Tail(dir_.Sub("engine.log"));
      ASSERT_TRUE(engine->running()) << testing::Tail(dir_.Sub("engine.log"));
      const uint64_t events_before = (*before)["events"];
      // Once the input has ended (also while waiting here) there may be
      // nothing left to do: then the engine is killed idle after 8 s.
      const auto wait_start = Clock::now();
      auto progressed_or_idle = [&] {
        auto now = EngineStatus();
        if (!now) return !engine->running();
        const bool progressed = kind == 0 ? (*now)["events"].get<uint64_t>() > events_before
                                          : (*now)["process"]["timers_fired"].get<uint64_t>() > 0;
        return progressed || (input_done() && Clock::now() - wait_start > std::chrono::seconds(8));
      };
      const bool done = testing::WaitFor(progressed_or_idle, std::chrono::seconds(30));
      ASSERT_TRUE(done || input_done()) << "engine made no progress in round " << k << "\n"
                                        << testing::Tail(dir_.Sub("engine.log"));
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % (kind == 0 ? 2500 : 1500)));
    }
    ASSERT_TRUE(engine->running()) << "engine died in round " << k << "\n"
                                   << testing::Tail(dir_.Sub("engine.log"));
    // What this run did, a moment before the kill.
    if (auto st = EngineStatus()) {
      const auto& p = (*st)["process"];
      if (p["timers_fired"].get<uint64_t>() > 0) while_firing++;
      std::printf(
          "round %d (%s): %zu of %zu messages published; this run: %s events, %s timers "
          "fired, %s outbox records produced, %s unacknowledged\n",
          k, kKinds[kind], publisher.published(), in.messages.size(), p["events"].dump().c_str(),
          p["timers_fired"].dump().c_str(), p["outbox_published"].dump().c_str(),
          p["outbox_unacked"].dump().c_str());
    } else {
      std::printf("round %d (%s): %zu of %zu messages published; API not up yet\n", k, kKinds[kind],
                  publisher.published(), in.messages.size());
    }
    engine->Kill(SIGKILL);
    ASSERT_NE(engine->Wait(std::chrono::seconds(10)), -1);
    (flowing ? during_input : after_input)++;
  }
  ASSERT_TRUE(testing::WaitFor(input_done, std::chrono::minutes(3)));
  ASSERT_FALSE(publisher.failed());
  const double kill_s = std::chrono::duration<double>(Clock::now() - started).count();

  // The last start: catch up, fire every timer, get every task acknowledged.
  auto engine = StartEngine();
  ASSERT_TRUE(
      testing::WaitFor([&] { return CaughtUp((*producer)->handle()); }, std::chrono::seconds(120)))
      << testing::Tail(dir_.Sub("engine.log"));
  testing::TaskReader reader(broker_addr_, kTasks);
  ASSERT_TRUE(reader.ok());
  auto all_seen = [&] {
    for (const auto& [id, t] : in.tasks) {
      if (!reader.seen().contains(id)) return false;
    }
    return true;
  };
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (!all_seen() && Clock::now() < deadline && engine->running()) reader.Read(200);
  std::optional<json> status;
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        status = EngineStatus();
        return status && (*status)["process"]["outbox_unacked"] == 0;
      },
      std::chrono::seconds(30)))
      << "outbox not acknowledged";
  reader.Read(2000);  // late copies, if any
  ASSERT_TRUE(status.has_value()) << testing::Tail(dir_.Sub("engine.log"));
  EXPECT_EQ((*status)["events"], in.messages.size()) << status->dump();
  EXPECT_EQ((*status)["duplicates"], 0);
  EXPECT_EQ((*status)["dead_letters"], 0);
  EXPECT_EQ((*status)["offsets_skipped"], 0) << "input was lost to retention; the test is void";

  // The engine's own record of a sample of customers.
  std::vector<int> sample(kCustomers);
  std::iota(sample.begin(), sample.end(), 0);
  std::shuffle(sample.begin(), sample.end(), rng);
  sample.resize(kSampleCustomers);
  for (int c : sample) ExpectCustomerState(CustomerName(c), in);

  engine->Kill(SIGTERM);
  const int exit_status = engine->Wait(std::chrono::seconds(30));
  ASSERT_NE(exit_status, -1) << "engine did not stop on SIGTERM\n"
                             << testing::Tail(dir_.Sub("engine.log"));
  if (WIFSIGNALED(exit_status) && WTERMSIG(exit_status) == SIGABRT &&
      LogContains("rd_kafka_sticky_assignor_state_destroy: Assertion `assignor_state' failed")) {
    // librdkafka 2.0.2 (Debian 12) asserts when it destroys a cooperative-
    // sticky consumer whose assignor state was never set (librdkafka #4312,
    // fixed in 2.3.0). It happens after Run() returned, when every write is
    // done: the checks below still see whether the stop lost anything.
    std::printf(
        "journey crash test: NOTE the engine aborted on exit in librdkafka "
        "(rd_kafka_sticky_assignor_state_destroy, librdkafka #4312)\n");
  } else {
    ASSERT_TRUE(WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 0)
        << "engine did not stop cleanly on SIGTERM (status " << exit_status << ")\n"
        << testing::Tail(dir_.Sub("engine.log"));
  }

  // Nothing may be left behind: every timer fired, every outbox row deleted.
  uint64_t timers_left = 0, outbox_left = 0;
  {
    auto store = state::StateStore::Open({.dir = dir_.Sub("data")});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    timer::TimerStore timers(store->get());
    for (int p = 0; p < kPartitions; ++p) {
      auto n = timers.CountPending(p);
      ASSERT_TRUE(n.ok()) << n.status().ToString();
      timers_left += *n;
    }
    std::unique_ptr<rocksdb::Iterator> it(
        (*store)->db()->NewIterator(rocksdb::ReadOptions(), (*store)->outbox_cf()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) ++outbox_left;
  }
  // Outbox rows produced again after a restart, as the engine logged them.
  uint64_t reproduced = 0;
  {
    std::ifstream log(dir_.Sub("engine.log"));
    const std::regex re("producing (\\d+) record\\(s\\) again");
    std::smatch m;
    for (std::string line; std::getline(log, line);) {
      if (std::regex_search(line, m, re)) reproduced += std::stoull(m[1]);
    }
  }

  // What the stream put on cairn.tasks.
  int missing = 0, duplicates = 0, unexpected = 0, wrong_entry = 0;
  for (const auto& [id, t] : in.tasks) {
    auto it = reader.seen().find(id);
    if (it == reader.seen().end()) {
      if (missing++ < 10) {
        ADD_FAILURE() << "missing task " << id << ": " << t.customer << " " << t.journey << " #"
                      << t.instance << " step " << t.step << " (entry " << t.entry_message_id
                      << ")";
      }
      continue;
    }
    duplicates += it->second - 1;
    if (reader.entry_of().at(id) != t.entry_message_id && wrong_entry++ < 10) {
      ADD_FAILURE() << "task " << id << " names entry event " << reader.entry_of().at(id)
                    << ", expected " << t.entry_message_id;
    }
  }
  for (const auto& [id, n] : reader.seen()) {
    if (!in.tasks.contains(id) && unexpected++ < 10) ADD_FAILURE() << "unexpected task " << id;
  }
  const double total_s = std::chrono::duration<double>(Clock::now() - started).count();
  std::printf(
      "journey crash test: %d SIGKILLs (%d while events flowed, %d after the input ended; %d "
      "after the run had fired timers), kill phase %.1f s\n"
      "journey crash test: %zu events published; tasks expected %zu, distinct seen %zu, missing "
      "%d, unexpected %d; %llu task messages, so %d duplicates (byte-identical copies, %llu "
      "differing; consumers drop duplicates by the task's task_id, equal to its header "
      "cairn.task_id); %llu outbox rows produced again after restarts\n"
      "journey crash test: %d customers' journeys checked; timers left %llu, outbox rows left "
      "%llu; %.1f s in all\n",
      kills, during_input, after_input, while_firing, kill_s, in.messages.size(), in.tasks.size(),
      reader.seen().size(), missing, unexpected, static_cast<unsigned long long>(reader.messages()),
      duplicates, static_cast<unsigned long long>(reader.differing()),
      static_cast<unsigned long long>(reproduced), kSampleCustomers,
      static_cast<unsigned long long>(timers_left), static_cast<unsigned long long>(outbox_left),
      total_s);

  EXPECT_EQ(missing, 0);
  EXPECT_EQ(unexpected, 0);
  EXPECT_EQ(wrong_entry, 0);
  EXPECT_EQ(reader.malformed(), 0u) << "task messages without a matching cairn.task_id header";
  EXPECT_EQ(reader.differing(), 0u) << "copies of a task differ: a decision was taken twice";
  EXPECT_EQ(timers_left, 0u);
  EXPECT_EQ(outbox_left, 0u);
  for (int p = 0; p < kPartitions; ++p) {
    int64_t lo = -1, hi = -1;
    ASSERT_EQ(
        rd_kafka_query_watermark_offsets((*producer)->handle(), kTasks.c_str(), p, &lo, &hi, 5000),
        RD_KAFKA_RESP_ERR_NO_ERROR);
    EXPECT_EQ(lo, 0) << "the broker dropped old " << kTasks << "[" << p
                     << "] records (5 MiB per partition); the test is void";
  }
}

}  // namespace
}  // namespace cairn
