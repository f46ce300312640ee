#include "kafka/event_publisher.h"

#include <utility>

namespace cairn::kafka {

Result<std::unique_ptr<EventPublisher>> EventPublisher::Create(const std::string& brokers,
                                                               std::string topic,
                                                               KafkaProperties extra) {
  // The producer's defaults already ask for idempotence; say it here too, so
  // no `extra` can turn it off by accident.
  extra["enable.idempotence"] = "true";
  auto producer = Producer::Create({brokers, std::move(extra), {}});
  if (!producer.ok()) return producer.status();
  std::unique_ptr<EventPublisher> p(new EventPublisher());
  p->producer_ = std::move(producer).value();
  p->topic_ = std::move(topic);
  return p;
}

Status EventPublisher::Enqueue(std::string_view key, std::string_view value,
                               const Headers& headers) {
  return producer_->Produce(topic_, key, value, headers);
}

Status EventPublisher::Flush(int timeout_ms) { return producer_->Flush(timeout_ms); }

Status EventPublisher::Publish(const std::vector<OutRecord>& records, int timeout_ms) {
  std::lock_guard lock(publish_mu_);
  for (const auto& r : records) {
    if (auto s = Enqueue(r.key, r.value, r.headers); !s.ok()) {
      (void)producer_->Flush(timeout_ms);  // settle what went out; the caller retries all
      return s;
    }
  }
  return producer_->Flush(timeout_ms);
}

}  // namespace cairn::kafka
