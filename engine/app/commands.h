// The `cairn` subcommands. Each returns the process exit code.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "app/config.h"

namespace cairn::app {

// Set by SIGTERM/SIGINT; every long-running command watches it.
std::atomic<bool>& StopFlag();
void InstallSignalHandlers();

// `cairn run`: the service.
int RunCommand(const Config& config);

// `cairn broker`: only the development Kafka broker, until a signal.
int BrokerCommand(const std::string& listen, int partitions,
                  const std::vector<std::string>& topics);

struct DemoOptions {
  std::string data_dir = "./demo-data";
  int customers = 3000;
  int days = 180;
  uint64_t seed = 42;
  std::string http = "127.0.0.1:0";         // admin API (loopback: protected mode)
  std::string public_http = "127.0.0.1:0";  // public listener (tracking links)
  bool serve = false;                       // keep the engine and HTTP API up until a signal
  std::string journeys = "journeys";        // the example journeys, run on event time
  // Delivery: postfix's smtp-sink for email (empty or missing: no email
  // channel); SMS and push always go to an in-process provider sink.
  std::string smtp_sink = ".tools/postfix/usr/sbin/smtp-sink";
};
// `cairn demo`: embedded broker + engine + the sample stream, then a report.
int DemoCommand(const DemoOptions& options);

// `cairn produce-sample`: publishes the sample stream to a broker.
int ProduceSampleCommand(const std::string& brokers, const std::string& topic, int customers,
                         int days, uint64_t seed);

}  // namespace cairn::app
