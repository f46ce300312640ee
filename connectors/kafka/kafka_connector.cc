#include "kafka/kafka_connector.h"

#include <nlohmann/json.hpp>

#include "kafka/producer.h"

namespace cairn::connectors {
namespace {

struct KafkaConfig {
  std::string brokers;
  std::string topic;
  int64_t timeout_ms = 10'000;
  kafka::KafkaProperties properties;
};

class KafkaConnector final : public Connector {
 public:
  KafkaConnector(const KafkaConfig& config, std::unique_ptr<kafka::Producer> producer)
      : config_(config), producer_(std::move(producer)) {}

  SendResult Send(const OutboundMessage& m) override {
    nlohmann::json value;
    value["task"] = nlohmann::json::parse(m.task_json, nullptr, false);
    value["to"] = m.to;
    value["content"] = m.content;
    value["unsubscribe_url"] = m.unsubscribe_url;
    value["attempt"] = m.attempt;
    const kafka::Headers headers = {{"cairn.task_id", m.task_id},
                                    {"content-type", "application/json"}};
    // Keyed by the task id: the idempotency key downstream workers dedup by.
    Status s = producer_->Produce(config_.topic, m.task_id, value.dump(), headers, -1,
                                  static_cast<int>(config_.timeout_ms));
    if (!s.ok()) return SendResult::Failed(SendOutcome::kRetryable, 0, s.message());
    s = producer_->Flush(static_cast<int>(config_.timeout_ms));
    if (!s.ok()) return SendResult::Failed(SendOutcome::kUnknown, 0, s.message());
    return SendResult::Accepted(0);
  }

 private:
  KafkaConfig config_;
  std::unique_ptr<kafka::Producer> producer_;
};

class KafkaFactory final : public ConnectorFactory {
 public:
  std::string_view type() const override { return "kafka"; }
  Result<ConnectorMaker> Configure(ConfigFields& f, const ConnectorContext& ctx) const override {
    KafkaConfig c;
    auto topic = f.String("topic");
    if (!topic.ok()) return topic.status();
    c.topic = topic.value();
    if (c.topic.empty()) return f.Invalid("topic", "must not be empty");
    auto brokers = f.String("brokers", ctx.brokers);
    if (!brokers.ok()) return brokers.status();
    c.brokers = brokers.value();
    auto timeout = f.DurationMs("timeout", 10'000);
    if (!timeout.ok()) return timeout.status();
    c.timeout_ms = timeout.value();
    auto props = f.StringMap("producer");
    if (!props.ok()) return props.status();
    for (const auto& [k, v] : props.value()) c.properties[k] = v;
    return ConnectorMaker([c]() -> Result<std::unique_ptr<Connector>> {
      auto p = kafka::Producer::Create({c.brokers, c.properties, {}});
      if (!p.ok()) return p.status();
      return std::unique_ptr<Connector>(new KafkaConnector(c, std::move(p).value()));
    });
  }
};

}  // namespace

std::unique_ptr<ConnectorFactory> NewKafkaFactory() { return std::make_unique<KafkaFactory>(); }

}  // namespace cairn::connectors
