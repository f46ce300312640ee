// Helpers for the end-to-end tests that run the real `cairn` binary
// (journey_crash_test, dispatch_crash_test, outcome_loop_test): the
// development broker as a child process, the engine's /v1/status, a reader
// of cairn.tasks, input published in acknowledged chunks on a thread of its
// own, and an HTTP client that sends any method and returns the headers.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "cairn/v1/state.pb.h"
#include "kafka/consumer.h"
#include "kafka/producer.h"
#include "state/state_store.h"
#include "test_support.h"

namespace cairn::testing {

// The environment variable `name` as a number, or `fallback` when unset.
uint64_t EnvOr(const char* name, uint64_t fallback);

// A string member of `j`, or "" (without json::value, which g++ 12 warns about).
std::string StringField(const nlohmann::json& j, const char* key);

// `cairn broker --partitions N` on a free loopback port (in memory; at most
// 5 MiB per partition). Killed when this object goes.
class BrokerProcess {
 public:
  // Starts the broker and waits (up to 20 s) until it answers a metadata
  // request. nullptr when it does not; the log says why.
  static std::unique_ptr<BrokerProcess> Start(const std::string& cairn_binary, int partitions,
                                              const std::string& log_path);
  const std::string& address() const { return address_; }

 private:
  BrokerProcess() = default;
  std::string address_;
  std::unique_ptr<ChildProcess> process_;
};

// The `kafka:` section of the config of an engine that is killed and
// restarted: static membership and a short session, so a restarted engine
// gets its partitions back at once.
inline constexpr char kRestartableKafkaYaml[] =
    "kafka:\n"
    "  instance_id: engine-0\n"
    "  consumer:\n"
    "    session.timeout.ms: \"3000\"\n"
    "    heartbeat.interval.ms: \"500\"\n";

// `cairn run` as the crash tests start it, on fresh loopback ports (admin
// API and public listener); stdout+stderr appended to `log_path`.
struct EngineRun {
  std::string binary, config, brokers, data_dir, group, log_path;
  std::string journeys;  // --journeys when not empty
  std::string log_level = "info";
  std::string crash_points;  // CAIRN_CRASH_POINTS for this run ("" = none)
};
// Starts it; `*http_address` gets the admin API's address.
std::unique_ptr<ChildProcess> StartEngineProcess(const EngineRun& run, std::string* http_address);

// Every customer record of a stopped engine's store, by id, and the sum of
// their events_total (what a crash test compares with its ledger). `ok` is
// false when the scan failed.
struct StoredCustomers {
  bool ok = false;
  std::map<std::string, v1::CustomerState> by_id;
  uint64_t events = 0;
};
StoredCustomers ReadStoredCustomers(state::StateStore& store);

// GET http://ADDRESS/v1/status, parsed; nullopt while the engine's API is
// not up (or has no "process" section yet).
std::optional<nlohmann::json> EngineStatus(const std::string& http_address);

// The running engine's checkpoints have reached the end of every partition
// of `topic` (as `rk`, any client of the broker, sees the high watermarks).
bool CaughtUp(const std::string& http_address, rd_kafka_t* rk, const std::string& topic,
              int partitions);

// Whether a line of the file at `path` contains `text`.
bool FileContains(const std::string& path, std::string_view text);

// Reads any topic from the beginning with a group of its own and hands
// every message to a callback.
class TopicReader {
 public:
  TopicReader(const std::string& brokers, const std::string& topic);
  ~TopicReader();
  TopicReader(const TopicReader&) = delete;
  TopicReader& operator=(const TopicReader&) = delete;

  bool ok() const { return consumer_ != nullptr; }
  // Reads for `ms`, calling `take` for each message without an error;
  // returns how many.
  size_t Read(int ms, const std::function<void(const rd_kafka_message_t&)>& take);

 private:
  struct NoOp : kafka::RebalanceListener {
    void OnRevoke(const std::vector<kafka::TopicPartition>&) override {}
    void OnAssign(std::vector<kafka::TopicPartition>&) override {}
  };

  NoOp listener_;
  std::unique_ptr<kafka::Consumer> consumer_;
  std::vector<kafka::MessageHandle> batch_;
};

// Reads a task topic (cairn.tasks) from the beginning with a group of its
// own. Every copy of a task must be the same bytes (one decision, produced
// again from its outbox row, never a second decision).
class TaskReader {
 public:
  TaskReader(const std::string& brokers, const std::string& topic);
  ~TaskReader();
  TaskReader(const TaskReader&) = delete;
  TaskReader& operator=(const TaskReader&) = delete;

  bool ok() const { return reader_.ok(); }
  // Reads for `ms`; returns the number of task messages read.
  size_t Read(int ms);

  // task id -> copies read.
  const std::map<std::string, int>& seen() const { return seen_; }
  // task id -> the message id of its entry event, as the task says.
  const std::map<std::string, std::string>& entry_of() const { return entry_of_; }
  // task id -> the task's first copy, parsed.
  const std::map<std::string, nlohmann::json>& tasks() const { return tasks_; }
  uint64_t messages() const { return messages_; }
  // Messages without a JSON task whose task_id equals the cairn.task_id header.
  uint64_t malformed() const { return malformed_; }
  // Copies whose bytes differ from the task's first copy.
  uint64_t differing() const { return differing_; }

 private:
  void Take(const rd_kafka_message_t& msg);

  TopicReader reader_;
  std::map<std::string, int> seen_;
  std::map<std::string, std::string> entry_of_;
  std::map<std::string, std::string> first_;  // task id -> its first copy
  std::map<std::string, nlohmann::json> tasks_;
  uint64_t messages_ = 0, malformed_ = 0, differing_ = 0;
};

struct KeyedMessage {
  std::string key, value;
};

// Publishes `messages` to `topic` on a thread of its own: `chunk` messages,
// then a flush (every message of the chunk acknowledged), then `pause`, and
// so on. The destructor stops and joins the thread (also when a test fails).
class ChunkedPublisher {
 public:
  ChunkedPublisher(kafka::Producer* producer, std::string topic,
                   const std::vector<KeyedMessage>* messages, size_t chunk,
                   std::chrono::milliseconds pause);
  ~ChunkedPublisher();
  ChunkedPublisher(const ChunkedPublisher&) = delete;
  ChunkedPublisher& operator=(const ChunkedPublisher&) = delete;

  // Acknowledged so far.
  size_t published() const { return published_.load(); }
  bool failed() const { return failed_.load(); }
  // Every message acknowledged.
  bool all() const { return all_.load(); }
  // Nothing more will be published (all of it, or a failure).
  bool done() const { return all() || failed(); }

 private:
  std::atomic<bool> stop_{false}, all_{false}, failed_{false};
  std::atomic<size_t> published_{0};
  std::thread thread_;
};

}  // namespace cairn::testing
