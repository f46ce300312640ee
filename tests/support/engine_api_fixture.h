// A gtest fixture for tests that need the whole engine in this process: an
// embedded broker, a RocksDB store with its erasure secret, the engine on a
// thread of its own with the journeys (and profile) of a temporary
// directory, and the admin API on a free loopback port. Header-only (it
// needs gtest).
//
// Contract: call SetUpEngine() from SetUp(); change options_ (event-time
// clock, analytics, cache) or write more files under journeys_ before
// StartEngine(). StartEngine() creates the engine, loads the journeys (none
// may be refused), runs it and starts the API; StopEngine() stops both and
// drops the engine and the library but keeps the store, so a test may
// restart. TearDown() stops whatever still runs. Hooks: OnEngineCreated
// (before Run), ConfigureApi and AddRoutes (before the API starts).
// Helpers: OpenTaskReader and NextTask (the tasks topic), CaughtUp.
#pragma once

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "api/engine_api.h"
#include "api/http_server.h"
#include "cairn/clock.h"
#include "cairn/murmur2.h"
#include "erasure/erasure.h"
#include "flow/library.h"
#include "kafka/consumer.h"
#include "kafka/embedded_broker.h"
#include "kafka/producer.h"
#include "labels/label_publisher.h"
#include "runtime/engine.h"
#include "state/state_store.h"
#include "test_support.h"

namespace cairn::testing {

// A journey with a send, a 30-day wait (a pending timer) and a second send:
// what an erasure or a restore must take with a customer.
inline constexpr char kWelcomeJourney[] = R"(journey: welcome
version: 1
when:
  event: Signed Up
who:
  consent: { email: implied }
steps:
  - id: hello
    send: { channel: email, template: hello }
  - id: later
    wait: 30d
  - id: again
    send: { channel: email, template: again }
)";

// What SetUpEngine builds. Topics "<name>.events", "<name>.events.dlq",
// "<name>.tasks", consumer group `name`.
struct EngineSetup {
  std::string name;
  std::vector<std::pair<std::string, std::string>> journeys;  // file -> YAML, under journeys/
  // Written to journeys/profile/customers.yaml when set.
  std::optional<std::string> profile;
  int partitions = 2;
  std::string data_dir = "db";  // the store's directory, under the temp dir
};

class EngineApiFixture : public ::testing::Test {
 public:
  static constexpr int kPartitions = 2;  // the default EngineSetup::partitions
  int32_t PartitionOf(const std::string& id) const { return PartitionForKey(id, partitions_); }

 protected:
  // journeys/welcome.yaml and journeys/profile/customers.yaml hold the two
  // texts; two partitions.
  void SetUpEngine(const std::string& name, const char* welcome_yaml, const char* profile_yaml,
                   const std::string& data_dir = "db") {
    SetUpEngine({.name = name,
                 .journeys = {{"welcome.yaml", welcome_yaml}},
                 .profile = profile_yaml,
                 .data_dir = data_dir});
  }

  void SetUpEngine(const EngineSetup& setup) {
    setup_ = setup;
    partitions_ = setup.partitions;
    const std::string& name = setup.name;
    options_.topics = {name + ".events", name + ".events.dlq", name + ".tasks"};
    auto broker = kafka::EmbeddedBroker::Start(
        {"127.0.0.1:0",
         partitions_,
         {options_.topics.events, options_.topics.dlq, options_.topics.tasks}});
    ASSERT_TRUE(broker.ok()) << broker.status().ToString();
    broker_ = std::move(broker).value();
    options_.brokers = broker_->address();
    options_.group_id = name;
    options_.poll_timeout_ms = 20;
    options_.consumer_properties = {{"session.timeout.ms", "3000"},
                                    {"heartbeat.interval.ms", "500"}};
    journeys_ = dir_.Sub("journeys");
    std::filesystem::create_directories(journeys_);
    for (const auto& [file, yaml] : setup.journeys) std::ofstream(journeys_ + "/" + file) << yaml;
    if (setup.profile) {
      std::filesystem::create_directories(journeys_ + "/profile");
      std::ofstream(journeys_ + "/profile/customers.yaml") << *setup.profile;
    }
    data_ = dir_.Sub(setup.data_dir);
    auto store = state::StateStore::Open({.dir = data_});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    auto secret = erasure::LoadSecret(*store_, "");
    ASSERT_TRUE(secret.ok()) << secret.status().ToString();
    options_.erasure_secret = *secret;
    auto producer = kafka::Producer::Create({options_.brokers, {}});
    ASSERT_TRUE(producer.ok());
    producer_ = std::move(producer).value();
    auto publisher = labels::LabelPublisher::Create(options_.brokers, options_.topics.events,
                                                    &SystemClock::Instance());
    ASSERT_TRUE(publisher.ok());
    publisher_ = std::move(publisher).value();
  }

  // A consumer of the tasks topic in group "<name>-reader" (tasks_), closed
  // by TearDown.
  void OpenTaskReader() {
    auto tasks = kafka::Consumer::Create(
        {options_.brokers, setup_.name + "-reader", {options_.topics.tasks}, "", {}},
        &no_rebalance_);
    ASSERT_TRUE(tasks.ok()) << tasks.status().ToString();
    tasks_ = std::move(tasks).value();
  }

  // The next task read by tasks_ (its JSON text), or "" if none came within
  // `timeout_ms`.
  std::string NextTask(int timeout_ms) {
    auto msg = tasks_->Poll(timeout_ms);
    if (!msg || msg->err) return "";
    return std::string(static_cast<const char*>(msg->payload), msg->len);
  }

  void TearDown() override {
    if (thread_.joinable()) StopEngine();
    if (tasks_) tasks_->Close();
  }

  // The engine exists, its journeys are set, it does not run yet.
  virtual void OnEngineCreated(runtime::Engine& engine) { (void)engine; }
  // What a test adds to the API before it starts (a backup dir, an audit log).
  virtual void ConfigureApi(api::EngineApiContext& ctx, api::ServerOptions& server) {
    (void)ctx, (void)server;
  }
  virtual void AddRoutes(std::vector<api::Route>& routes) { (void)routes; }

  void StartEngine() {
    auto engine = runtime::Engine::Create(options_, store_.get(), &SystemClock::Instance());
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(engine).value();
    library_ = std::make_unique<flow::Library>(journeys_, store_.get());
    auto loaded = library_->Reload();
    ASSERT_TRUE(loaded.refused.empty()) << loaded.refused.front().ToString();
    ASSERT_TRUE(loaded.catalog);
    engine_->journeys().SetCatalog(loaded.catalog);
    OnEngineCreated(*engine_);
    stop_ = false;
    thread_ = std::thread([this] { run_status_ = engine_->Run(stop_); });
    api::EngineApiContext ctx{store_.get(), options_.topics.events,
                              [e = engine_.get()] { return e->ready(); },
                              [e = engine_.get()] { return e->metrics(); }};
    ctx.catalog = [e = engine_.get()] { return e->journeys().catalog(); };
    ctx.control_publisher = publisher_.get();
    ctx.erasure_secret = options_.erasure_secret;
    api::ServerOptions server;
    server.listen = "127.0.0.1:0";
    ConfigureApi(ctx, server);
    auto routes = api::EngineRoutes(ctx);
    AddRoutes(routes);
    auto http = api::HttpServer::Start(std::move(server), std::move(routes));
    ASSERT_TRUE(http.ok()) << http.status().ToString();
    http_ = std::move(http).value();
  }

  void StopEngine() {
    http_.reset();
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    EXPECT_TRUE(run_status_.ok()) << run_status_.ToString();
    engine_.reset();
    library_.reset();
  }

  // The running engine's checkpoints reached the end of every partition of
  // the events topic (high watermarks read through `rk`, a client handle).
  bool CaughtUp(rd_kafka_t* rk) {
    auto at = engine_->committed_offsets();
    for (int p = 0; p < partitions_; ++p) {
      int64_t lo = 0, hi = 0;
      if (rd_kafka_query_watermark_offsets(rk, options_.topics.events.c_str(), p, &lo, &hi, 5000) !=
          RD_KAFKA_RESP_ERR_NO_ERROR) {
        return false;
      }
      if (hi > 0 && (!at.contains(p) || at[p] < hi)) return false;
    }
    return true;
  }

  struct NoRebalance : kafka::RebalanceListener {
    void OnRevoke(const std::vector<kafka::TopicPartition>&) override {}
    void OnAssign(std::vector<kafka::TopicPartition>&) override {}
  };

  TempDir dir_;
  EngineSetup setup_;
  int partitions_ = kPartitions;
  runtime::EngineOptions options_;
  std::string journeys_;
  std::string data_;  // the store's directory
  std::unique_ptr<kafka::EmbeddedBroker> broker_;
  std::unique_ptr<state::StateStore> store_;
  std::unique_ptr<kafka::Producer> producer_;
  std::unique_ptr<labels::LabelPublisher> publisher_;
  NoRebalance no_rebalance_;
  std::unique_ptr<kafka::Consumer> tasks_;  // OpenTaskReader
  std::unique_ptr<runtime::Engine> engine_;
  std::unique_ptr<flow::Library> library_;
  std::unique_ptr<api::HttpServer> http_;
  std::atomic<bool> stop_{false};
  Status run_status_;
  std::thread thread_;
};

}  // namespace cairn::testing
