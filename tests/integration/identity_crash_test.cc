// Identity merges across partitions with the real processes, and SIGKILL
// while they happen: `cairn broker` (4 partitions) stays up while `cairn run`
// ingests a generated stream of people who browse anonymously, sign up
// (identify with their anonymousId and e-mail), buy, keep browsing on the
// old anonymous id, fill a form on a second device (an anonymous identify
// with the same e-mail), or had an older account (alias). Some have a twin:
// a second identified profile with the same e-mail, which must NOT be merged.
//
// The engine is SIGKILLed at random moments while the input flows and
// restarted on the same data dir. At the end RocksDB is the ledger: every
// person's surviving record holds exactly the events of all their ids
// (counts and sums), every other id is a forward pointer to it, the twins
// are untouched, and the events of all records add up to the events
// published. CAIRN_CRASH_SEED=<n> reproduces a run; CAIRN_CRASH_KILLS=<n>
// (default 4; 0 = no kill) and CAIRN_IDENTITY_PERSONS=<n> (default 240).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
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
const std::string kEvents = "cairn.events";

// What one person's surviving record must hold.
struct Expected {
  std::vector<std::string> merged;  // ids that must point at the survivor
  uint64_t events = 0, viewed = 0, orders = 0;
  double price = 0, total = 0;
  bool twin = false;
};

struct Input {
  std::vector<testing::KeyedMessage> messages;
  std::map<std::string, Expected> people;  // survivor id -> expectation
  uint64_t events = 0;
};

Input Generate(uint64_t seed, int persons) {
  std::mt19937_64 rng(seed);
  Input in;
  TimestampMs t = *ParseTimestamp("2026-03-01T08:00:00Z");
  uint64_t seq = 0;
  // Per person, the messages in their own order; persons are interleaved.
  std::vector<std::vector<testing::KeyedMessage>> lanes(static_cast<size_t>(persons));
  auto emit = [&](std::vector<testing::KeyedMessage>& lane, json e) {
    const std::string key =
        e.contains("userId") ? e["userId"].get<std::string>() : e["anonymousId"].get<std::string>();
    e["messageId"] = fmt::format("m-{}", ++seq);
    e["timestamp"] = FormatTimestamp(t += 1000);
    lane.push_back({key, e.dump()});
    in.events++;
  };
  for (int i = 0; i < persons; ++i) {
    auto& lane = lanes[static_cast<size_t>(i)];
    const std::string user = fmt::format("user-{}", i), anon = fmt::format("anon-{}", i);
    const std::string email = fmt::format("Person.{}@Example.com", i);
    Expected x;
    auto view = [&](const std::string& id, bool anonymous) {
      const double price = static_cast<double>(rng() % 9000) / 100.0;
      json e = {{"type", "track"}, {"event", "Product Viewed"}, {"properties", {{"price", price}}}};
      e[anonymous ? "anonymousId" : "userId"] = id;
      emit(lane, e);
      x.viewed++;
      x.price += price;
      x.events++;
    };
    for (int k = 0, n = 2 + static_cast<int>(rng() % 5); k < n; ++k) view(anon, true);
    emit(lane, {{"type", "identify"},
                {"userId", user},
                {"anonymousId", anon},
                {"traits", {{"email", email}, {"name", fmt::format("Person {}", i)}}}});
    x.events++;
    x.merged.push_back(anon);
    for (int k = 0, n = 1 + static_cast<int>(rng() % 4); k < n; ++k) {
      const double total = static_cast<double>(1000 + rng() % 20000) / 100.0;
      emit(lane, {{"type", "track"},
                  {"userId", user},
                  {"event", "Order Completed"},
                  {"properties", {{"total", total}}}});
      x.orders++;
      x.total += total;
      x.events++;
    }
    // Still browsing on the old device, logged out: forwarded once merged.
    for (int k = 0, n = static_cast<int>(rng() % 4); k < n; ++k) view(anon, true);
    x.twin = i % 10 == 0;
    if (i % 3 == 0 && !x.twin) {
      // A form on a second device: an anonymous identify with the same e-mail.
      const std::string anon2 = fmt::format("anon2-{}", i);
      for (int k = 0, n = 1 + static_cast<int>(rng() % 3); k < n; ++k) view(anon2, true);
      emit(lane, {{"type", "identify"},
                  {"anonymousId", anon2},
                  {"traits", {{"email", " person." + std::to_string(i) + "@example.COM"}}}});
      x.events++;
      x.merged.push_back(anon2);
    }
    if (i % 4 == 0) {
      // An older account, aliased to the new one.
      const std::string old = fmt::format("old-{}", i);
      for (int k = 0, n = 1 + static_cast<int>(rng() % 3); k < n; ++k) {
        emit(lane, {{"type", "track"}, {"userId", old}, {"event", "Logged In"}});
        x.events++;
      }
      emit(lane, {{"type", "alias"}, {"userId", user}, {"previousId", old}});
      x.events++;
      x.merged.push_back(old);
    }
    if (x.twin) {
      // Another identified profile with the same e-mail: never merged.
      const std::string twin = fmt::format("twin-{}", i);
      emit(lane, {{"type", "identify"}, {"userId", twin}, {"traits", {{"email", email}}}});
      emit(lane, {{"type", "track"}, {"userId", twin}, {"event", "Logged In"}});
      Expected tx;
      tx.events = 2;
      in.people[twin] = tx;
    }
    in.people[user] = x;
  }
  // Interleave the lanes, each in its own order.
  std::vector<size_t> at(lanes.size(), 0);
  for (bool more = true; more;) {
    more = false;
    for (size_t l = 0; l < lanes.size(); ++l) {
      const size_t take = 1 + rng() % 3;
      for (size_t k = 0; k < take && at[l] < lanes[l].size(); ++k) {
        in.messages.push_back(lanes[l][at[l]++]);
      }
      more = more || at[l] < lanes[l].size();
    }
  }
  return in;
}

class IdentityCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = testing::BrokerProcess::Start(CAIRN_BINARY, kPartitions, dir_.Sub("broker.log"));
    ASSERT_NE(broker_, nullptr) << testing::Tail(dir_.Sub("broker.log"));
    std::ofstream(dir_.Sub("cairn.yaml")) << testing::kRestartableKafkaYaml;
  }

  std::unique_ptr<testing::ChildProcess> StartEngine() {
    return testing::StartEngineProcess({.binary = CAIRN_BINARY,
                                        .config = dir_.Sub("cairn.yaml"),
                                        .brokers = broker_->address(),
                                        .data_dir = dir_.Sub("data"),
                                        .group = "identity-crash",
                                        .log_path = dir_.Sub("engine.log")},
                                       &http_addr_);
  }

  std::optional<json> Status() { return testing::EngineStatus(http_addr_); }

  void Run(int kills) {
    const auto started = Clock::now();
    const uint64_t seed = testing::EnvOr("CAIRN_CRASH_SEED", std::random_device{}());
    const int persons = static_cast<int>(testing::EnvOr("CAIRN_IDENTITY_PERSONS", 240));
    std::printf("identity crash test: seed %llu, %d persons, %d kills\n",
                static_cast<unsigned long long>(seed), persons, kills);
    std::mt19937_64 rng(seed);
    const Input in = Generate(seed, persons);

    auto producer = kafka::Producer::Create({broker_->address(), {}});
    ASSERT_TRUE(producer.ok()) << producer.status().ToString();
    testing::ChunkedPublisher publisher(producer->get(), kEvents, &in.messages, 120,
                                        std::chrono::milliseconds(kills > 0 ? 700 : 50));
    uint64_t merges_seen = 0;
    for (int k = 0; k < kills; ++k) {
      auto engine = StartEngine();
      // Kill at a random moment after this run has applied something (or,
      // once the input has ended, after its API is up: merges may be left).
      std::optional<json> st;
      ASSERT_TRUE(testing::WaitFor(
          [&] {
            st = Status();
            return !engine->running() ||
                   (st && ((*st)["process"]["messages"].get<uint64_t>() > 0 || publisher.done()));
          },
          std::chrono::seconds(40)))
          << testing::Tail(dir_.Sub("engine.log"));
      ASSERT_TRUE(engine->running()) << testing::Tail(dir_.Sub("engine.log"));
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 2500));
      if (auto now = Status()) {
        const auto& p = (*now)["process"];
        // Identity records applied by this run, or records (links, merges,
        // re-keyed events) waiting in its outbox: the kill cuts into merges.
        merges_seen += p["identity_records"].get<uint64_t>() + p["outbox_unacked"].get<uint64_t>();
        std::printf(
            "round %d: %zu of %zu published; this run: %s events, %s identity records, "
            "%s forwarded, %s unacknowledged\n",
            k, publisher.published(), in.messages.size(), p["events"].dump().c_str(),
            p["identity_records"].dump().c_str(), p["forwarded"].dump().c_str(),
            p["outbox_unacked"].dump().c_str());
      }
      engine->Kill(SIGKILL);
      ASSERT_NE(engine->Wait(std::chrono::seconds(10)), -1);
    }
    if (kills > 0)
      EXPECT_GT(merges_seen, 0u)
          << "no kill came while identities merged (records applied or in the outbox)";
    ASSERT_TRUE(testing::WaitFor([&] { return publisher.done(); }, std::chrono::minutes(3)));
    ASSERT_FALSE(publisher.failed());

    // The last start: catch up until no identity record is in flight (each
    // record applied may produce the next one).
    auto engine = StartEngine();
    int stable = 0;
    ASSERT_TRUE(testing::WaitFor(
        [&] {
          auto st = Status();
          const bool quiet =
              st && (*st)["process"]["assigned_partitions"] == kPartitions &&
              (*st)["process"]["outbox_unacked"] == 0 &&
              testing::CaughtUp(http_addr_, (*producer)->handle(), kEvents, kPartitions);
          // Staged records are produced after their batch is written: quiet
          // for 2 s means nothing is in flight.
          stable = quiet ? stable + 1 : 0;
          std::this_thread::sleep_for(std::chrono::milliseconds(250));
          return stable >= 8;
        },
        std::chrono::seconds(120)))
        << testing::Tail(dir_.Sub("engine.log"));

    if (auto st = Status()) {
      std::printf("final status: events %s, duplicates %s, dead letters %s, identity %s\n",
                  (*st)["events"].dump().c_str(), (*st)["duplicates"].dump().c_str(),
                  (*st)["dead_letters"].dump().c_str(), (*st)["identity"].dump().c_str());
      EXPECT_EQ((*st)["dead_letters"], 0) << "an identity record was dead-lettered";
    }
    // The API shows where a merged-away id went.
    auto r = testing::HttpCall("GET", http_addr_, "/v1/customers/anon-1");
    EXPECT_EQ(r.status, 308) << r.body;
    EXPECT_EQ(r.Header("location"), "/v1/customers/user-1");
    EXPECT_NE(r.body.find("merged_into"), std::string::npos) << r.body;
    engine->Kill(SIGTERM);
    engine->Wait(std::chrono::seconds(30));

    // RocksDB, the ledger.
    auto store = state::StateStore::Open({.dir = dir_.Sub("data")});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    const auto stored = testing::ReadStoredCustomers(**store);
    ASSERT_TRUE(stored.ok);
    const auto& all = stored.by_id;
    const uint64_t stored_events = stored.events;
    EXPECT_EQ(stored_events, in.events) << "events lost or counted twice";
    int wrong = 0;
    auto fail = [&](const std::string& what) {
      if (wrong++ < 12) ADD_FAILURE() << what;
    };
    uint64_t merged_ids = 0;
    for (const auto& [id, x] : in.people) {
      auto it = all.find(id);
      if (it == all.end()) {
        fail(id + ": no record");
        continue;
      }
      const auto& c = it->second;
      uint64_t viewed = 0, orders = 0;
      double price = 0, total = 0;
      for (const auto& s : c.events()) {
        if (s.name() == "Product Viewed") {
          viewed = s.count();
          price = s.sums().contains("price") ? s.sums().at("price") : 0;
        }
        if (s.name() == "Order Completed") {
          orders = s.count();
          total = s.sums().contains("total") ? s.sums().at("total") : 0;
        }
      }
      if (!c.identity().forwarded_to().empty() || c.events_total() != x.events ||
          viewed != x.viewed || orders != x.orders || std::abs(price - x.price) > 1e-6 ||
          std::abs(total - x.total) > 1e-6) {
        std::string why;
        std::vector<std::string> who = x.merged;
        who.insert(who.begin(), id);
        for (const auto& w : who) {
          auto r = all.find(w);
          why += fmt::format("\n  {}: events {}, forwarded_to '{}'", w,
                             r == all.end() ? 0 : r->second.events_total(),
                             r == all.end() ? "" : r->second.identity().forwarded_to());
          auto trace = (*store)->Trace(PartitionForKey(w, kPartitions), w, 50);
          if (!trace.ok()) continue;
          for (const auto& t : *trace) {
            if (t.action() == "identity") why += "\n    " + t.reason();
          }
        }
        fail(
            fmt::format("{}: events {} (want {}), viewed {} (want {}), orders {} (want {}), "
                        "price {} (want {}), forwarded_to '{}'{}",
                        id, c.events_total(), x.events, viewed, x.viewed, orders, x.orders, price,
                        x.price, c.identity().forwarded_to(), why));
      }
      for (const auto& m : x.merged) {
        auto p = all.find(m);
        if (p == all.end() || p->second.identity().forwarded_to() != id ||
            p->second.events_total() != 0) {
          // What both records' decision traces say about identity.
          std::string why;
          for (const std::string& who : {m, id}) {
            auto trace = (*store)->Trace(PartitionForKey(who, kPartitions), who, 50);
            if (!trace.ok()) continue;
            for (const auto& t : *trace) {
              if (t.action() == "identity") why += "\n  " + who + ": " + t.reason();
            }
          }
          fail(fmt::format("{}: not a forward pointer to {} (events {}, forwarded_to '{}'){}", m,
                           id, p == all.end() ? 0 : p->second.events_total(),
                           p == all.end() ? "" : p->second.identity().forwarded_to(), why));
        }
        merged_ids++;
      }
    }
    EXPECT_EQ(wrong, 0);
    if (HasFailure())
      std::filesystem::copy_file(dir_.Sub("engine.log"), "identity_crash_engine.log",
                                 std::filesystem::copy_options::overwrite_existing);
    std::printf(
        "identity crash test: %zu messages, %llu events, %zu people, %llu ids merged, "
        "%d kills, %.1f s\n",
        in.messages.size(), static_cast<unsigned long long>(in.events), in.people.size(),
        static_cast<unsigned long long>(merged_ids), kills,
        std::chrono::duration<double>(Clock::now() - started).count());
  }

  testing::TempDir dir_;
  std::string http_addr_;
  std::unique_ptr<testing::BrokerProcess> broker_;
};

TEST_F(IdentityCrashTest, MergesAcrossPartitions) { Run(0); }

TEST_F(IdentityCrashTest, SigkillDuringMergesLosesAndDoublesNothing) {
  Run(static_cast<int>(testing::EnvOr("CAIRN_CRASH_KILLS", 4)));
}

}  // namespace
}  // namespace cairn
