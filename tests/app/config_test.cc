#include "app/config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "app/delivery.h"
#include "app/sample_stream.h"
#include "test_support.h"

namespace cairn::app {
namespace {

TEST(ConfigTest, DefaultsAreTheDocumentedOnes) {
  Config c;
  EXPECT_EQ(c.engine.brokers, "");
  EXPECT_EQ(c.embedded_kafka, "127.0.0.1:9092");
  EXPECT_EQ(c.embedded_partitions, 16);
  EXPECT_EQ(c.store.dir, "./cairn-data");
  EXPECT_EQ(c.http.admin_listen, "127.0.0.1:8080");
  EXPECT_EQ(c.http.public_listen, "127.0.0.1:8081");
  EXPECT_EQ(c.engine.topics.events, "cairn.events");
  EXPECT_EQ(c.engine.topics.dlq, "cairn.events.dlq");
  EXPECT_EQ(c.engine.topics.tasks, "cairn.tasks");
  EXPECT_EQ(c.engine.parse.max_bytes, 256u * 1024);
}

TEST(ConfigTest, FileSetsEveryKey) {
  Config c;
  const std::string yaml = R"(
kafka:
  brokers: kafka-0:9092,kafka-1:9092
  group_id: journeys
  instance_id: cairn-0
  consumer: { session.timeout.ms: 10000 }
  producer: { linger.ms: 20 }
topics: { events: ev, dlq: ev.dlq, tasks: tk }
storage: { data_dir: /var/lib/cairn, sync_writes: true, cache_customers: 1000,
          backup_dir: /var/lib/cairn-backups }
http: { listen: 0.0.0.0:8081 }
ingest: { max_batch: 500, max_message_bytes: 1024, max_depth: 8 }
state: { summed_properties: [total, points], dedup_window: 8, history_limit: 10 }
log_level: debug
)";
  ASSERT_TRUE(LoadConfigText(yaml, "cairn.yaml", c).ok());
  EXPECT_EQ(c.engine.brokers, "kafka-0:9092,kafka-1:9092");
  EXPECT_EQ(c.engine.group_id, "journeys");
  EXPECT_EQ(c.engine.instance_id, "cairn-0");
  EXPECT_EQ(c.engine.consumer_properties.at("session.timeout.ms"), "10000");
  EXPECT_EQ(c.engine.producer_properties.at("linger.ms"), "20");
  EXPECT_EQ(c.engine.topics.dlq, "ev.dlq");
  EXPECT_EQ(c.store.dir, "/var/lib/cairn");
  EXPECT_TRUE(c.store.sync_writes);
  EXPECT_EQ(c.engine.cache_capacity, 1000u);
  EXPECT_EQ(c.backup_dir, "/var/lib/cairn-backups");
  EXPECT_EQ(c.http.admin_listen, "0.0.0.0:8081");
  EXPECT_EQ(c.engine.max_batch, 500u);
  EXPECT_EQ(c.engine.parse.max_depth, 8u);
  EXPECT_EQ(c.engine.state.summed_properties, (std::vector<std::string>{"total", "points"}));
  EXPECT_EQ(c.engine.state.history_limit, 10u);
  EXPECT_EQ(c.log_level, "debug");
}

TEST(ConfigTest, UnknownKeyNamesFileLineAndColumn) {
  Config c;
  auto s = LoadConfigText("kafka:\n  brokers: x\n  grup_id: y\n", "cairn.yaml", c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cairn.yaml:3:3"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("kafka.grup_id"), std::string::npos) << s.message();
}

TEST(ConfigTest, WrongTypeAndBadYamlAreLocated) {
  Config c;
  auto s = LoadConfigText("ingest:\n  max_batch: lots\n", "a.yaml", c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("a.yaml:2:14"), std::string::npos) << s.message();
  s = LoadConfigText("kafka: [unclosed\n", "b.yaml", c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("b.yaml:"), std::string::npos) << s.message();
  s = LoadConfigText("state:\n  summed_properties: total\n", "c.yaml", c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("c.yaml:2:22"), std::string::npos) << s.message();
}

TEST(ConfigTest, HttpListenersTokensTlsAndAudit) {
  Config c;
  auto s = LoadConfigText(
      "http:\n"
      "  admin_listen: 10.0.0.5:9000\n"
      "  public_listen: 0.0.0.0:80\n"
      "  admin_tokens_file: /etc/cairn/tokens\n"
      "  audit_log: /var/log/cairn/audit.log\n"
      "  metrics_public: true\n"
      "  tls: { cert_file: pub.crt, key_file: pub.key }\n"
      "  admin_tls: { cert_file: adm.crt, key_file: adm.key }\n",
      "h.yaml", c);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(c.http.admin_listen, "10.0.0.5:9000");
  EXPECT_EQ(c.http.public_listen, "0.0.0.0:80");
  EXPECT_EQ(c.http.admin_tokens_file, "/etc/cairn/tokens");
  EXPECT_EQ(c.http.audit_log, "/var/log/cairn/audit.log");
  EXPECT_TRUE(c.http.metrics_public);
  EXPECT_EQ(c.http.public_tls.cert_file, "pub.crt");
  EXPECT_EQ(c.http.public_tls.key_file, "pub.key");
  EXPECT_EQ(c.http.admin_tls.cert_file, "adm.crt");
  EXPECT_EQ(c.http.admin_tls.key_file, "adm.key");
  s = LoadConfigText("http:\n  tls: { cert: x }\n", "t.yaml", c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("t.yaml:2:10"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("http.tls.cert"), std::string::npos) << s.message();
}

TEST(ConfigTest, MissingFileIsNotFound) {
  Config c;
  auto s = LoadConfigFile("/nonexistent/cairn.yaml", c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
}

TEST(ConfigTest, ShippedExampleConfigLoads) {
  Config c;
  auto s = LoadConfigFile(std::string(CAIRN_SOURCE_DIR) + "/deploy/cairn.example.yaml", c);
  EXPECT_TRUE(s.ok()) << s.message();
}

TEST(ConfigTest, AnalyticsKeys) {
  Config c;
  ASSERT_TRUE(LoadConfigText(R"(
analytics:
  cost_per_message: { email: 0.001, sms: 0.05 }
  intervals: [{ from: Product Added, to: Order Completed }]
  revenue_properties: [amount]
  max_event_names: 50
)",
                             "a.yaml", c)
                  .ok());
  EXPECT_DOUBLE_EQ(c.engine.analytics.cost_per_message.at("sms"), 0.05);
  ASSERT_EQ(c.engine.analytics.intervals.size(), 1u);
  EXPECT_EQ(c.engine.analytics.intervals[0].to, "Order Completed");
  EXPECT_EQ(c.engine.analytics.revenue_properties, std::vector<std::string>{"amount"});
  EXPECT_EQ(c.engine.analytics.max_event_names, 50u);
  auto bad = LoadConfigText("analytics:\n  cost_per_message: { sms: -1 }\n", "b.yaml", c);
  EXPECT_NE(bad.message().find("b.yaml:2:"), std::string::npos) << bad.message();
  bad = LoadConfigText("analytics:\n  intervals: [{ from: A }]\n", "c.yaml", c);
  EXPECT_NE(bad.message().find("c.yaml:2:"), std::string::npos) << bad.message();
  bad = LoadConfigText("analytics:\n  costs: {}\n", "d.yaml", c);
  EXPECT_NE(bad.message().find("unknown key 'analytics.costs'"), std::string::npos);
}

TEST(SampleStreamTest, DeterministicAndShaped) {
  SampleOptions o;
  o.customers = 50;
  SampleSummary a, b;
  auto r1 = GenerateSample(o, &a);
  auto r2 = GenerateSample(o, &b);
  ASSERT_EQ(r1.size(), r2.size());
  for (size_t i = 0; i < r1.size(); ++i) ASSERT_EQ(r1[i].value, r2[i].value);
  EXPECT_EQ(a.records, r1.size());
  EXPECT_GT(a.orders, 0u);
  size_t malformed = 0, retries = 0, ce = 0;
  for (const auto& r : r1) {
    malformed += r.malformed;
    retries += r.retry;
    for (const auto& [k, v] : r.headers) ce += k == "ce_specversion";
    EXPECT_FALSE(r.key.empty());
  }
  EXPECT_EQ(malformed, a.malformed);
  EXPECT_EQ(retries, a.retries);
  EXPECT_GT(ce, 0u);
  o.seed = 43;
  EXPECT_NE(GenerateSample(o, nullptr).front().value, r1.front().value);
}

}  // namespace
}  // namespace cairn::app

namespace cairn::app {
namespace {

// Delivery config is validated at start: a wrong field stops it, named with
// file:line:col; secrets come from files.
class DeliveryConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = state::StateStore::Open({.dir = dir_.Sub("db")});
    ASSERT_TRUE(store.ok());
    store_ = std::move(store).value();
    std::ofstream(dir_.Sub("token")) << "secret-token\n";
    std::ofstream(dir_.Sub("key")) << "a-tracking-key-of-enough-bytes\n";
  }
  Status Build(const std::string& yaml) {
    Config c;
    CAIRN_RETURN_IF_ERROR(LoadConfigText(yaml, "cairn.yaml", c));
    auto d = BuildDelivery(c, "127.0.0.1:1", c.http.public_listen, store_.get(),
                           &SystemClock::Instance());
    if (d.ok() && d->dispatcher) d->dispatcher->Stop(0);
    return d.ok() ? Status::Ok() : d.status();
  }
  std::string Sms(const std::string& extra) {
    return "channels: { sms: texts }\nconnectors:\n  texts:\n    type: sms_http\n"
           "    base_url: http://127.0.0.1:9\n    account: AC1\n    token_file: " +
           dir_.Sub("token") + "\n    from: \"+15550001111\"\n" + extra;
  }
  testing::TempDir dir_;
  std::unique_ptr<state::StateStore> store_;
};

TEST_F(DeliveryConfigTest, AGoodConfigBuildsTheDispatcher) {
  EXPECT_TRUE(Build(Sms("    concurrency: 2\n    rate_per_s: 10\n") +
                    "tracking: { key_file: " + dir_.Sub("key") + " }\n")
                  .ok());
}

TEST_F(DeliveryConfigTest, ABadFieldIsNamedWithItsPlace) {
  Status s = Build(Sms("    concurrency: lots\n"));
  EXPECT_NE(s.message().find("cairn.yaml:9:18: connectors.texts.concurrency"), std::string::npos)
      << s.ToString();
  s = Build(Sms("    colour: blue\n"));
  EXPECT_NE(s.message().find("unknown key 'connectors.texts.colour'"), std::string::npos)
      << s.ToString();
  std::string ftp = Sms("");
  ftp.replace(ftp.find("http://127.0.0.1:9"), 18, "ftp://127.0.0.1:9");
  s = Build(ftp);
  EXPECT_NE(s.message().find("connectors.texts.base_url"), std::string::npos) << s.ToString();
  s = Build("channels: { email: mail }\nconnectors:\n  mail: { type: carrier-pigeon }\n");
  EXPECT_NE(s.message().find("unknown connector type 'carrier-pigeon'"), std::string::npos)
      << s.ToString();
  s = Build("channels: { email: nowhere }\n");
  EXPECT_NE(s.message().find("channels.email: no connector named 'nowhere'"), std::string::npos)
      << s.ToString();
}

TEST_F(DeliveryConfigTest, SecretsComeFromFiles) {
  std::string yaml = Sms("");
  yaml.replace(yaml.find(dir_.Sub("token")), dir_.Sub("token").size(), dir_.Sub("missing"));
  Status s = Build(yaml);
  EXPECT_NE(s.message().find("connectors.texts.token_file"), std::string::npos) << s.ToString();
  s = Build("tracking: { key_file: " + dir_.Sub("token") + " }\n");
  EXPECT_NE(s.message().find("16 bytes"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace cairn::app
