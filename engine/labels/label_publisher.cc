#include "labels/label_publisher.h"

#include <utility>

namespace cairn::labels {

Result<std::unique_ptr<LabelPublisher>> LabelPublisher::Create(const std::string& brokers,
                                                               std::string topic,
                                                               const Clock* clock,
                                                               kafka::KafkaProperties extra) {
  // The producer's defaults already ask for idempotence; say it here too, so
  // no `extra` can turn it off by accident.
  extra["enable.idempotence"] = "true";
  auto producer = kafka::Producer::Create({brokers, std::move(extra), {}});
  if (!producer.ok()) return producer.status();
  std::unique_ptr<LabelPublisher> p(new LabelPublisher());
  p->producer_ = std::move(producer).value();
  p->topic_ = std::move(topic);
  p->clock_ = clock;
  return p;
}

Status LabelPublisher::Enqueue(const LabelRow& row, std::string_view source) {
  return producer_->Produce(topic_, row.customer_id, LabelEventJson(row, source, clock_->NowMs()),
                            {{"content-type", "application/json"}});
}

Status LabelPublisher::Flush(int timeout_ms) { return producer_->Flush(timeout_ms); }

Status LabelPublisher::Publish(const std::vector<LabelRow>& rows, std::string_view source,
                               int timeout_ms) {
  std::lock_guard lock(publish_mu_);
  for (const auto& row : rows) {
    if (auto s = Enqueue(row, source); !s.ok()) {
      (void)producer_->Flush(timeout_ms);  // settle what went out; the caller retries all
      return s;
    }
  }
  return producer_->Flush(timeout_ms);
}

Status LabelPublisher::PublishRecord(std::string_view key, std::string_view value,
                                     const kafka::Headers& headers, int timeout_ms) {
  std::lock_guard lock(publish_mu_);
  if (auto s = producer_->Produce(topic_, key, value, headers); !s.ok()) {
    (void)producer_->Flush(timeout_ms);
    return s;
  }
  return producer_->Flush(timeout_ms);
}

}  // namespace cairn::labels
