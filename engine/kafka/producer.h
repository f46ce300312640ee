// An idempotent producer behind RAII.
//
// Keys are partitioned with `murmur2_random` (Java-compatible), so records
// Cairn produces land where the apps' Java/KafkaJS producers put the same
// customer. Produce() enqueues; Flush() waits until every enqueued record is
// acknowledged by the broker and reports whether any failed since the last
// Flush. Thread-safe (librdkafka's producer is).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/status.h"
#include "kafka/handles.h"

namespace cairn::kafka {

// Called once per record produced with a non-zero `token`, from the thread
// that serves delivery reports (Produce, Poll, Flush), with whether the
// broker acknowledged it.
using DeliveryHook = std::function<void(uint64_t token, bool delivered)>;

struct ProducerOptions {
  std::string brokers;
  KafkaProperties extra;  // any librdkafka producer property, applied last
  DeliveryHook on_delivery;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

class Producer {
 public:
  static Result<std::unique_ptr<Producer>> Create(const ProducerOptions& options);
  ~Producer();  // flushes for up to 10 s, then drops what is left
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Enqueues one record. Blocks (serving delivery reports) while the local
  // queue is full, for up to `block_ms`. `partition` < 0 = by key.
  Status Produce(std::string_view topic, std::string_view key, std::string_view value,
                 const Headers& headers = {}, int32_t partition = -1, int block_ms = 30000,
                 uint64_t token = 0);

  // Waits until nothing is in flight. Fails if a record failed since the
  // previous Flush, or on timeout (records still in flight).
  Status Flush(int timeout_ms);

  // Serves delivery reports without waiting.
  void Poll() { rd_kafka_poll(rk_.get(), 0); }

  uint64_t delivered() const { return delivered_.load(); }
  uint64_t failed() const { return failed_.load(); }
  rd_kafka_t* handle() const { return rk_.get(); }

 private:
  Producer() = default;
  static void DeliveryCallback(rd_kafka_t* rk, const rd_kafka_message_t* msg, void* opaque);

  KafkaHandle rk_;
  DeliveryHook on_delivery_;
  std::atomic<uint64_t> delivered_{0};
  std::atomic<uint64_t> failed_{0};
  std::mutex error_mu_;
  std::string first_error_;  // since the last Flush; guarded by error_mu_
};

}  // namespace cairn::kafka
