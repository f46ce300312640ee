// Builds the delivery side from the config: the connector instances (each
// validated by its factory: a bad field stops the start, naming it), the
// dispatcher with its lanes, the templates, the tracking-link signer and
// the sink that publishes outcome events from the HTTP endpoints.
#pragma once

#include <memory>
#include <string>

#include "app/config.h"
#include "cairn/clock.h"
#include "cairn/connector.h"
#include "dispatch/dispatcher.h"
#include "dispatch/outcome.h"
#include "dispatch/templates.h"
#include "dispatch/tracking.h"
#include "kafka/producer.h"
#include "state/state_store.h"

namespace cairn::app {

// Publishes outcome events to the events topic, keyed by customer.
class KafkaOutcomeSink final : public dispatch::OutcomeSink {
 public:
  static Result<std::unique_ptr<KafkaOutcomeSink>> Create(const std::string& brokers,
                                                          const kafka::KafkaProperties& props,
                                                          std::string topic);
  Status Emit(const std::string& customer_id, const std::string& event_json, bool durable) override;

 private:
  std::unique_ptr<kafka::Producer> producer_;
  std::string topic_;
  std::mutex durable_mu_;  // one durable emit waits at a time
};

struct Delivery {
  std::unique_ptr<dispatch::Tracker> tracker;  // null without tracking.key_file
  std::shared_ptr<const dispatch::TemplateSet> templates;
  std::unique_ptr<dispatch::Dispatcher> dispatcher;  // null without channels
  std::unique_ptr<KafkaOutcomeSink> sink;
  std::string templates_dir;
  std::vector<std::string> sms_connectors;  // for /hooks/sms/{connector}
};

// Every connector type Cairn ships (connectors/builtin.h).
const ConnectorRegistry& BuiltinConnectors();

// `brokers`: the resolved bootstrap servers; `http_address`: the bound API
// address (the tracking base URL when tracking.base_url is unset).
Result<Delivery> BuildDelivery(const Config& config, const std::string& brokers,
                               const std::string& http_address, state::StateStore* store,
                               const Clock* clock);

}  // namespace cairn::app
