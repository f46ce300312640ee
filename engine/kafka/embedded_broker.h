// The development Kafka broker: librdkafka's mock cluster, in-process, served
// on a fixed loopback address.
//
// FOR DEVELOPMENT, TESTS AND THE DEMO ONLY. The mock cluster keeps data in
// memory, at most 5 MiB per partition (older record batches are dropped), has
// no TLS/SASL and no admin API. The mock brokers listen on ephemeral loopback
// ports; a forwarder accepts on `listen` and relays each connection to the
// first mock broker, so clients bootstrap at a stable address and then reach
// the brokers at the addresses the metadata names.
//
// Thread-safety: construction and destruction on one thread; the mock cluster
// and the forwarder run on their own threads.
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <memory>
#include <string>
#include <vector>

#include "cairn/status.h"
#include "kafka/handles.h"

namespace cairn::kafka {

struct EmbeddedBrokerOptions {
  std::string listen = "127.0.0.1:9092";  // port 0 picks a free one
  int partitions = 16;                    // for each topic in `topics`
  std::vector<std::string> topics;        // created at start
};

class EmbeddedBroker {
 public:
  static Result<std::unique_ptr<EmbeddedBroker>> Start(const EmbeddedBrokerOptions& options);
  ~EmbeddedBroker();
  EmbeddedBroker(const EmbeddedBroker&) = delete;
  EmbeddedBroker& operator=(const EmbeddedBroker&) = delete;

  // "127.0.0.1:PORT": where clients bootstrap (the forwarder).
  const std::string& address() const { return address_; }
  // The mock brokers' own addresses.
  std::string mock_bootstraps() const;
  // Creates a topic (an existing one is kept as it is).
  Status CreateTopic(const std::string& topic, int partitions);

  rd_kafka_mock_cluster_t* mock() const { return mock_; }

 private:
  class Forwarder;
  EmbeddedBroker() = default;

  KafkaHandle owner_;  // the rd_kafka_t the mock cluster belongs to
  rd_kafka_mock_cluster_t* mock_ = nullptr;
  std::unique_ptr<Forwarder> forwarder_;
  std::string address_;
};

}  // namespace cairn::kafka
