#include "app/commands.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <filesystem>
#include <thread>

#include "api/dashboard_routes.h"
#include "api/engine_api.h"
#include "api/events_routes.h"
#include "api/http_server.h"
#include "api/labels_routes.h"
#include "api/listeners.h"
#include "api/tracking_routes.h"
#include "app/delivery.h"
#include "app/logging.h"
#include "app/sample_stream.h"
#include "backup/backup.h"
#include "erasure/erasure.h"
#include "flow/library.h"
#include "kafka/embedded_broker.h"
#include "kafka/event_publisher.h"
#include "kafka/producer.h"
#include "metrics/metrics.h"
#include "runtime/engine.h"
#include "state/state_store.h"

namespace cairn::app {
namespace {

void OnSignal(int /*sig*/) { StopFlag().store(true); }

// Starts the embedded broker, saying loudly that it is for development.
Result<std::unique_ptr<kafka::EmbeddedBroker>> StartEmbedded(const std::string& listen,
                                                             int partitions,
                                                             const runtime::Topics& t) {
  auto broker = kafka::EmbeddedBroker::Start({listen, partitions, {t.events, t.dlq, t.tasks}});
  if (!broker.ok()) return broker.status();
  spdlog::warn(
      "EMBEDDED KAFKA for development only: librdkafka's mock cluster on {} ({} partitions per "
      "topic, in memory, at most 5 MiB per partition). Use --brokers in production.",
      (*broker)->address(), partitions);
  return broker;
}

}  // namespace

std::atomic<bool>& StopFlag() {
  static std::atomic<bool> flag{false};
  return flag;
}

void InstallSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = &OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

int RunCommand(const Config& config) {
  ConfigureLogging(config.log_level, config.log_json);
  runtime::EngineOptions options = config.engine;
  std::unique_ptr<kafka::EmbeddedBroker> broker;
  if (options.brokers.empty()) {
    auto b = StartEmbedded(config.embedded_kafka, config.embedded_partitions, options.topics);
    if (!b.ok()) {
      spdlog::error("{}", b.status().ToString());
      return 1;
    }
    broker = std::move(b).value();
    options.brokers = broker->address();
  }
  auto store = state::StateStore::Open(config.store);
  if (!store.ok()) {
    spdlog::error("{}", store.status().ToString());
    return 1;
  }
  // Delivery: a connector whose config is wrong stops the start here.
  auto delivery = BuildDelivery(config, options.brokers, config.http.public_listen, store->get(),
                                &SystemClock::Instance());
  if (!delivery.ok()) {
    spdlog::error("{}", delivery.status().ToString());
    return 1;
  }
  Delivery& d = delivery.value();
  dispatch::Dispatcher* dispatcher = d.dispatcher.get();
  std::unique_ptr<metrics::Metrics> prom;  // GET /metrics; outlives the engine (its observer)
  // GDPR erasure (engine/erasure): the tracking key when configured (shared
  // by every instance), else a secret kept in this RocksDB.
  if (auto secret = erasure::LoadSecret(**store, config.tracking_key_file); secret.ok()) {
    options.erasure_secret = std::move(secret).value();
  } else {
    spdlog::error("erasure unavailable: {}", secret.status().ToString());
  }
  auto engine =
      runtime::Engine::Create(options, store->get(), &SystemClock::Instance(), dispatcher);
  if (!engine.ok()) {
    spdlog::error("{}", engine.status().ToString());
    return 1;
  }
  runtime::Engine* e = engine->get();
  prom = std::make_unique<metrics::Metrics>(metrics::EngineSources(e, store->get(), dispatcher));
  e->SetObserver(prom.get());
  std::unique_ptr<flow::Library> library;
  if (!config.journeys_dir.empty()) {
    library = std::make_unique<flow::Library>(config.journeys_dir, store->get());
    auto loaded = library->Reload();
    for (const auto& l : loaded.loaded) spdlog::info("journey loaded: {}", l);
    if (!loaded.refused.empty()) {
      spdlog::error("{} problem(s) in {}: those files are not running (cairn validate {})",
                    loaded.refused.size(), config.journeys_dir, config.journeys_dir);
    }
    e->journeys().SetCatalog(loaded.catalog);
    if (config.journeys_reload_ms > 0) {
      const std::string templates_dir = d.templates_dir;
      library->Watch(config.journeys_reload_ms,
                     [e, dispatcher, templates_dir](std::shared_ptr<const flow::Catalog> c) {
                       e->journeys().SetCatalog(std::move(c));
                       if (dispatcher == nullptr || templates_dir.empty()) return;
                       // Templates follow the journeys; a broken one keeps the old set.
                       auto t = dispatch::TemplateSet::LoadDir(templates_dir);
                       if (t.ok()) {
                         dispatcher->SetTemplates(std::move(t).value());
                       } else {
                         spdlog::error("templates not reloaded: {}", t.status().ToString());
                       }
                     });
    }
  }
  api::EngineApiContext ctx{store->get(), options.topics.events, [e] { return e->ready(); },
                            [e] { return e->metrics(); }};
  ctx.catalog = [e] { return e->journeys().catalog(); };
  ctx.lag = [e] { return e->ConsumerLag(); };
  ctx.ready_max_lag = config.ready_max_lag;
  ctx.analytics_intervals = options.analytics.intervals;
  if (options.event_time_clock) ctx.now = [e] { return e->latest_event_ms(); };
  ctx.campaigns = [e] { return e->campaigns(); };
  ctx.journeys_dir = config.journeys_dir;
  ctx.journeys_reload_ms = config.journeys_reload_ms;
  ctx.backup_dir =
      config.backup_dir.empty() ? backup::DefaultBackupDir(config.store.dir) : config.backup_dir;
  if (dispatcher != nullptr) {
    ctx.dispatch = [dispatcher] { return dispatcher->metrics(); };
    ctx.ledger = [dispatcher](const std::string& id) { return dispatcher->Ledger(id); };
  }
  // POST /v1/labels:batch, /v1/events, /v1/batch and the erasure control
  // events: one producer of their own to the events topic.
  std::unique_ptr<kafka::EventPublisher> publisher;
  if (auto p = kafka::EventPublisher::Create(options.brokers, options.topics.events); p.ok()) {
    publisher = std::move(p).value();
  } else {
    spdlog::error("labels and events API unavailable: {}", p.status().ToString());
  }
  std::unique_ptr<labels::LabelPublisher> label_publisher;
  if (publisher) {
    label_publisher =
        std::make_unique<labels::LabelPublisher>(publisher.get(), &SystemClock::Instance());
  }
  ctx.control_publisher = label_publisher.get();
  ctx.erasure_secret = options.erasure_secret;
  auto routes = api::EngineRoutes(ctx);
  routes.push_back(prom->Route());
  if (d.tracker) {
    auto tracking = api::TrackingRoutes(
        d.tracker.get(), d.sink.get(), &SystemClock::Instance(),
        std::set<std::string>(d.sms_connectors.begin(), d.sms_connectors.end()));
    routes.insert(routes.end(), tracking.begin(), tracking.end());
  }
  auto label_routes = api::LabelRoutes(label_publisher.get());
  routes.insert(routes.end(), label_routes.begin(), label_routes.end());
  auto event_routes = api::EventsRoutes(publisher.get(), &SystemClock::Instance(), options.parse);
  routes.insert(routes.end(), event_routes.begin(), event_routes.end());
  auto dashboard = api::DashboardRoutes();  // static files, no token needed
  routes.insert(routes.end(), dashboard.begin(), dashboard.end());
  auto http = api::StartListeners(config.http, std::move(routes), config.store.dir);
  if (!http.ok()) {
    spdlog::error("{}", http.status().ToString());
    return 3;
  }
  spdlog::info("cairn: consuming '{}' from {}, state in {}, public HTTP on {}, admin API on {}{}",
               options.topics.events, options.brokers, config.store.dir, http->public_server->url(),
               http->admin_server->url(),
               http->tokens ? "" : " (protected mode: loopback clients only)");
  Status s = e->Run(StopFlag());
  library.reset();
  http->public_server.reset();
  http->admin_server.reset();
  engine->reset();
  if (dispatcher != nullptr) {
    dispatcher->Stop();
    if (s.ok()) s = dispatcher->health();
  }
  if (!s.ok()) {
    spdlog::error("cairn stopped: {}", s.ToString());
    return 1;
  }
  spdlog::info("cairn: stopped cleanly");
  return 0;
}

int BrokerCommand(const std::string& listen, int partitions,
                  const std::vector<std::string>& topics) {
  auto broker = kafka::EmbeddedBroker::Start({listen, partitions, topics});
  if (!broker.ok()) {
    spdlog::error("{}", broker.status().ToString());
    return 1;
  }
  spdlog::warn(
      "development Kafka broker (librdkafka mock cluster; in memory, at most 5 MiB per "
      "partition) listening on {}",
      (*broker)->address());
  fmt::print("listening on {}\n", (*broker)->address());
  std::fflush(stdout);
  while (!StopFlag().load()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return 0;
}

int ProduceSampleCommand(const std::string& brokers, const std::string& topic, int customers,
                         int days, uint64_t seed) {
  SampleOptions so;
  so.customers = customers;
  so.days = days;
  so.seed = seed;
  SampleSummary summary;
  auto records = GenerateSample(so, &summary);
  auto producer = kafka::Producer::Create({brokers, {}});
  if (!producer.ok()) {
    spdlog::error("{}", producer.status().ToString());
    return 1;
  }
  for (const auto& r : records) {
    if (auto s = (*producer)->Produce(topic, r.key, r.value, r.headers); !s.ok()) {
      spdlog::error("{}", s.ToString());
      return 1;
    }
  }
  if (auto s = (*producer)->Flush(60000); !s.ok()) {
    spdlog::error("{}", s.ToString());
    return 1;
  }
  fmt::print("published {} records ({} malformed, {} retries) to {}\n", summary.records,
             summary.malformed, summary.retries, topic);
  return 0;
}

}  // namespace cairn::app
