// POST /v1/events and /v1/batch against the librdkafka mock cluster: answered
// after the broker acknowledged, rejections named like the DLQ's reasons, and
// the events read back from the topic keyed by customer id.

// GCC 12 reports -Wnull-dereference inside Asio once inlined (a false
// positive at the Boost line); silenced before any header.
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>

#include "api/events_routes.h"
#include "api/http_server.h"
#include "api_test_util.h"
#include "engine_harness.h"
#include "kafka/embedded_broker.h"
#include "kafka/event_publisher.h"
#include "test_support.h"

namespace cairn::api {
namespace {

using nlohmann::json;
using testing::Fetch;
using testing::FetchOptions;
using ::testing::HasSubstr;

constexpr char kTopic[] = "api.events";

struct Consumed {
  std::string key;
  json event;
};

class EventsApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto broker = kafka::EmbeddedBroker::Start({"127.0.0.1:0", 4, {kTopic}});
    ASSERT_TRUE(broker.ok()) << broker.status().ToString();
    broker_ = std::move(broker).value();
    auto publisher = kafka::EventPublisher::Create(broker_->address(), kTopic);
    ASSERT_TRUE(publisher.ok()) << publisher.status().ToString();
    publisher_ = std::move(publisher).value();
    ingest::ParseOptions parse;
    parse.max_bytes = 2048;
    auto server = HttpServer::Start(
        "127.0.0.1:0", EventsRoutes(publisher_.get(), &SystemClock::Instance(), parse));
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }

  testing::Fetched Post(const std::string& target, const std::string& body) {
    FetchOptions o;
    o.method = "POST";
    o.body = body;
    o.headers = {"Content-Type: application/json"};
    return Fetch(server_->url() + target, o);
  }

  // Reads the topic from the start until `n` messages (at most 20 s), then
  // half a second more to see any extra.
  std::vector<Consumed> ConsumeAll(size_t n) {
    testing::TopicReader reader(broker_->address(), kTopic);
    EXPECT_TRUE(reader.ok());
    std::vector<Consumed> got;
    auto take = [&](const rd_kafka_message_t& m) {
      Consumed c;
      c.key.assign(static_cast<const char*>(m.key), m.key_len);
      c.event =
          json::parse(std::string(static_cast<const char*>(m.payload), m.len), nullptr, false);
      got.push_back(std::move(c));
    };
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (got.size() < n && std::chrono::steady_clock::now() < until) reader.Read(200, take);
    reader.Read(500, take);
    return got;
  }

  std::unique_ptr<kafka::EmbeddedBroker> broker_;
  std::unique_ptr<kafka::EventPublisher> publisher_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(EventsApiTest, OneEventIsAcknowledgedByTheBrokerBeforeThe200) {
  auto r = Post("/v1/events", R"({"type":"track","userId":"u1","event":"Order Completed",)"
                              R"("messageId":"m-1","properties":{"total":42.5}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"accepted":1,"rejected":[]})"));
  EXPECT_EQ(publisher_->delivered(), 1u) << "answered before the acknowledgement";
  auto got = ConsumeAll(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].key, "u1");
  EXPECT_EQ(got[0].event["event"], "Order Completed");
  EXPECT_EQ(got[0].event["properties"]["total"], 42.5);
  EXPECT_EQ(got[0].event["messageId"], "m-1");
}

TEST_F(EventsApiTest, AnInvalidEventIs400WithTheDeadLetterReason) {
  struct Case {
    std::string body, reason;
  };
  for (const auto& c : std::vector<Case>{
           {R"({"type":"track","event":"X"})", "missing_id"},
           {R"({"type":"jump","userId":"u"})", "unknown_type"},
           {R"({"type":"track","userId":"u"})", "missing_field"},
           {R"({"type":"track","userId":"u","event":"X","timestamp":"yesterday"})",
            "bad_timestamp"},
           {R"({"type":"track","userId":"u","event":"X","properties":{"p":")" +
                std::string(3000, 'x') + "\"}}",
            "too_large"},
       }) {
    auto r = Post("/v1/events", c.body);
    EXPECT_EQ(r.status, 400) << c.body;
    auto err = json::parse(r.body)["error"];
    EXPECT_EQ(err["code"], "invalid_event");
    EXPECT_EQ(err["reason"], c.reason) << r.body;
  }
  EXPECT_EQ(Post("/v1/events", "not json").status, 400);
  EXPECT_EQ(Post("/v1/events", "[1]").status, 400);
  EXPECT_EQ(publisher_->delivered(), 0u);
}

TEST_F(EventsApiTest, BatchProducesTheGoodEventsKeyedByCustomerAndListsTheBadOnes) {
  json batch = {{"context", {{"library", {{"name", "analytics-node"}}}}}, {"batch", json::array()}};
  for (int i = 0; i < 30; ++i) {
    batch["batch"].push_back({{"type", "track"},
                              {"userId", "user-" + std::to_string(i % 7)},
                              {"event", "Product Viewed"},
                              {"messageId", "b-" + std::to_string(i)}});
  }
  batch["batch"][3] = {{"type", "identify"}, {"anonymousId", "anon-1"}, {"traits", {{"a", 1}}}};
  batch["batch"][5] = {{"type", "track"}, {"event", "No Id"}};
  batch["batch"][8] = "a string";
  batch["batch"][9]["context"] = {{"ip", "10.0.0.1"}};
  auto r = Post("/v1/batch", batch.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  auto out = json::parse(r.body);
  EXPECT_EQ(out["accepted"], 28);
  ASSERT_EQ(out["rejected"].size(), 2u);
  EXPECT_EQ(out["rejected"][0]["index"], 5);
  EXPECT_EQ(out["rejected"][0]["reason"], "missing_id");
  EXPECT_EQ(out["rejected"][1]["index"], 8);
  EXPECT_EQ(out["rejected"][1]["reason"], "malformed");
  EXPECT_EQ(publisher_->delivered(), 28u);

  auto got = ConsumeAll(28);
  ASSERT_EQ(got.size(), 28u);
  std::map<std::string, int> by_message;
  for (const auto& c : got) {
    const json& e = c.event;
    const std::string id = e.contains("userId") ? e["userId"] : e["anonymousId"];
    EXPECT_EQ(c.key, id);
    if (e.contains("messageId")) ++by_message[e["messageId"]];
    if (e.value("messageId", "") == "b-9") {
      EXPECT_EQ(e["context"]["ip"], "10.0.0.1") << "an event's own context wins";
    } else {
      EXPECT_EQ(e["context"]["library"]["name"], "analytics-node");
    }
  }
  EXPECT_EQ(by_message.size(), 27u);  // 30 - 3 replaced
  for (const auto& [id, n] : by_message) EXPECT_EQ(n, 1) << id;
}

TEST_F(EventsApiTest, BatchLimitsAndShape) {
  EXPECT_EQ(Post("/v1/batch", R"({"events":[]})").status, 400);
  EXPECT_EQ(Post("/v1/batch", R"({"batch":[]})").status, 400);
  json big = {{"batch", json::array()}};
  for (size_t i = 0; i <= kMaxBatchEvents; ++i) big["batch"].push_back(json::object());
  auto r = Post("/v1/batch", big.dump());
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "too_large");
}

TEST(EventsApiNoBrokerTest, UnacknowledgedEventsAre503) {
  // Nothing listens there: the producer never gets an acknowledgement.
  auto publisher = kafka::EventPublisher::Create(testing::FreeLoopbackAddress(), kTopic,
                                                 {{"message.timeout.ms", "1500"}});
  ASSERT_TRUE(publisher.ok());
  auto server =
      HttpServer::Start("127.0.0.1:0", EventsRoutes(publisher->get(), &SystemClock::Instance()));
  ASSERT_TRUE(server.ok());
  FetchOptions o;
  o.method = "POST";
  o.body = R"({"type":"track","userId":"u1","event":"X"})";
  auto r = Fetch((*server)->url() + "/v1/events", o);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "unavailable");
  auto none = HttpServer::Start("127.0.0.1:0", EventsRoutes(nullptr, &SystemClock::Instance()));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(Fetch((*none)->url() + "/v1/events", o).status, 503);
}

}  // namespace
}  // namespace cairn::api
