#include "app/delivery.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "builtin.h"
#include "cairn/files.h"

namespace cairn::app {

Result<std::unique_ptr<KafkaOutcomeSink>> KafkaOutcomeSink::Create(
    const std::string& brokers, const kafka::KafkaProperties& props, std::string topic) {
  auto producer = kafka::Producer::Create({brokers, props, {}});
  if (!producer.ok()) return producer.status().WithContext("outcome producer");
  std::unique_ptr<KafkaOutcomeSink> sink(new KafkaOutcomeSink());
  sink->producer_ = std::move(producer).value();
  sink->topic_ = std::move(topic);
  return sink;
}

Status KafkaOutcomeSink::Emit(const std::string& customer_id, const std::string& event_json,
                              bool durable) {
  const kafka::Headers headers = {{"content-type", "application/json"}};
  if (!durable) return producer_->Produce(topic_, customer_id, event_json, headers, -1, 1000);
  std::lock_guard lock(durable_mu_);
  CAIRN_RETURN_IF_ERROR(producer_->Produce(topic_, customer_id, event_json, headers, -1, 5000));
  return producer_->Flush(10'000);
}

const ConnectorRegistry& BuiltinConnectors() {
  static const ConnectorRegistry* registry = [] {
    auto* r = new ConnectorRegistry();  // NOLINT: process-lifetime registry
    connectors::RegisterBuiltinConnectors(*r);
    return r;
  }();
  return *registry;
}

namespace {

// The dispatcher's own keys of a connector section; the rest is the factory's.
Result<dispatch::LaneOptions> ReadLane(const std::string& name, ConfigFields& f,
                                       const std::string& brokers) {
  dispatch::LaneOptions lane;
  lane.connector = name;
  auto type = f.String("type");
  if (!type.ok()) return type.status();
  lane.type = type.value();
  const ConnectorFactory* factory = BuiltinConnectors().Find(lane.type);
  if (factory == nullptr) {
    std::string known;
    for (const auto& t : BuiltinConnectors().types()) known += (known.empty() ? "" : ", ") + t;
    return f.Invalid("type", "unknown connector type '" + lane.type + "' (known: " + known + ")");
  }
  auto concurrency = f.Int("concurrency", 4, 1, 256);
  if (!concurrency.ok()) return concurrency.status();
  lane.concurrency = static_cast<int>(concurrency.value());
  auto rate = f.Number("rate_per_s", 0, 0, 1e7);
  if (!rate.ok()) return rate.status();
  lane.rate_per_s = rate.value();
  auto burst = f.Number("burst", 0, 0, 1e7);
  if (!burst.ok()) return burst.status();
  lane.burst = burst.value();
  auto attempts = f.Int("max_attempts", 8, 1, 100);
  if (!attempts.ok()) return attempts.status();
  lane.max_attempts = static_cast<int>(attempts.value());
  auto initial = f.DurationMs("initial_backoff", 1000);
  if (!initial.ok()) return initial.status();
  lane.initial_backoff_ms = initial.value();
  auto max_backoff = f.DurationMs("max_backoff", 300'000);
  if (!max_backoff.ok()) return max_backoff.status();
  lane.max_backoff_ms = std::max(max_backoff.value(), lane.initial_backoff_ms);
  auto queue = f.Int("queue_limit", 10'000, 1, 10'000'000);
  if (!queue.ok()) return queue.status();
  lane.queue_limit = static_cast<size_t>(queue.value());
  auto trait = f.String("recipient_trait", "");
  if (!trait.ok()) return trait.status();
  lane.recipient_trait = trait.value();
  auto maker = factory->Configure(f, ConnectorContext{name, brokers});
  if (!maker.ok()) return maker.status();
  lane.make = std::move(maker).value();
  return lane;
}

}  // namespace

Result<Delivery> BuildDelivery(const Config& config, const std::string& brokers,
                               const std::string& http_address, state::StateStore* store,
                               const Clock* clock) {
  Delivery d;
  if (!config.tracking_key_file.empty()) {
    auto key = ReadTrimmedFile(config.tracking_key_file);
    if (!key) {
      return InvalidArgument("tracking.key_file: cannot read '" + config.tracking_key_file + "'");
    }
    if (key->size() < 16) {
      return InvalidArgument("tracking.key_file: the key needs at least 16 bytes");
    }
    std::string base =
        config.tracking_base_url.empty()
            ? (config.http.public_tls.enabled() ? "https://" : "http://") + http_address
            : config.tracking_base_url;
    auto tracker = dispatch::Tracker::Create(base, *key);
    if (!tracker.ok()) return tracker.status().WithContext("tracking");
    d.tracker = std::make_unique<dispatch::Tracker>(std::move(tracker).value());
  }
  d.templates_dir = !config.templates_dir.empty() ? config.templates_dir
                    : !config.journeys_dir.empty()
                        ? (std::filesystem::path(config.journeys_dir) / "templates").string()
                        : "";
  if (!d.templates_dir.empty()) {
    auto t = dispatch::TemplateSet::LoadDir(d.templates_dir);
    if (!t.ok()) return t.status();
    d.templates = std::move(t).value();
  }
  auto sink = KafkaOutcomeSink::Create(brokers, config.engine.producer_properties,
                                       config.engine.topics.events);
  if (!sink.ok()) return sink.status();
  d.sink = std::move(sink).value();
  if (config.channels.empty()) {
    if (!config.connectors.empty()) {
      spdlog::warn("connectors are configured but no channels use them: nothing is dispatched");
    }
    return d;
  }
  dispatch::DispatcherOptions opt;
  opt.channels = config.channels;
  for (const auto& [name, fields] : config.connectors) {
    auto lane = ReadLane(name, *fields, brokers);
    if (!lane.ok()) return lane.status();
    CAIRN_RETURN_IF_ERROR(fields->CheckAllRead());
    if (lane.value().type == "sms_http") d.sms_connectors.push_back(name);
    opt.lanes.push_back(std::move(lane).value());
  }
  opt.events_topic = config.engine.topics.events;
  opt.producer = {brokers, config.engine.producer_properties, {}};
  opt.sync = config.dispatch_sync;
  opt.outcomes_at_decision_time = config.engine.event_time_clock;
  opt.tracker = d.tracker.get();
  opt.templates = d.templates;
  auto dispatcher = dispatch::Dispatcher::Create(std::move(opt), store, clock);
  if (!dispatcher.ok()) return dispatcher.status();
  d.dispatcher = std::move(dispatcher).value();
  return d;
}

}  // namespace cairn::app
