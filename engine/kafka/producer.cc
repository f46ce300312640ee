#include "kafka/producer.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace cairn::kafka {

Result<std::unique_ptr<Producer>> Producer::Create(const ProducerOptions& options) {
  KafkaProperties props = {
      {"bootstrap.servers", options.brokers}, {"enable.idempotence", "true"},
      {"partitioner", "murmur2_random"},      {"linger.ms", "5"},
      {"batch.num.messages", "10000"},        {"queue.buffering.max.messages", "500000"},
      {"message.timeout.ms", "300000"},
  };
  for (const auto& [k, v] : options.extra) props[k] = v;
  auto conf = MakeConf(props);
  if (!conf.ok()) return conf.status();
  std::unique_ptr<Producer> producer(new Producer());
  producer->on_delivery_ = options.on_delivery;
  rd_kafka_conf_set_opaque(conf->get(), producer.get());
  rd_kafka_conf_set_dr_msg_cb(conf->get(), &Producer::DeliveryCallback);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), err, sizeof err);
  if (rk == nullptr) return InvalidArgument(std::string("kafka producer: ") + err);
  (void)conf->release();
  producer->rk_.reset(rk);
  return producer;
}

Producer::~Producer() {
  if (!rk_) return;
  rd_kafka_resp_err_t err = rd_kafka_flush(rk_.get(), 10000);
  if (err)
    spdlog::warn("kafka producer: {} record(s) undelivered at close", rd_kafka_outq_len(rk_.get()));
}

void Producer::DeliveryCallback(rd_kafka_t* /*rk*/, const rd_kafka_message_t* msg, void* opaque) {
  auto* self = static_cast<Producer*>(opaque);
  if (msg->_private != nullptr && self->on_delivery_) {
    self->on_delivery_(reinterpret_cast<uint64_t>(msg->_private),
                       msg->err == RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    self->delivered_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  self->failed_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(self->error_mu_);
  if (self->first_error_.empty()) {
    self->first_error_ = std::string("delivery to ") + rd_kafka_topic_name(msg->rkt) + ": " +
                         rd_kafka_err2str(msg->err);
  }
}

Status Producer::Produce(std::string_view topic, std::string_view key, std::string_view value,
                         const Headers& headers, int32_t partition, int block_ms, uint64_t token) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(block_ms);
  std::string topic_str(topic);
  for (;;) {
    rd_kafka_headers_t* hdrs = nullptr;
    if (!headers.empty()) {
      hdrs = rd_kafka_headers_new(headers.size());
      for (const auto& [name, val] : headers) {
        rd_kafka_header_add(hdrs, name.data(), static_cast<ssize_t>(name.size()), val.data(),
                            static_cast<ssize_t>(val.size()));
      }
    }
    // librdkafka's varargs API; its macros use C casts.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
    rd_kafka_resp_err_t err =
        rd_kafka_producev(rk_.get(), RD_KAFKA_V_TOPIC(topic_str.c_str()),
                          RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA : partition),
                          RD_KAFKA_V_KEY(key.data(), key.size()),
                          RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
                          RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(token)), RD_KAFKA_V_END);
#pragma GCC diagnostic pop
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_poll(rk_.get(), 0);
      return Status::Ok();
    }
    if (hdrs != nullptr) rd_kafka_headers_destroy(hdrs);  // not taken on failure
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || std::chrono::steady_clock::now() > deadline) {
      return KafkaError(err, "produce to " + topic_str);
    }
    rd_kafka_poll(rk_.get(), 10);
  }
}

Status Producer::Flush(int timeout_ms) {
  rd_kafka_resp_err_t err = rd_kafka_flush(rk_.get(), timeout_ms);
  std::string first_error;
  {
    std::lock_guard lock(error_mu_);
    first_error.swap(first_error_);
  }
  if (!first_error.empty()) return Unavailable(first_error);
  if (err) return KafkaError(err, "flush");
  return Status::Ok();
}

}  // namespace cairn::kafka
