// Produces `Labels Updated` events to the events topic (key = customer id)
// through a kafka::EventPublisher (idempotent, murmur2_random like every
// producer of Cairn) and waits for the broker's acknowledgements.
//
// Thread-safe: Publish() holds the publisher's lock for the whole batch, so
// one caller's wait covers exactly its own events (the HTTP route);
// Enqueue() + Flush() are for a single streaming caller (the import command).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/clock.h"
#include "cairn/status.h"
#include "kafka/event_publisher.h"
#include "labels/label_rows.h"

namespace cairn::labels {

class LabelPublisher {
 public:
  // `clock` stamps the events' timestamp; it must outlive the publisher.
  static Result<std::unique_ptr<LabelPublisher>> Create(const std::string& brokers,
                                                        std::string topic, const Clock* clock,
                                                        kafka::KafkaProperties extra = {});
  // Over an existing publisher (shared with POST /v1/events); `events` and
  // `clock` must outlive the LabelPublisher.
  LabelPublisher(kafka::EventPublisher* events, const Clock* clock)
      : events_(events), clock_(clock) {}

  // Enqueues one event (blocks while librdkafka's queue is full).
  Status Enqueue(const LabelRow& row, std::string_view source);
  // Waits until every enqueued event is acknowledged, up to `timeout_ms`.
  // Fails when any event failed since the previous Flush, or on timeout.
  Status Flush(int timeout_ms);

  // Enqueue every row, then Flush: OK only when the broker acknowledged all.
  Status Publish(const std::vector<LabelRow>& rows, std::string_view source, int timeout_ms);

  uint64_t delivered() const { return events_->delivered(); }
  uint64_t failed() const { return events_->failed(); }
  const std::string& topic() const { return events_->topic(); }
  kafka::EventPublisher* events() const { return events_; }

 private:
  std::unique_ptr<kafka::EventPublisher> owned_;  // set by Create
  kafka::EventPublisher* events_ = nullptr;
  const Clock* clock_ = nullptr;
};

}  // namespace cairn::labels
