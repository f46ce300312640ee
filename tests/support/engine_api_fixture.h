// A gtest fixture for tests that need the whole engine in this process: an
// embedded broker, a RocksDB store with its erasure secret, the engine on a
// thread of its own with the journeys (and profile) of a temporary
// directory, and the admin API on a free loopback port. Used by
// erasure_test and backup_restore_test; header-only (it needs gtest).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "api/engine_api.h"
#include "api/http_server.h"
#include "cairn/clock.h"
#include "cairn/murmur2.h"
#include "erasure/erasure.h"
#include "flow/library.h"
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

class EngineApiFixture : public ::testing::Test {
 public:
  static constexpr int kPartitions = 2;
  static int32_t PartitionOf(const std::string& id) { return PartitionForKey(id, kPartitions); }

 protected:
  // Call from SetUp(): topics "<name>.events", ".events.dlq", "<name>.tasks",
  // group `name`; journeys/welcome.yaml and journeys/profile/customers.yaml
  // hold the two texts; the store lives in `data_dir` under the temp dir.
  void SetUpEngine(const std::string& name, const char* welcome_yaml, const char* profile_yaml,
                   const std::string& data_dir = "db") {
    options_.topics = {name + ".events", name + ".events.dlq", name + ".tasks"};
    auto broker = kafka::EmbeddedBroker::Start(
        {"127.0.0.1:0",
         kPartitions,
         {options_.topics.events, options_.topics.dlq, options_.topics.tasks}});
    ASSERT_TRUE(broker.ok()) << broker.status().ToString();
    broker_ = std::move(broker).value();
    options_.brokers = broker_->address();
    options_.group_id = name;
    options_.poll_timeout_ms = 20;
    options_.consumer_properties = {{"session.timeout.ms", "3000"},
                                    {"heartbeat.interval.ms", "500"}};
    journeys_ = dir_.Sub("journeys");
    std::filesystem::create_directories(journeys_ + "/profile");
    std::ofstream(journeys_ + "/welcome.yaml") << welcome_yaml;
    std::ofstream(journeys_ + "/profile/customers.yaml") << profile_yaml;
    data_ = dir_.Sub(data_dir);
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

  void TearDown() override {
    if (thread_.joinable()) StopEngine();
  }

  // What a test adds to the API before it starts (a backup dir, an audit log).
  virtual void ConfigureApi(api::EngineApiContext& ctx, api::ServerOptions& server) {
    (void)ctx, (void)server;
  }

  void StartEngine() {
    auto engine = runtime::Engine::Create(options_, store_.get(), &SystemClock::Instance());
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(engine).value();
    library_ = std::make_unique<flow::Library>(journeys_, store_.get());
    auto loaded = library_->Reload();
    ASSERT_TRUE(loaded.refused.empty()) << loaded.refused.front().ToString();
    engine_->journeys().SetCatalog(loaded.catalog);
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
    auto http = api::HttpServer::Start(std::move(server), api::EngineRoutes(ctx));
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

  TempDir dir_;
  runtime::EngineOptions options_;
  std::string journeys_;
  std::string data_;  // the store's directory
  std::unique_ptr<kafka::EmbeddedBroker> broker_;
  std::unique_ptr<state::StateStore> store_;
  std::unique_ptr<kafka::Producer> producer_;
  std::unique_ptr<labels::LabelPublisher> publisher_;
  std::unique_ptr<runtime::Engine> engine_;
  std::unique_ptr<flow::Library> library_;
  std::unique_ptr<api::HttpServer> http_;
  std::atomic<bool> stop_{false};
  Status run_status_;
  std::thread thread_;
};

}  // namespace cairn::testing
