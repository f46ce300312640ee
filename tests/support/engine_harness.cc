#include "engine_harness.h"

#include <cstdlib>
#include <fstream>
#include <random>

namespace cairn::testing {

using nlohmann::json;

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* s = std::getenv(name);
  return s != nullptr && *s != '\0' ? std::stoull(s) : fallback;
}

std::string StringField(const json& j, const char* key) {
  if (!j.is_object()) return {};
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get_ref<const std::string&>() : std::string();
}

// --- BrokerProcess ---

std::unique_ptr<BrokerProcess> BrokerProcess::Start(const std::string& cairn_binary, int partitions,
                                                    const std::string& log_path) {
  std::unique_ptr<BrokerProcess> b(new BrokerProcess());
  b->address_ = FreeLoopbackAddress();
  b->process_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{cairn_binary, "broker", "--listen", b->address_, "--partitions",
                               std::to_string(partitions)},
      log_path);
  auto probe = kafka::Producer::Create({b->address_, {{"log_level", "0"}}, {}});
  if (!probe.ok()) return nullptr;
  const bool up = WaitFor(
      [&] {
        const rd_kafka_metadata_t* md = nullptr;
        if (rd_kafka_metadata((*probe)->handle(), 1, nullptr, &md, 500) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
          return false;
        }
        rd_kafka_metadata_destroy(md);
        return true;
      },
      std::chrono::seconds(20));
  return up ? std::move(b) : nullptr;
}

// --- engine process ---

std::unique_ptr<ChildProcess> StartEngineProcess(const EngineRun& run, std::string* http_address) {
  *http_address = FreeLoopbackAddress();
  std::vector<std::string> argv;
  if (!run.crash_points.empty()) {
    argv = {"/usr/bin/env", "CAIRN_CRASH_POINTS=" + run.crash_points};
  }
  for (const std::string& a :
       {run.binary, std::string("run"), std::string("--config"), run.config,
        std::string("--brokers"), run.brokers, std::string("--data-dir"), run.data_dir}) {
    argv.push_back(a);
  }
  if (!run.journeys.empty()) {
    argv.push_back("--journeys");
    argv.push_back(run.journeys);
  }
  for (const std::string& a :
       {std::string("--http"), *http_address, std::string("--public-listen"), FreeLoopbackAddress(),
        std::string("--group"), run.group, std::string("--log-level"), run.log_level}) {
    argv.push_back(a);
  }
  return std::make_unique<ChildProcess>(std::move(argv), run.log_path);
}

// --- engine status ---

std::optional<json> EngineStatus(const std::string& http_address) {
  auto res = HttpGet(http_address, "/v1/status");
  if (res.status != 200) return std::nullopt;
  auto j = json::parse(res.body, nullptr, false);
  if (!j.is_object() || !j.contains("process")) return std::nullopt;
  return j;
}

bool CaughtUp(const std::string& http_address, rd_kafka_t* rk, const std::string& topic,
              int partitions) {
  auto j = EngineStatus(http_address);
  if (!j || !j->contains("partitions")) return false;
  std::map<int, int64_t> at;
  for (const auto& p : (*j)["partitions"]) at[p["partition"]] = p["next_offset"];
  for (int p = 0; p < partitions; ++p) {
    int64_t lo = 0, hi = 0;
    if (rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &lo, &hi, 2000) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      return false;
    }
    if (hi > 0 && (!at.contains(p) || at[p] < hi)) return false;
  }
  return true;
}

bool FileContains(const std::string& path, std::string_view text) {
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (line.find(text) != std::string::npos) return true;
  }
  return false;
}

// --- TaskReader ---

TaskReader::TaskReader(const std::string& brokers, const std::string& topic)
    : reader_(brokers, topic) {}

TaskReader::~TaskReader() = default;

size_t TaskReader::Read(int ms) {
  const size_t got = reader_.Read(ms, [this](const rd_kafka_message_t& msg) { Take(msg); });
  messages_ += got;
  return got;
}

void TaskReader::Take(const rd_kafka_message_t& msg) {
  std::string header;
  rd_kafka_headers_t* hdrs = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  if (rd_kafka_message_headers(&msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
      rd_kafka_header_get_last(hdrs, "cairn.task_id", &value, &size) ==
          RD_KAFKA_RESP_ERR_NO_ERROR &&
      value != nullptr) {
    header.assign(static_cast<const char*>(value), size);
  }
  const std::string payload(static_cast<const char*>(msg.payload), msg.len);
  auto task = json::parse(payload, nullptr, false);
  if (!task.is_object() || !task.contains("task_id") || !task["task_id"].is_string() ||
      task["task_id"] != header) {
    ++malformed_;
    return;
  }
  if (++seen_[header] == 1) {
    first_.emplace(header, payload);
    const auto entry = task.find("entry_event");
    entry_of_.emplace(header, entry != task.end() ? StringField(*entry, "message_id") : "");
    tasks_.emplace(header, std::move(task));
  } else if (first_[header] != payload) {
    ++differing_;
  }
}

// --- TopicReader ---

TopicReader::TopicReader(const std::string& brokers, const std::string& topic) {
  auto consumer = kafka::Consumer::Create(
      {brokers, "topic-check-" + std::to_string(std::random_device{}()), {topic}, "", {}},
      &listener_);
  if (consumer.ok()) consumer_ = std::move(consumer).value();
}

TopicReader::~TopicReader() = default;

size_t TopicReader::Read(int ms, const std::function<void(const rd_kafka_message_t&)>& take) {
  if (!consumer_) return 0;
  size_t got = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < until) {
    batch_.clear();
    consumer_->PollBatch(100, 1000, batch_);
    for (auto& msg : batch_) {
      if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
      ++got;
      take(*msg);
    }
  }
  return got;
}

// --- ChunkedPublisher ---

ChunkedPublisher::ChunkedPublisher(kafka::Producer* producer, std::string topic,
                                   const std::vector<KeyedMessage>* messages, size_t chunk,
                                   std::chrono::milliseconds pause) {
  thread_ = std::thread([this, producer, topic = std::move(topic), messages, chunk, pause] {
    const size_t n = messages->size();
    for (size_t i = 0; i < n && !stop_;) {
      const size_t end = std::min(n, i + std::max<size_t>(1, chunk));
      for (; i < end; ++i) {
        if (!producer->Produce(topic, (*messages)[i].key, (*messages)[i].value).ok()) {
          failed_ = true;
          return;
        }
      }
      if (!producer->Flush(30000).ok()) {
        failed_ = true;
        return;
      }
      published_ = i;
      if (i == n) break;
      // Sleeps in small steps so that the destructor does not wait long.
      const auto until = std::chrono::steady_clock::now() + pause;
      while (!stop_ && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    all_ = published_.load() == n;
  });
}

ChunkedPublisher::~ChunkedPublisher() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

StoredCustomers ReadStoredCustomers(state::StateStore& store) {
  StoredCustomers out;
  out.ok = store
               .ScanCustomers([&](int32_t, const v1::CustomerState& c) {
                 out.by_id[c.id()] = c;
                 out.events += c.events_total();
                 return true;
               })
               .ok();
  return out;
}

}  // namespace cairn::testing
