// RAII owners for librdkafka's C handles, and a config builder that turns
// librdkafka's error strings into a Status. Every rd_kafka_* handle in Cairn
// is held by one of these; nothing frees a handle by hand.
#pragma once

#include <librdkafka/rdkafka.h>

#include <map>
#include <memory>
#include <string>

#include "cairn/status.h"

namespace cairn::kafka {

struct KafkaDeleter {
  void operator()(rd_kafka_t* p) const { rd_kafka_destroy(p); }
  void operator()(rd_kafka_conf_t* p) const { rd_kafka_conf_destroy(p); }
  void operator()(rd_kafka_message_t* p) const { rd_kafka_message_destroy(p); }
  void operator()(rd_kafka_topic_partition_list_t* p) const {
    rd_kafka_topic_partition_list_destroy(p);
  }
  void operator()(rd_kafka_headers_t* p) const { rd_kafka_headers_destroy(p); }
  void operator()(rd_kafka_queue_t* p) const { rd_kafka_queue_destroy(p); }
};

using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
using ConfHandle = std::unique_ptr<rd_kafka_conf_t, KafkaDeleter>;
using MessageHandle = std::unique_ptr<rd_kafka_message_t, KafkaDeleter>;
using PartitionListHandle = std::unique_ptr<rd_kafka_topic_partition_list_t, KafkaDeleter>;
using HeadersHandle = std::unique_ptr<rd_kafka_headers_t, KafkaDeleter>;
using QueueHandle = std::unique_ptr<rd_kafka_queue_t, KafkaDeleter>;

// librdkafka properties (see librdkafka's CONFIGURATION.md), applied in order.
using KafkaProperties = std::map<std::string, std::string>;

// Builds a conf from `props`; an unknown key or bad value is InvalidArgument
// naming the key.
Result<ConfHandle> MakeConf(const KafkaProperties& props);

// A Status for a librdkafka error code, with `what` as context.
Status KafkaError(rd_kafka_resp_err_t err, const std::string& what);

}  // namespace cairn::kafka
