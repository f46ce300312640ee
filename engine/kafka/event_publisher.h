// Publishes records to one topic through an idempotent producer and waits
// for the broker's acknowledgements: what every "answer only after Kafka
// has it" path of Cairn uses (POST /v1/events, /v1/batch, /v1/labels:batch,
// `cairn import labels`).
//
// Thread-safe: Publish() holds a lock for the whole batch, so one caller's
// wait covers exactly its own records (an HTTP route); Enqueue() + Flush()
// are for a single streaming caller (an import command).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"
#include "kafka/handles.h"
#include "kafka/producer.h"

namespace cairn::kafka {

struct OutRecord {
  std::string key;  // the customer id: Cairn partitions by it (murmur2_random)
  std::string value;
  Headers headers;
};

class EventPublisher {
 public:
  // An idempotent producer to `brokers`; `extra` cannot turn idempotence off.
  static Result<std::unique_ptr<EventPublisher>> Create(const std::string& brokers,
                                                        std::string topic,
                                                        KafkaProperties extra = {});

  // Enqueues one record (blocks while librdkafka's queue is full).
  Status Enqueue(std::string_view key, std::string_view value, const Headers& headers = {});
  // Waits until every enqueued record is acknowledged, up to `timeout_ms`.
  // Fails when any record failed since the previous Flush, or on timeout.
  Status Flush(int timeout_ms);

  // Enqueue every record, then Flush: OK only when the broker acknowledged
  // all of them. On failure some may have been written: callers make their
  // records idempotent (a messageId) and tell the client to retry.
  Status Publish(const std::vector<OutRecord>& records, int timeout_ms);

  uint64_t delivered() const { return producer_->delivered(); }
  uint64_t failed() const { return producer_->failed(); }
  const std::string& topic() const { return topic_; }

 private:
  EventPublisher() = default;
  std::unique_ptr<Producer> producer_;
  std::string topic_;
  std::mutex publish_mu_;
};

}  // namespace cairn::kafka
