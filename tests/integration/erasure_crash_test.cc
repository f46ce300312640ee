// GDPR erasure interrupted by SIGKILL, with the real processes: `cairn
// broker` (4 partitions) stays up while `cairn run` is SIGKILLed at random
// moments around `DELETE /v1/customers/{id}` calls, while events for the
// erased customers (redeliveries, late events, all dated before the erasure)
// and for everybody else keep flowing, and is restarted on the same data dir.
//
// The input: 160 customers u000..u159. Every other one browsed anonymously
// first (v<i>) and then identified, so their record has a merged-away id;
// every fifth one (32) is erased. Part 1 (settled before any erasure: the
// merges are done) is everyone's history. Part 2 flows during the kills:
// more events of the customers kept (some of them merging a second
// anonymous id w<i> now), copies of part-1 messages (redeliveries of kept
// and of erased customers) and late events of the erased ones with fresh
// messageIds but timestamps before the erasure. Part 3, after every erasure
// was accepted: every message of the erased customers again.
//
// The contract of DELETE under a crash: 202 means the broker acknowledged
// the control event, so the erasure happens whatever dies later (the
// engine erases in the WriteBatch of that message, with its checkpoint; the
// control events that erase the merged ids ride in the outbox of that
// batch). No answer (the engine died mid-request) or 503: the request may or
// may not have reached the broker; the client sends it again after the
// restart -- erasing twice is harmless. This test does exactly that.
//
// The ledger at the end (RocksDB after a clean stop, and the API before it):
//   - every erased customer and every id merged into them: GET
//     /v1/customers/{id} answers 404 `erased`, no record, no history, no
//     trace; none of their later messages (all dated before the erasure)
//     brought them back;
//   - every customer kept: exactly the distinct messages published for them
//     and their anonymous ids (events_total and per event name), the
//     anonymous ids forward pointers to them.
//
// CAIRN_CRASH_SEED=<n> reproduces a run; CAIRN_CRASH_KILLS=<n> changes the
// number of kills (default 8).
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cairn/clock.h"
#include "cairn/murmur2.h"
#include "cairn/time.h"
#include "engine_harness.h"
#include "kafka/producer.h"
#include "state/state_store.h"
#include "test_support.h"

namespace cairn {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using testing::KeyedMessage;

constexpr int kPartitions = 4;
constexpr int kCustomers = 160;
constexpr int kChunk = 30;  // part 2: messages per acknowledged chunk, every 700 ms
const std::string kEvents = "cairn.events";

std::string Id(char prefix, int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%c%03d", prefix, i);
  return buf;
}
bool Erased(int i) { return i % 5 == 0; }
bool Anonymous(int i) { return i % 2 == 0; }  // browsed as v<i> first

// What a kept customer's record must hold.
struct Expected {
  uint64_t events = 0;
  std::map<std::string, uint64_t> by_name;
  std::set<std::string> merged;  // ids that must forward to it
};

struct Input {
  std::vector<KeyedMessage> part1, part2, part3;
  std::map<std::string, Expected> kept;  // by user id
  std::set<std::string> erased_ids;      // users and the ids merged into them
  std::vector<std::string> to_erase;     // the users DELETE is called for
  uint64_t kept_events = 0;
};

Input MakeInput(uint64_t seed, TimestampMs t0) {
  std::mt19937_64 rng(seed);
  Input in;
  uint64_t n = 0;
  // Per customer, their messages of part 1 (for the redeliveries).
  std::map<int, std::vector<KeyedMessage>> sent;
  auto message = [&](int i, const std::string& key, json e, bool count) {
    e["messageId"] = "m-" + std::to_string(n);
    e["timestamp"] = FormatTimestamp(t0 + static_cast<TimestampMs>(n));
    ++n;
    KeyedMessage m{key, e.dump()};
    if (count && !Erased(i)) {
      auto& x = in.kept[Id('u', i)];
      x.events++;
      if (e["type"] == "track") x.by_name[e["event"].get<std::string>()]++;
      in.kept_events++;
    }
    sent[i].push_back(m);
    return m;
  };
  auto track = [](const char* field, const std::string& id, const char* name) {
    return json{{"type", "track"}, {field, id}, {"event", name}, {"properties", {{"p", 1}}}};
  };
  const char* kNames[] = {"Page Viewed", "Product Added", "Order Completed"};
  std::vector<std::vector<KeyedMessage>> lanes(kCustomers);
  for (int i = 0; i < kCustomers; ++i) {
    const std::string user = Id('u', i);
    if (Erased(i)) {
      in.erased_ids.insert(user);
      in.to_erase.push_back(user);
    } else {
      in.kept[user];
    }
    if (Anonymous(i)) {
      const std::string anon = Id('v', i);
      for (int k = 0, m = 1 + static_cast<int>(rng() % 3); k < m; ++k) {
        lanes[i].push_back(message(i, anon, track("anonymousId", anon, "Page Viewed"), true));
      }
      lanes[i].push_back(message(i, user,
                                 {{"type", "identify"},
                                  {"userId", user},
                                  {"anonymousId", anon},
                                  {"traits", {{"name", "Person " + std::to_string(i)}}}},
                                 true));
      (Erased(i) ? in.erased_ids : in.kept[user].merged).insert(anon);
    }
    for (int k = 0, m = 2 + static_cast<int>(rng() % 4); k < m; ++k) {
      lanes[i].push_back(message(i, user, track("userId", user, kNames[rng() % 3]), true));
    }
  }
  auto interleave = [&](std::vector<std::vector<KeyedMessage>>& from,
                        std::vector<KeyedMessage>& to) {
    std::vector<size_t> at(from.size(), 0);
    for (bool more = true; more;) {
      more = false;
      for (size_t l = 0; l < from.size(); ++l) {
        for (size_t k = 0, take = 1 + rng() % 2; k < take && at[l] < from[l].size(); ++k) {
          to.push_back(from[l][at[l]++]);
        }
        more = more || at[l] < from[l].size();
      }
    }
  };
  interleave(lanes, in.part1);

  // Part 2, in per-customer order.
  const auto first = sent;  // part-1 messages per customer
  std::vector<std::vector<KeyedMessage>> lanes2(kCustomers);
  for (int i = 0; i < kCustomers; ++i) {
    const std::string user = Id('u', i);
    auto& lane = lanes2[i];
    const auto& old = first.at(i);
    // Redeliveries of part-1 messages (kept: duplicates; erased: dropped).
    for (int k = 0, m = 1 + static_cast<int>(rng() % 3); k < m; ++k) {
      lane.push_back(old[rng() % old.size()]);
    }
    if (Erased(i)) {
      // A late app: fresh messageIds, dated before the erasure.
      for (int k = 0, m = 2 + static_cast<int>(rng() % 3); k < m; ++k) {
        lane.push_back(message(i, user, track("userId", user, kNames[rng() % 3]), false));
      }
      if (Anonymous(i)) {
        lane.push_back(
            message(i, Id('v', i), track("anonymousId", Id('v', i), "Page Viewed"), false));
      }
      continue;
    }
    if (!Anonymous(i) && i % 3 == 0) {
      // A second device identified now, during the kills.
      const std::string anon = Id('w', i);
      for (int k = 0, m = 1 + static_cast<int>(rng() % 2); k < m; ++k) {
        lane.push_back(message(i, anon, track("anonymousId", anon, "Page Viewed"), true));
      }
      lane.push_back(
          message(i, user, {{"type", "identify"}, {"userId", user}, {"anonymousId", anon}}, true));
      in.kept[user].merged.insert(anon);
    }
    for (int k = 0, m = 3 + static_cast<int>(rng() % 5); k < m; ++k) {
      lane.push_back(message(i, user, track("userId", user, kNames[rng() % 3]), true));
    }
  }
  interleave(lanes2, in.part2);
  // Part 3: every message of the erased customers, once more.
  for (int i = 0; i < kCustomers; i += 5) {
    for (const auto& m : sent.at(i)) in.part3.push_back(m);
  }
  return in;
}

class ErasureCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = testing::BrokerProcess::Start(CAIRN_BINARY, kPartitions, dir_.Sub("broker.log"));
    ASSERT_NE(broker_, nullptr) << testing::Tail(dir_.Sub("broker.log"));
    std::ofstream(dir_.Sub("cairn.yaml")) << testing::kRestartableKafkaYaml;
  }

  // Each run joins a consumer group of its own (see analytics_crash_test).
  // `crash_points`: CAIRN_CRASH_POINTS for this run ("" = none).
  std::unique_ptr<testing::ChildProcess> StartEngine(const std::string& crash_points = "") {
    std::string addr;
    auto engine =
        testing::StartEngineProcess({.binary = CAIRN_BINARY,
                                     .config = dir_.Sub("cairn.yaml"),
                                     .brokers = broker_->address(),
                                     .data_dir = dir_.Sub("data"),
                                     .group = "erasure-crash-" + std::to_string(++starts_),
                                     .log_path = dir_.Sub("engine.log"),
                                     .log_level = "info",
                                     .crash_points = crash_points},
                                    &addr);
    std::lock_guard lock(mu_);
    http_addr_ = addr;
    return engine;
  }

  std::string Http() {
    std::lock_guard lock(mu_);
    return http_addr_;
  }
  std::optional<json> Status() { return testing::EngineStatus(Http()); }

  // Until the engine is caught up with nothing in flight for 2 s (identity
  // records and cascaded erasures are produced after their batch is written).
  bool Settle(rd_kafka_t* rk, std::chrono::seconds timeout) {
    int stable = 0;
    return testing::WaitFor(
        [&] {
          auto st = Status();
          const bool quiet = st && (*st)["process"]["assigned_partitions"] == kPartitions &&
                             (*st)["process"]["outbox_unacked"] == 0 &&
                             testing::CaughtUp(Http(), rk, kEvents, kPartitions);
          stable = quiet ? stable + 1 : 0;
          std::this_thread::sleep_for(std::chrono::milliseconds(250));
          return stable >= 8;
        },
        timeout);
  }

  // Publishes `messages` and waits for every acknowledgement.
  void PublishAll(kafka::Producer& producer, const std::vector<KeyedMessage>& messages) {
    for (const auto& m : messages) ASSERT_TRUE(producer.Produce(kEvents, m.key, m.value).ok());
    ASSERT_TRUE(producer.Flush(30000).ok());
  }

  testing::TempDir dir_;
  std::mutex mu_;
  std::string http_addr_;
  int starts_ = 0;
  std::unique_ptr<testing::BrokerProcess> broker_;
};

TEST_F(ErasureCrashTest, SigkillAroundErasuresLeavesThemErasedAndTheRestExact) {
  const auto started = Clock::now();
  const uint64_t seed = testing::EnvOr("CAIRN_CRASH_SEED", std::random_device{}());
  const int kills = static_cast<int>(testing::EnvOr("CAIRN_CRASH_KILLS", 8));
  std::printf("erasure crash test: seed %llu (CAIRN_CRASH_SEED reproduces), %d kills\n",
              static_cast<unsigned long long>(seed), kills);
  std::mt19937_64 rng(seed);
  const Input in = MakeInput(seed, SystemClock::Instance().NowMs() - 30 * 60 * 1000);

  auto producer = kafka::Producer::Create({broker_->address(), {}});
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();

  // Part 1, settled: every merge of the erased customers is done.
  PublishAll(**producer, in.part1);
  {
    auto engine = StartEngine();
    ASSERT_TRUE(Settle((*producer)->handle(), std::chrono::seconds(60)))
        << testing::Tail(dir_.Sub("engine.log"));
    engine->Kill(SIGKILL);
    ASSERT_NE(engine->Wait(std::chrono::seconds(10)), -1);
  }

  // Part 2 flows while the rounds erase and kill. Each round: start, wait
  // for the API, then a thread calls DELETE for a share of the customers not
  // erased yet (spaced by up to 200 ms), and the engine dies:
  //   rounds 0, 4: SIGKILL at a random moment within 800 ms after this run
  //     applied its first erasure (its cascade to the merged ids may still
  //     be in the outbox), or after 6 s;
  //   rounds 2, 6: SIGKILL within 300 ms after the first DELETE went out,
  //     while the calls wait for the broker's acknowledgement;
  //   odd rounds: by itself at the crash point `engine.erasure_staged`
  //     (probability 0.5 per erasure: the erasure in the batch in hand, not
  //     written), or SIGKILL after 6 s.
  // A 202 is final; a DELETE without an answer (or a 503) is sent again in a
  // later round, as a client must.
  testing::ChunkedPublisher publisher(producer->get(), kEvents, &in.part2, kChunk,
                                      std::chrono::milliseconds(700));
  std::vector<std::string> pending = in.to_erase;
  std::shuffle(pending.begin(), pending.end(), rng);
  std::map<std::string, int> accepted;  // customer -> 202s
  int unanswered = 0, refused = 0, rounds = 0, kills_mid_erasure = 0, at_crash_point = 0;
  for (int k = 0; k < kills; ++k) {
    auto engine = StartEngine(k % 2 == 1 ? "engine.erasure_staged:0.5" : "");
    ASSERT_TRUE(
        testing::WaitFor([&] { return Status() || !engine->running(); }, std::chrono::seconds(30)))
        << testing::Tail(dir_.Sub("engine.log"));
    ASSERT_TRUE(engine->running()) << testing::Tail(dir_.Sub("engine.log"));
    // The rounds left share what is still to erase.
    const size_t take =
        (pending.size() + static_cast<size_t>(kills - k) - 1) / static_cast<size_t>(kills - k);
    std::vector<std::string> batch(pending.end() - static_cast<std::ptrdiff_t>(take),
                                   pending.end());
    pending.resize(pending.size() - take);
    // -1: not sent (the engine was already dead), 0: no answer.
    std::vector<std::atomic<int>> results(batch.size());
    for (auto& r : results) r = -1;
    std::atomic<bool> erasing{true}, killed{false};
    std::thread eraser([&, pause = rng() % 200] {
      for (size_t b = 0; b < batch.size() && !killed; ++b) {
        results[b] = testing::HttpCall("DELETE", Http(), "/v1/customers/" + batch[b]).status;
        std::this_thread::sleep_for(std::chrono::milliseconds(pause));
      }
      erasing = false;
    });
    if (k % 2 == 1) {
      testing::WaitFor([&] { return !engine->running(); }, std::chrono::seconds(6));
    } else if (k % 4 == 2) {
      // While the first DELETEs wait for the broker (a fresh engine's
      // producer is still connecting): they get no answer.
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 300));
    } else {
      // Once this run applied an erasure (its cascade may be in the outbox),
      // or after 6 s.
      testing::WaitFor(
          [&] {
            auto st = Status();
            return !engine->running() || (st && (*st)["process"]["erasures"].get<uint64_t>() > 0);
          },
          std::chrono::seconds(6));
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 800));
    }
    const bool died_itself = !engine->running();
    at_crash_point += died_itself;
    kills_mid_erasure += erasing.load();
    engine->Kill(SIGKILL);
    killed = true;
    eraser.join();
    ASSERT_NE(engine->Wait(std::chrono::seconds(10)), -1);
    ++rounds;
    int ok = 0;
    for (size_t b = 0; b < batch.size(); ++b) {
      if (results[b] == 202) {
        accepted[batch[b]]++;
        ++ok;
        continue;
      }
      if (results[b] == 0) ++unanswered;
      if (results[b] > 0) ++refused;
      pending.push_back(batch[b]);  // no answer: send it again after the restart
    }
    std::printf("round %d: %zu of %zu published; %d of %zu erasures accepted, %zu to retry%s\n", k,
                publisher.published(), in.part2.size(), ok, batch.size(), pending.size(),
                died_itself ? "; died at engine.erasure_staged" : "");
  }
  ASSERT_TRUE(testing::WaitFor([&] { return publisher.done(); }, std::chrono::minutes(2)));
  ASSERT_FALSE(publisher.failed());

  // The last start: the erasures left (also every one a kill interrupted).
  auto engine = StartEngine();
  ASSERT_TRUE(
      testing::WaitFor([&] { return Status() || !engine->running(); }, std::chrono::seconds(30)));
  for (const auto& id : pending) {
    auto r = testing::HttpCall("DELETE", Http(), "/v1/customers/" + id);
    ASSERT_EQ(r.status, 202) << id << ": " << r.body;
    accepted[id]++;
  }
  for (const auto& id : in.to_erase) ASSERT_TRUE(accepted.contains(id)) << id;
  ASSERT_TRUE(Settle((*producer)->handle(), std::chrono::seconds(60)))
      << testing::Tail(dir_.Sub("engine.log"));
  // Part 3: everything of the erased customers once more; all of it dropped.
  const uint64_t dropped_before = (*Status())["process"]["erased_dropped"].get<uint64_t>();
  PublishAll(**producer, in.part3);
  ASSERT_TRUE(Settle((*producer)->handle(), std::chrono::seconds(60)))
      << testing::Tail(dir_.Sub("engine.log"));
  const json status = *Status();
  EXPECT_EQ(status["process"]["erased_dropped"].get<uint64_t>() - dropped_before, in.part3.size())
      << "old messages of erased customers were not all dropped: " << status["process"].dump();
  EXPECT_EQ(status["dead_letters"], 0);
  EXPECT_EQ(status["offsets_skipped"], 0) << "input was lost to retention; the test is void";

  // The API: every erased id answers 404 erased, on every route.
  int wrong = 0;
  auto fail = [&](const std::string& what) {
    if (wrong++ < 12) ADD_FAILURE() << what;
  };
  for (const auto& id : in.erased_ids) {
    for (const std::string suffix : {"", "/timeline", "/journeys"}) {
      auto r = testing::HttpCall("GET", Http(), "/v1/customers/" + id + suffix);
      const json body = json::parse(r.body, nullptr, false);
      if (r.status != 404 || !body.is_object() || !body.contains("error") ||
          body["error"]["code"] != "erased") {
        fail(id + suffix + ": " + std::to_string(r.status) + " " + r.body);
      }
    }
  }
  engine->Kill(SIGTERM);
  engine->Wait(std::chrono::seconds(30));

  // RocksDB: the erased are gone, the kept exact.
  auto store = state::StateStore::Open({.dir = dir_.Sub("data")});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const auto stored = testing::ReadStoredCustomers(**store);
  ASSERT_TRUE(stored.ok);
  const auto& all = stored.by_id;
  const uint64_t stored_events = stored.events;
  for (const auto& id : in.erased_ids) {
    const int32_t p = PartitionForKey(id, kPartitions);
    auto h = (*store)->History(p, id, 10);
    auto t = (*store)->Trace(p, id, 10);
    if (all.contains(id) || !h.ok() || !h->empty() || !t.ok() || !t->empty()) {
      fail(id + ": erased, but " + (all.contains(id) ? "a record, " : "") +
           (h.ok() ? std::to_string(h->size()) : "?") + " history entries, " +
           (t.ok() ? std::to_string(t->size()) : "?") + " trace entries are left");
    }
  }
  for (const auto& [user, x] : in.kept) {
    auto it = all.find(user);
    if (it == all.end()) {
      fail(user + ": no record");
      continue;
    }
    const auto& c = it->second;
    std::map<std::string, uint64_t> by_name;
    for (const auto& s : c.events()) {
      if (s.name() == "Page Viewed" || s.name() == "Product Added" ||
          s.name() == "Order Completed") {
        by_name[s.name()] = s.count();
      }
    }
    if (c.events_total() != x.events || by_name != x.by_name ||
        !c.identity().forwarded_to().empty()) {
      fail(user + ": events " + std::to_string(c.events_total()) + " (want " +
           std::to_string(x.events) + "), forwarded_to '" + c.identity().forwarded_to() + "'");
    }
    for (const auto& m : x.merged) {
      auto p = all.find(m);
      if (p == all.end() || p->second.identity().forwarded_to() != user ||
          p->second.events_total() != 0) {
        fail(m + ": not a forward pointer to " + user);
      }
    }
  }
  EXPECT_EQ(stored_events, in.kept_events) << "events lost or counted twice";
  EXPECT_EQ(wrong, 0);
  std::printf(
      "erasure crash test: %zu + %zu + %zu messages; %zu customers erased (%zu ids with the "
      "merged ones), %zu kept; %d kills (%d at engine.erasure_staged, %d while DELETEs were in "
      "flight), %d DELETEs without "
      "an answer and %d refused, sent again; stored events %llu (ledger %llu); %.1f s\n",
      in.part1.size(), in.part2.size(), in.part3.size(), in.to_erase.size(), in.erased_ids.size(),
      in.kept.size(), rounds, at_crash_point, kills_mid_erasure, unanswered, refused,
      static_cast<unsigned long long>(stored_events),
      static_cast<unsigned long long>(in.kept_events),
      std::chrono::duration<double>(Clock::now() - started).count());
  if (HasFailure()) {
    std::filesystem::copy_file(dir_.Sub("engine.log"), "erasure_crash_engine.log",
                               std::filesystem::copy_options::overwrite_existing);
  }
}

}  // namespace
}  // namespace cairn
