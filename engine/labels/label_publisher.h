// Produces `Labels Updated` events to the events topic (key = customer id)
// through an idempotent producer (enable.idempotence, murmur2_random like
// every producer of Cairn) and waits for the broker's acknowledgements.
//
// Thread-safe: Publish() holds a lock for the whole batch, so one caller's
// wait covers exactly its own events (the HTTP route); Enqueue() + Flush()
// are for a single streaming caller (the import command).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/clock.h"
#include "cairn/status.h"
#include "kafka/producer.h"
#include "labels/label_rows.h"

namespace cairn::labels {

class LabelPublisher {
 public:
  // `clock` stamps the events' timestamp; it must outlive the publisher.
  static Result<std::unique_ptr<LabelPublisher>> Create(const std::string& brokers,
                                                        std::string topic, const Clock* clock,
                                                        kafka::KafkaProperties extra = {});

  // Enqueues one event (blocks while librdkafka's queue is full).
  Status Enqueue(const LabelRow& row, std::string_view source);
  // Waits until every enqueued event is acknowledged, up to `timeout_ms`.
  // Fails when any event failed since the previous Flush, or on timeout.
  Status Flush(int timeout_ms);

  // Enqueue every row, then Flush: OK only when the broker acknowledged all.
  Status Publish(const std::vector<LabelRow>& rows, std::string_view source, int timeout_ms);

  // Produces one other record to the same topic through the same producer
  // (the GDPR erasure control event, engine/erasure) and waits for its
  // acknowledgement, under the same lock as Publish.
  Status PublishRecord(std::string_view key, std::string_view value, const kafka::Headers& headers,
                       int timeout_ms);

  uint64_t delivered() const { return producer_->delivered(); }
  uint64_t failed() const { return producer_->failed(); }
  const std::string& topic() const { return topic_; }

 private:
  LabelPublisher() = default;
  std::unique_ptr<kafka::Producer> producer_;
  std::string topic_;
  const Clock* clock_ = nullptr;
  std::mutex publish_mu_;
};

}  // namespace cairn::labels
