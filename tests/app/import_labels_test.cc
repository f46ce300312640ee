// `cairn import labels` (in process) and POST /v1/labels:batch on loopback,
// against the librdkafka mock cluster: the events are consumed back.

// GCC 12 reports -Wnull-dereference inside Asio once inlined (a false
// positive at the Boost line); silenced before any header.
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "api/http_server.h"
#include "api/labels_routes.h"
#include "app/import_labels_command.h"
#include "engine_harness.h"
#include "kafka/embedded_broker.h"
#include "labels/label_publisher.h"
#include "labels/label_rows.h"
#include "test_support.h"

namespace cairn::app {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kTopic[] = "labels.events";

struct Consumed {
  std::string key;
  json event;
};

class ImportLabelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto broker = kafka::EmbeddedBroker::Start({"127.0.0.1:0", 4, {kTopic}});
    ASSERT_TRUE(broker.ok()) << broker.status().ToString();
    broker_ = std::move(broker).value();
  }

  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_.Sub(name), std::ios::binary) << text;
    return dir_.Sub(name);
  }

  int Import(const std::string& file, std::string* out = nullptr, std::string* err = nullptr,
             ImportLabelsOptions options = {}) {
    options.file = file;
    if (options.brokers.empty()) options.brokers = broker_->address();
    options.topic = kTopic;
    std::ostringstream o, e;
    const int rc = ImportLabelsCommand(options, o, e);
    if (out != nullptr) *out = o.str();
    if (err != nullptr) *err = e.str();
    return rc;
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

  // userId -> the properties of its one event.
  static std::map<std::string, json> ByCustomer(const std::vector<Consumed>& events) {
    std::map<std::string, json> out;
    for (const auto& c : events) {
      EXPECT_EQ(c.event["userId"], c.key);
      EXPECT_EQ(c.event["type"], "track");
      EXPECT_EQ(c.event["event"], "Labels Updated");
      EXPECT_FALSE(out.count(c.key)) << "two events for " << c.key;
      out[c.key] = c.event["properties"];
    }
    return out;
  }

  testing::TempDir dir_;
  std::unique_ptr<kafka::EmbeddedBroker> broker_;
};

TEST_F(ImportLabelsTest, CsvProducesExactlyTheExpectedEventsAndListsRejectedRows) {
  const auto file = Write("labels.csv",
                          "customer_id,add,remove\n"
                          "u1,vip;gold,churned\n"
                          "u1,,gold\n"  // combined with the row above
                          "u2,tier:a,\n"
                          ",vip,\n"          // line 5: missing id
                          "u3,Not Valid,\n"  // line 6: invalid label
                          "u4,vip\n"         // line 7: column count
                          "u5,vip,vip\n"     // line 8: conflict
                          "u6,,winback\n");
  std::string out, err;
  EXPECT_EQ(Import(file, &out, &err), 1) << out << err;
  EXPECT_THAT(out, HasSubstr("8 rows read, 4 good, 4 rejected; 3 events produced to labels.events, "
                             "3 acknowledged"));
  EXPECT_THAT(out, HasSubstr(file + ":5: missing_id"));
  EXPECT_THAT(out, HasSubstr(file + ":6: invalid_label: label \"Not Valid\""));
  EXPECT_THAT(out, HasSubstr(file + ":7: column_count"));
  EXPECT_THAT(out, HasSubstr(file + ":8: label_conflict"));
  EXPECT_THAT(out, HasSubstr("rejected missing_id: 1"));

  const auto events = ConsumeAll(3);  // u1's two rows are one event
  ASSERT_EQ(events.size(), 3u);
  const auto by = ByCustomer(events);
  EXPECT_EQ(by.at("u1"),
            json::parse(R"({"add":["vip"],"remove":["churned","gold"],"source":"import"})"));
  EXPECT_EQ(by.at("u2"), json::parse(R"({"add":["tier:a"],"remove":[],"source":"import"})"));
  EXPECT_EQ(by.at("u6"), json::parse(R"({"add":[],"remove":["winback"],"source":"import"})"));
  EXPECT_EQ(by.count("u5"), 0u);
  for (const auto& c : events) {
    labels::LabelRow row{c.key, c.event["properties"]["add"].get<std::set<std::string>>(),
                         c.event["properties"]["remove"].get<std::set<std::string>>()};
    EXPECT_EQ(c.event["messageId"], labels::LabelMessageId(row));
  }
}

TEST_F(ImportLabelsTest, JsonLinesAllGoodExitsZeroAndReimportRepeatsTheMessageIds) {
  std::string text;
  for (int i = 0; i < 50; ++i) {
    text += i % 2 == 0 ? json({{"customer_id", "c" + std::to_string(i)}, {"label", "vip"}}).dump()
                       : json({{"customer_id", "c" + std::to_string(i)},
                               {"add", {"gold", "tier:" + std::to_string(i % 3)}},
                               {"remove", {"churned"}}})
                             .dump();
    text += "\n";
  }
  const auto file = Write("labels.jsonl", text);
  std::string out;
  ASSERT_EQ(Import(file, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("50 rows read, 50 good, 0 rejected; 50 events"));
  ASSERT_EQ(Import(file, &out), 0) << out;

  const auto events = ConsumeAll(100);
  ASSERT_EQ(events.size(), 100u);
  std::map<std::string, std::vector<json>> by_id;
  for (const auto& c : events) by_id[c.event["messageId"]].push_back(c.event);
  ASSERT_EQ(by_id.size(), 50u);
  for (const auto& [id, copies] : by_id) {
    ASSERT_EQ(copies.size(), 2u) << id;
    EXPECT_EQ(copies[0]["properties"], copies[1]["properties"]);
    EXPECT_EQ(copies[0]["userId"], copies[1]["userId"]);
  }
}

TEST_F(ImportLabelsTest, UnusableInputExitsTwoAndProducesNothing) {
  std::string out, err;
  EXPECT_EQ(Import(dir_.Sub("missing.csv"), &out, &err), 2);
  EXPECT_THAT(err, HasSubstr("cannot open"));
  EXPECT_EQ(Import(Write("bad.csv", "customer_id,lable\nu1,vip\n"), &out, &err), 2);
  EXPECT_THAT(err, HasSubstr("bad.csv:1: unknown column \"lable\""));
  EXPECT_EQ(Import(Write("labels.txt", "x"), &out, &err), 2);
  EXPECT_THAT(err, HasSubstr("--format"));
  ImportLabelsOptions o;
  o.format = "jsonl";
  EXPECT_EQ(Import(Write("labels.txt", R"({"customer_id":"u1","label":"vip"})"), &out, &err, o), 0)
      << err;
  EXPECT_EQ(ConsumeAll(1).size(), 1u);
}

TEST_F(ImportLabelsTest, FailedDeliveryExitsThree) {
  // Every produce request is refused with a permanent error.
  for (int i = 0; i < 100; ++i) {
    rd_kafka_mock_push_request_errors(broker_->mock(), 0 /* Produce */, 1,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
  }
  std::string out, err;
  ImportLabelsOptions o;
  o.flush_timeout_ms = 15000;
  EXPECT_EQ(Import(Write("l.csv", "customer_id,label\nu1,vip\nu2,vip\n"), &out, &err, o), 3)
      << out << err;
  EXPECT_THAT(err, HasSubstr("delivery failed"));
}

TEST_F(ImportLabelsTest, ProgressLinesWhenNotATerminalAndABarWhenItIs) {
  std::string text = "customer_id,label\n";
  for (int i = 0; i < 20000; ++i) text += "u" + std::to_string(i) + ",vip\n";
  const auto file = Write("big.csv", text);
  ImportLabelsOptions o;
  o.progress_interval_ms = 0;  // every row may report
  std::string out, err;
  ASSERT_EQ(Import(file, &out, &err, o), 0) << err;
  EXPECT_THAT(err, HasSubstr("import labels: "));
  EXPECT_THAT(err, HasSubstr("rows/s"));
  EXPECT_THAT(err, Not(HasSubstr("\r")));
  o.terminal = true;  // a bar redrawn in place
  ASSERT_EQ(Import(file, &out, &err, o), 0) << err;
  EXPECT_THAT(err, HasSubstr("\r["));
  EXPECT_THAT(err, HasSubstr("rows/s"));
  EXPECT_THAT(err, Not(HasSubstr("\n")));
}

class LabelsRouteTest : public ImportLabelsTest {
 protected:
  void SetUp() override {
    ImportLabelsTest::SetUp();
    auto p = labels::LabelPublisher::Create(broker_->address(), kTopic, &SystemClock::Instance());
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    publisher_ = std::move(p).value();
    auto http = api::HttpServer::Start("127.0.0.1:0", api::LabelRoutes(publisher_.get()));
    ASSERT_TRUE(http.ok()) << http.status().ToString();
    http_ = std::move(http).value();
  }
  void TearDown() override { http_.reset(); }

  testing::HttpCallResult Post(const std::string& body) {
    return testing::HttpCall("POST", http_->address(), "/v1/labels:batch", body,
                             {{"Content-Type", "application/json"}});
  }

  std::unique_ptr<labels::LabelPublisher> publisher_;
  std::unique_ptr<api::HttpServer> http_;
};

TEST_F(LabelsRouteTest, BatchIsAcknowledgedAndValidatedLikeTheImport) {
  const auto r = Post(R"({"rows":[
      {"customer_id":"a1","add":["vip"],"remove":["churned"]},
      {"customer_id":"a2","add":["Bad"]},
      {"customer_id":"a3","label":"gold"},
      {"add":["vip"]},
      "not an object"]})");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto body = json::parse(r.body);
  EXPECT_EQ(body["accepted"], 2);
  EXPECT_EQ(body["events"], 2);
  ASSERT_EQ(body["rejected"].size(), 3u);
  EXPECT_EQ(body["rejected"][0]["index"], 1);
  EXPECT_THAT(body["rejected"][0]["reason"].get<std::string>(), HasSubstr("invalid_label"));
  EXPECT_EQ(body["rejected"][1]["index"], 3);
  EXPECT_THAT(body["rejected"][1]["reason"].get<std::string>(), HasSubstr("missing_id"));
  EXPECT_EQ(body["rejected"][2]["index"], 4);
  // The answer came after the acknowledgements: the events are there now.
  EXPECT_EQ(publisher_->delivered(), 2u);

  const auto by = ByCustomer(ConsumeAll(2));
  ASSERT_EQ(by.size(), 2u);
  EXPECT_EQ(by.at("a1"), json::parse(R"({"add":["vip"],"remove":["churned"],"source":"api"})"));
  EXPECT_EQ(by.at("a3"), json::parse(R"({"add":["gold"],"remove":[],"source":"api"})"));
}

TEST_F(LabelsRouteTest, MalformedOrOversizedBodies) {
  EXPECT_EQ(Post("{not json").status, 400);
  EXPECT_EQ(Post(R"({"rows":{}})").status, 400);
  EXPECT_EQ(Post(R"([])").status, 400);
  std::string many = R"({"rows":[)";
  for (size_t i = 0; i <= api::kMaxBatchRows; ++i) {
    many += (i ? "," : "") + std::string(R"({"customer_id":"x","label":"y"})");
  }
  many += "]}";
  EXPECT_EQ(Post(many).status, 413);
  EXPECT_EQ(testing::HttpCall("GET", http_->address(), "/v1/labels:batch").status, 405);
  EXPECT_EQ(publisher_->delivered(), 0u);
}

TEST(LabelsRouteNoProducerTest, AnswersUnavailable) {
  auto http = api::HttpServer::Start("127.0.0.1:0", api::LabelRoutes(nullptr));
  ASSERT_TRUE(http.ok());
  const auto r = testing::HttpCall("POST", (*http)->address(), "/v1/labels:batch",
                                   R"({"rows":[{"customer_id":"a","label":"b"}]})");
  EXPECT_EQ(r.status, 503);
}

}  // namespace
}  // namespace cairn::app
