// The engine in-process against the embedded broker and a real RocksDB:
// 100k keyed events from several producers, every customer's counts exact;
// malformed input dead-lettered with its reason; duplicates dropped; the
// HTTP API answering from the same state.
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "engine_api_fixture.h"

namespace cairn {
namespace {

constexpr int kPartitionCount = 8;
constexpr std::array kNames = {"Product Viewed", "Product Added", "Order Completed",
                               "Coupon Issued", "Signed Up"};

struct Expected {
  std::mutex mu;
  std::map<std::string, std::map<std::string, uint64_t>> counts;  // customer -> event -> n
  std::map<std::string, double> totals;                           // customer -> sum(total)
};

// No journeys: the engine folds events into customers only.
class EngineIntegrationTest : public testing::EngineApiFixture {
 protected:
  void SetUp() override {
    SetUpEngine({.name = "it", .partitions = kPartitionCount});
    options_.cache_capacity = 300;  // far fewer than the customers: exercise reads and eviction
  }
};

TEST_F(EngineIntegrationTest, HundredThousandEventsFromSeveralProducersCountedExactly) {
  StartEngine();
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 25000;
  constexpr int kCustomers = 2000;
  Expected expected;
  std::vector<std::thread> producers;
  std::atomic<int> failures{0};
  for (int w = 0; w < kProducers; ++w) {
    producers.emplace_back([&, w] {
      auto producer = kafka::Producer::Create({options_.brokers, {}});
      if (!producer.ok()) {
        failures++;
        return;
      }
      std::mt19937 rng(1000 + w);
      std::map<std::string, std::map<std::string, uint64_t>> counts;
      std::map<std::string, double> totals;
      for (int i = 0; i < kPerProducer; ++i) {
        const std::string user = "cust-" + std::to_string(rng() % kCustomers);
        const std::string name = kNames[rng() % kNames.size()];
        const int total = static_cast<int>(rng() % 500);
        nlohmann::json e = {{"type", "track"},
                            {"userId", user},
                            {"event", name},
                            {"messageId", "w" + std::to_string(w) + "-" + std::to_string(i)},
                            {"timestamp", "2026-03-01T10:00:00Z"},
                            {"properties", {{"total", total}}}};
        if (!(*producer)->Produce(options_.topics.events, user, e.dump()).ok()) failures++;
        counts[user][name]++;
        totals[user] += total;
      }
      if (!(*producer)->Flush(60000).ok()) failures++;
      std::lock_guard lock(expected.mu);
      for (auto& [u, m] : counts) {
        for (auto& [n, c] : m) expected.counts[u][n] += c;
      }
      for (auto& [u, t] : totals) expected.totals[u] += t;
    });
  }
  for (auto& t : producers) t.join();
  ASSERT_EQ(failures.load(), 0);

  auto probe = kafka::Producer::Create({options_.brokers, {}});
  ASSERT_TRUE(probe.ok());
  ASSERT_TRUE(
      testing::WaitFor([&] { return CaughtUp((*probe)->handle()); }, std::chrono::seconds(120)));
  auto m = engine_->metrics();
  StopEngine();

  EXPECT_EQ(m.events, static_cast<uint64_t>(kProducers * kPerProducer));
  EXPECT_EQ(m.dead_letters, 0u);
  EXPECT_EQ(m.duplicates, 0u);
  size_t customers = 0;
  uint64_t wrong = 0;
  ASSERT_TRUE(store_
                  ->ScanCustomers([&](int32_t, const v1::CustomerState& s) {
                    customers++;
                    const auto& want = expected.counts[s.id()];
                    std::map<std::string, uint64_t> got;
                    double total = 0;
                    for (const auto& e : s.events()) {
                      got[e.name()] = e.count();
                      if (auto it = e.sums().find("total"); it != e.sums().end()) {
                        total += it->second;
                      }
                    }
                    if (got != want || total != expected.totals[s.id()]) wrong++;
                    return true;
                  })
                  .ok());
  EXPECT_EQ(customers, expected.counts.size());
  EXPECT_EQ(wrong, 0u);
}

TEST_F(EngineIntegrationTest, BadInputIsDeadLetteredAndDuplicatesDropped) {
  StartEngine();
  auto producer = kafka::Producer::Create({options_.brokers, {}});
  ASSERT_TRUE(producer.ok());
  const std::string good =
      R"({"type":"track","userId":"u1","event":"Order Completed","messageId":"m-1","properties":{"total":5}})";
  ASSERT_TRUE((*producer)->Produce(options_.topics.events, "u1", good).ok());
  ASSERT_TRUE((*producer)->Produce(options_.topics.events, "u1", good).ok());  // a retry
  ASSERT_TRUE((*producer)->Produce(options_.topics.events, "u1", "{not json").ok());
  ASSERT_TRUE(
      (*producer)->Produce(options_.topics.events, "u1", R"({"type":"track","event":"X"})").ok());
  ASSERT_TRUE((*producer)->Produce(options_.topics.events, "u1", std::string(300000, ' ')).ok());
  // Then a good event after the bad ones: the partition does not stall.
  ASSERT_TRUE((*producer)
                  ->Produce(options_.topics.events, "u1",
                            R"({"type":"track","userId":"u1","event":"After","messageId":"m-2"})")
                  .ok());
  ASSERT_TRUE((*producer)->Flush(10000).ok());
  ASSERT_TRUE(
      testing::WaitFor([&] { return CaughtUp((*producer)->handle()); }, std::chrono::seconds(60)));
  auto m = engine_->metrics();
  EXPECT_EQ(m.events, 2u);
  EXPECT_EQ(m.duplicates, 1u);
  EXPECT_EQ(m.dead_letters, 3u);

  // The DLQ holds the original bytes with the reason and the source position.
  auto dlq = kafka::Consumer::Create(
      {options_.brokers, "dlq-reader", {options_.topics.dlq}, "", {}}, &no_rebalance_);
  ASSERT_TRUE(dlq.ok());
  std::map<std::string, std::string> reason_by_payload_start;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto msg = (*dlq)->Poll(100);
        if (!msg || msg->err) return false;
        rd_kafka_headers_t* h = nullptr;
        EXPECT_EQ(rd_kafka_message_headers(msg.get(), &h), RD_KAFKA_RESP_ERR_NO_ERROR);
        auto header = [&](const char* name) {
          const void* v = nullptr;
          size_t n = 0;
          if (rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR)
            return std::string();
          return std::string(static_cast<const char*>(v), n);
        };
        EXPECT_EQ(header("cairn.source.topic"), options_.topics.events);
        EXPECT_FALSE(header("cairn.source.offset").empty());
        EXPECT_FALSE(header("cairn.dlq.detail").empty());
        std::string payload(static_cast<const char*>(msg->payload), std::min<size_t>(msg->len, 10));
        reason_by_payload_start[payload] = header("cairn.dlq.reason");
        return reason_by_payload_start.size() == 3;
      },
      std::chrono::seconds(30)));
  EXPECT_EQ(reason_by_payload_start["{not json"], "malformed");
  EXPECT_EQ(reason_by_payload_start[R"({"type":"t)"], "missing_id");
  EXPECT_EQ(reason_by_payload_start[std::string(10, ' ')], "too_large");
}

TEST_F(EngineIntegrationTest, HttpApiServesCustomersFromState) {
  StartEngine();
  const std::string addr = http_->address();
  EXPECT_EQ(testing::HttpGet(addr, "/healthz").status, 200);
  EXPECT_EQ(testing::HttpGet(addr, "/v1/customers/nobody").status, 404);
  EXPECT_EQ(testing::HttpGet(addr, "/nope").status, 404);

  auto producer = kafka::Producer::Create({options_.brokers, {}});
  ASSERT_TRUE(producer.ok());
  const std::string id = "ana lima/1";  // needs percent-encoding in a URL
  nlohmann::json identify = {{"type", "identify"},
                             {"userId", id},
                             {"traits", {{"email", "ana@example.com"}, {"city", "Porto"}}},
                             {"timestamp", "2026-02-01T09:00:00Z"}};
  nlohmann::json order = {{"type", "track"},
                          {"userId", id},
                          {"event", "Order Completed"},
                          {"timestamp", "2026-02-03T09:30:00.250Z"},
                          {"properties", {{"total", 120.5}, {"order_id", "o-1"}}}};
  ASSERT_TRUE((*producer)->Produce(options_.topics.events, id, identify.dump()).ok());
  ASSERT_TRUE((*producer)->Produce(options_.topics.events, id, order.dump()).ok());
  ASSERT_TRUE((*producer)->Flush(10000).ok());
  ASSERT_TRUE(
      testing::WaitFor([&] { return CaughtUp((*producer)->handle()); }, std::chrono::seconds(60)));
  EXPECT_EQ(testing::HttpGet(addr, "/readyz").status, 200);

  auto res = testing::HttpGet(addr, "/v1/customers/ana%20lima%2F1?history=5");
  ASSERT_EQ(res.status, 200) << res.body;
  auto j = nlohmann::json::parse(res.body);
  EXPECT_EQ(j["id"], id);
  EXPECT_EQ(j["traits"]["city"], "Porto");
  EXPECT_EQ(j["events"]["Order Completed"]["count"], 1);
  EXPECT_EQ(j["events"]["Order Completed"]["first_at"], "2026-02-03T09:30:00.250Z");
  EXPECT_EQ(j["events"]["Order Completed"]["sums"]["total"], 120.5);
  EXPECT_EQ(j["events"]["Identify"]["count"], 1);
  ASSERT_EQ(j["recent"].size(), 2u);
  EXPECT_EQ(j["recent"][0]["event"], "Order Completed");  // newest first
  EXPECT_EQ(j["recent"][0]["properties"]["order_id"], "o-1");

  auto status = nlohmann::json::parse(testing::HttpGet(addr, "/v1/status").body);
  EXPECT_EQ(status["events"], 2);
  EXPECT_EQ(status["customers"], 1);
  EXPECT_EQ(testing::HttpGet(addr, "/v1/customers/x?history=abc").status, 400);
}

}  // namespace
}  // namespace cairn

namespace cairn {
namespace {

// The embedded broker keeps 5 MiB per partition. Input it deletes while the
// engine is down is not silently forgotten: the engine counts the offsets it
// had to skip and everything still in the log is counted exactly once.
TEST_F(EngineIntegrationTest, InputDeletedByRetentionWhileStoppedIsCountedAsSkipped) {
  auto producer = kafka::Producer::Create({options_.brokers, {}});
  ASSERT_TRUE(producer.ok());
  const std::string user = "early-bird";
  auto event = [&](int i, size_t pad) {
    return nlohmann::json{{"type", "track"},
                          {"userId", user},
                          {"event", "Page Viewed"},
                          {"messageId", "r-" + std::to_string(i)},
                          {"properties", {{"pad", std::string(pad, 'x')}}}}
        .dump();
  };
  StartEngine();
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE((*producer)->Produce(options_.topics.events, user, event(i, 10)).ok());
  ASSERT_TRUE((*producer)->Flush(10000).ok());
  ASSERT_TRUE(
      testing::WaitFor([&] { return CaughtUp((*producer)->handle()); }, std::chrono::seconds(60)));
  StopEngine();

  // 7 MiB more on the same partition while the engine is down.
  for (int i = 10; i < 7010; ++i) {
    ASSERT_TRUE((*producer)->Produce(options_.topics.events, user, event(i, 1000)).ok());
  }
  ASSERT_TRUE((*producer)->Flush(30000).ok());
  const int32_t part = PartitionForKey(user, kPartitionCount);
  int64_t lo = 0, hi = 0;
  ASSERT_EQ(rd_kafka_query_watermark_offsets((*producer)->handle(), options_.topics.events.c_str(),
                                             part, &lo, &hi, 5000),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_GT(lo, 10) << "the broker kept everything; nothing to test";
  ASSERT_EQ(hi, 7010);

  StartEngine();
  ASSERT_TRUE(
      testing::WaitFor([&] { return CaughtUp((*producer)->handle()); }, std::chrono::seconds(60)));
  StopEngine();
  auto cp = store_->GetCheckpoint(options_.topics.events, part);
  ASSERT_TRUE(cp);
  EXPECT_EQ(cp->offsets_skipped(), static_cast<uint64_t>(lo - 10));
  EXPECT_EQ(cp->events(), static_cast<uint64_t>(10 + (hi - lo)));
  EXPECT_EQ(cp->next_offset(), hi);
}

}  // namespace
}  // namespace cairn
