#include "engine_harness.h"

#include <strings.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
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

TaskReader::TaskReader(const std::string& brokers, const std::string& topic) {
  auto consumer = kafka::Consumer::Create(
      {brokers, "tasks-check-" + std::to_string(std::random_device{}()), {topic}, "", {}},
      &listener_);
  if (consumer.ok()) consumer_ = std::move(consumer).value();
}

TaskReader::~TaskReader() = default;

size_t TaskReader::Read(int ms) {
  if (!consumer_) return 0;
  size_t got = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < until) {
    batch_.clear();
    consumer_->PollBatch(100, 1000, batch_);
    for (auto& msg : batch_) {
      if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
      ++got;
      ++messages_;
      Take(*msg);
    }
  }
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

// --- HTTP ---

std::string HttpCallResult::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), k.size()) == 0) return v;
  }
  return {};
}

HttpCallResult HttpCall(const std::string& method, const std::string& address,
                        const std::string& target, const std::string& body,
                        const std::vector<std::pair<std::string, std::string>>& headers) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  using tcp = boost::asio::ip::tcp;
  HttpCallResult out;
  try {
    boost::asio::io_context io;
    const auto colon = address.rfind(':');
    tcp::endpoint ep(boost::asio::ip::make_address(address.substr(0, colon)),
                     static_cast<unsigned short>(std::stoi(address.substr(colon + 1))));
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(5));
    stream.connect(ep);
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, address);
    for (const auto& [k, v] : headers) req.set(k, v);
    if (!body.empty() || method == "POST" || method == "PUT") {
      req.body() = body;
      req.prepare_payload();
    }
    http::write(stream, req);
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(stream, buf, res);
    out.status = static_cast<int>(res.result_int());
    for (const auto& field : res) {
      out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    out.body = res.body();
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  } catch (const std::exception&) {
    out.status = 0;
  }
  return out;
}

std::optional<std::pair<std::string, std::string>> SplitHttpUrl(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, kScheme.size()) != kScheme) return std::nullopt;
  url.remove_prefix(kScheme.size());
  const size_t slash = url.find('/');
  std::string host(url.substr(0, slash));
  if (host.empty()) return std::nullopt;
  std::string target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  return std::make_pair(std::move(host), std::move(target));
}

}  // namespace cairn::testing
