// Campaign resume after SIGKILL, with the real processes: `cairn broker`
// stays up while `cairn run --journeys` runs a throttled campaign over 1,600
// stored customers (half in the audience) and is SIGKILLed mid-run several
// times, restarted each time on the same data dir. At the end every audience
// member entered exactly once and nobody else did: on cairn.tasks (one task
// id per audience member, instance 1; copies of the same task produced again
// from the outbox are allowed and counted) and in RocksDB (entries == 1 and
// the run noted in last_run_ms).
//
// CAIRN_CRASH_SEED=<n> reproduces a run; CAIRN_CRASH_KILLS=<n> changes the
// number of kills (default 4).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "cairn/murmur2.h"
#include "cairn/time.h"
#include "engine_harness.h"
#include "state/state_store.h"
#include "test_support.h"

namespace cairn {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kPartitions = 4;
constexpr int kCustomers = 1600;
const std::string kTasks = "cairn.tasks";
constexpr char kAt[] = "2026-01-01T00:00:00Z";

constexpr char kJourney[] = R"(journey: crash-campaign
version: 1
description: crash test - a throttled once campaign
when:
  schedule:
    at: 2026-01-01T00:00:00Z
    rate: 100
who:
  where: traits.segment == 'a'
  consent: { email: implied }
entry:
  reentry: always
steps:
  - id: offer
    send: { channel: email, template: offer }
)";

std::string Name(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "k%04d", i);
  return buf;
}

bool InAudience(int i) { return i % 2 == 0; }

class CampaignCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = testing::BrokerProcess::Start(CAIRN_BINARY, kPartitions, dir_.Sub("broker.log"));
    ASSERT_NE(broker_, nullptr) << testing::Tail(dir_.Sub("broker.log"));
    std::filesystem::create_directories(dir_.Sub("journeys"));
    std::ofstream(dir_.Sub("journeys/crash-campaign.yaml")) << kJourney;
    std::ofstream(dir_.Sub("cairn.yaml")) << testing::kRestartableKafkaYaml;
    // The customers, stored as the engine stores them.
    auto store = state::StateStore::Open({.dir = dir_.Sub("data")});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto batch = (*store)->NewBatch();
    for (int i = 0; i < kCustomers; ++i) {
      v1::CustomerState c;
      c.set_id(Name(i));
      c.set_traits_json(InAudience(i) ? R"({"segment":"a"})" : R"({"segment":"b"})");
      c.set_first_seen_ms(1000);
      c.set_events_total(1);
      batch.PutCustomer(PartitionForKey(c.id(), kPartitions), c);
    }
    ASSERT_TRUE((*store)->Write(batch).ok());
  }

  std::unique_ptr<testing::ChildProcess> StartEngine() {
    return testing::StartEngineProcess({.binary = CAIRN_BINARY,
                                        .config = dir_.Sub("cairn.yaml"),
                                        .brokers = broker_->address(),
                                        .data_dir = dir_.Sub("data"),
                                        .group = "campaign-crash",
                                        .log_path = dir_.Sub("engine.log"),
                                        .journeys = dir_.Sub("journeys")},
                                       &http_addr_);
  }

  // The campaign's entries so far as this run's status shows them; nullopt
  // while the API is not up.
  std::optional<json> Campaign() {
    auto st = testing::EngineStatus(http_addr_);
    if (!st || !st->contains("campaigns")) return std::nullopt;
    for (const auto& r : (*st)["campaigns"]["runs"]) {
      if (r["journey"] == "crash-campaign") return r;
    }
    return std::nullopt;
  }

  testing::TempDir dir_;
  std::string http_addr_;
  std::unique_ptr<testing::BrokerProcess> broker_;
};

TEST_F(CampaignCrashTest, SigkillMidRunEntersEveryoneExactlyOnce) {
  const auto started = Clock::now();
  const uint64_t seed = testing::EnvOr("CAIRN_CRASH_SEED", std::random_device{}());
  const int kills = static_cast<int>(testing::EnvOr("CAIRN_CRASH_KILLS", 4));
  std::printf("campaign crash test: seed %llu, %d kills\n", static_cast<unsigned long long>(seed),
              kills);
  std::mt19937_64 rng(seed);

  int killed_mid_run = 0;
  uint64_t last_entered = 0;
  for (int k = 0; k < kills; ++k) {
    auto engine = StartEngine();
    // Kill once this run has entered customers of its own, at a random moment after.
    std::optional<json> c;
    const bool progressed = testing::WaitFor(
        [&] {
          c = Campaign();
          return !engine->running() ||
                 (c && ((*c)["entered"].get<uint64_t>() > last_entered || (*c)["state"] == "done"));
        },
        std::chrono::seconds(30));
    ASSERT_TRUE(engine->running()) << testing::Tail(dir_.Sub("engine.log"));
    ASSERT_TRUE(progressed) << "no campaign progress in round " << k << "\n"
                            << testing::Tail(dir_.Sub("engine.log"));
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 1200));
    c = Campaign();
    const bool mid_run = c && (*c)["state"] == "running";
    if (c) last_entered = (*c)["entered"].get<uint64_t>();
    std::printf("round %d: killed %s (%s entered)\n", k, mid_run ? "mid-run" : "after the run",
                c ? (*c)["entered"].dump().c_str() : "?");
    killed_mid_run += mid_run;
    engine->Kill(SIGKILL);
    ASSERT_NE(engine->Wait(std::chrono::seconds(10)), -1);
  }
  EXPECT_GE(killed_mid_run, 1) << "the kills all came after the run: the test proves nothing";

  // The last start finishes the run.
  auto engine = StartEngine();
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto c = Campaign();
        return c && (*c)["state"] == "done" && (*c)["partition_runs"] == kPartitions;
      },
      std::chrono::seconds(40)))
      << (Campaign() ? Campaign()->dump() : "no status") << "\n"
      << testing::Tail(dir_.Sub("engine.log"));
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto st = testing::EngineStatus(http_addr_);
        return st && (*st)["process"]["outbox_unacked"] == 0;
      },
      std::chrono::seconds(20)));

  // cairn.tasks: one task per audience member.
  testing::TaskReader reader(broker_->address(), kTasks);
  ASSERT_TRUE(reader.ok());
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (reader.seen().size() < kCustomers / 2 && Clock::now() < deadline) reader.Read(200);
  reader.Read(1000);  // late copies, if any
  std::map<std::string, std::set<std::string>> by_customer;
  int copies = 0;
  for (const auto& [id, n] : reader.seen()) {
    const auto& t = reader.tasks().at(id);
    by_customer[testing::StringField(t, "customer_id")].insert(id);
    copies += n - 1;
    EXPECT_EQ(t["instance"], 1) << t.dump();
  }
  int missing = 0, doubled = 0, outsiders = 0;
  for (int i = 0; i < kCustomers; ++i) {
    const auto it = by_customer.find(Name(i));
    const size_t n = it == by_customer.end() ? 0 : it->second.size();
    if (InAudience(i)) {
      missing += n == 0;
      doubled += n > 1;
    } else {
      outsiders += n > 0;
    }
  }
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(doubled, 0) << "double entries";
  EXPECT_EQ(outsiders, 0) << "customers outside the audience entered";
  EXPECT_EQ(reader.malformed(), 0u);
  EXPECT_EQ(reader.differing(), 0u);

  engine->Kill(SIGTERM);
  engine->Wait(std::chrono::seconds(30));

  // RocksDB: the engine's own record of every customer.
  const TimestampMs at = *ParseTimestamp(kAt);
  int wrong = 0;
  auto store = state::StateStore::Open({.dir = dir_.Sub("data")});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  for (int i = 0; i < kCustomers; ++i) {
    auto c = (*store)->GetCustomer(PartitionForKey(Name(i), kPartitions), Name(i));
    ASSERT_TRUE(c.ok() && c->has_value()) << Name(i);
    uint64_t entries = 0;
    TimestampMs run = 0;
    for (const auto& e : (*c)->journey_entries()) {
      if (e.journey() == "crash-campaign") {
        entries = e.entries();
        run = e.last_run_ms();
      }
    }
    const bool ok = InAudience(i) ? entries == 1 && run == at : entries == 0;
    if (!ok && wrong++ < 10) {
      ADD_FAILURE() << Name(i) << ": entries " << entries << ", last_run_ms " << run;
    }
  }
  std::printf(
      "campaign crash test: %d kills (%d mid-run), %zu entered, %d copies produced again, "
      "%.1f s\n",
      kills, killed_mid_run, by_customer.size(), copies,
      std::chrono::duration<double>(Clock::now() - started).count());
}

}  // namespace
}  // namespace cairn
