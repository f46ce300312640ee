// Ingest benchmark: Segment JSON events (~300 B, 1M distinct customers,
// Zipf-skewed) published to the embedded broker while (1) the engine
// consumes them into RocksDB (WAL on) and then (2) a raw librdkafka consumer
// consumes and discards the same stream. Both phases run in this process on
// this machine, so their ratio is meaningful even on a noisy machine.
//
// The mock broker keeps at most 5 MiB per partition, so the publisher stays
// at most kMaxLead messages ahead of the consumer (the Zipf-hot partition
// gets ~13% of the stream); the engine's offsets_skipped must stay 0. Both
// clocks start once the consumer holds its partitions.
//
// Env: CAIRN_BENCH_EVENTS (default 2,000,000), CAIRN_BENCH_CUSTOMERS (1,000,000).
// Last line:
//   RESULT ingest events_per_s=<n> raw_consume_per_s=<n> ratio=<r> customers=<n> p99_batch_ms=<n>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

#include "cairn/time.h"
#include "kafka/consumer.h"
#include "kafka/embedded_broker.h"
#include "kafka/producer.h"
#include "runtime/engine.h"
#include "state/state_store.h"

namespace cairn {
namespace {

constexpr int kPartitions = 16;
constexpr int64_t kMaxLead = 80000;  // ~26 MB in flight, ~3.5 MB on the hottest partition
using SteadyClock = std::chrono::steady_clock;

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::atoll(v) : fallback;
}

// Zipf(s) over [0, n) by inverse CDF.
class Zipf {
 public:
  Zipf(size_t n, double s) : cdf_(n) {
    double sum = 0;
    for (size_t i = 0; i < n; ++i) cdf_[i] = (sum += 1.0 / std::pow(static_cast<double>(i + 1), s));
    for (auto& c : cdf_) c /= sum;
  }
  size_t operator()(std::mt19937_64& rng) {
    double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return static_cast<size_t>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  }

 private:
  std::vector<double> cdf_;
};

constexpr std::array kEvents = {"Product Viewed", "Product Added", "Checkout Started",
                                "Order Completed", "Page Viewed"};

// Publishes `total` events to `topic`, never more than kMaxLead ahead of `consumed()`.
template <typename Consumed>
void Publish(const std::string& brokers, const std::string& topic, int64_t total, size_t customers,
             Consumed consumed, std::atomic<bool>& failed) {
  auto producer = kafka::Producer::Create(
      {brokers, {{"linger.ms", "20"}, {"batch.size", "1000000"}, {"compression.type", "none"}}});
  if (!producer.ok()) {
    failed = true;
    return;
  }
  std::mt19937_64 rng(12345);  // the same stream in both phases
  static Zipf zipf(customers, 0.99);
  const TimestampMs base = 1767225600000;
  std::string value;
  for (int64_t i = 0; i < total; ++i) {
    // consumed() takes the engine's metrics lock: ask every 1000 messages only.
    while (i % 1000 == 0 && i - consumed() > kMaxLead) {
      (*producer)->Poll();
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    const size_t c = zipf(rng);
    const std::string user = fmt::format("user-{:07d}", c);
    const char* name = kEvents[rng() % kEvents.size()];
    value = fmt::format(
        R"({{"type":"track","userId":"{}","event":"{}","messageId":"bench-{:010d}","timestamp":"{}",)"
        R"("properties":{{"product_id":"sku-{}","price":{}.5,"quantity":{},"total":{}.0,"currency":"USD",)"
        R"("category":"coffee"}},"context":{{"ip":"127.0.0.1","locale":"en-US","library":{{"name":"analytics.js"}}}}}})",
        user, name, i, FormatTimestamp(base + i * 10), rng() % 500, rng() % 90, 1 + rng() % 3,
        rng() % 400);
    if (!(*producer)->Produce(topic, user, value).ok()) {
      failed = true;
      return;
    }
  }
  if (!(*producer)->Flush(120000).ok()) failed = true;
}

}  // namespace
}  // namespace cairn

int main() {
  using namespace cairn;
  const int64_t total = EnvInt("CAIRN_BENCH_EVENTS", 2000000);
  const size_t customers = static_cast<size_t>(EnvInt("CAIRN_BENCH_CUSTOMERS", 1000000));
  auto broker = kafka::EmbeddedBroker::Start(
      {"127.0.0.1:0", kPartitions, {"bench.events", "bench.raw", "bench.dlq"}});
  if (!broker.ok()) {
    fmt::print(stderr, "{}\n", broker.status().ToString());
    return 1;
  }
  const std::string brokers = (*broker)->address();
  const std::string dir =
      (std::filesystem::temp_directory_path() / fmt::format("cairn-bench-{}", getpid())).string();
  std::filesystem::remove_all(dir);
  fmt::print("ingest bench: {} events, {} customers (Zipf 0.99), {} partitions, RocksDB in {}\n",
             total, customers, kPartitions, dir);

  // Phase 1: the engine.
  double engine_rate = 0;
  uint64_t stored_customers = 0;
  double p99 = 0;
  {
    auto store = state::StateStore::Open({.dir = dir});
    if (!store.ok()) {
      fmt::print(stderr, "{}\n", store.status().ToString());
      return 1;
    }
    runtime::EngineOptions o;
    o.brokers = brokers;
    o.group_id = "bench";
    o.topics = {"bench.events", "bench.dlq", "bench.tasks"};
    auto engine = runtime::Engine::Create(o, store->get(), &SystemClock::Instance());
    if (!engine.ok()) {
      fmt::print(stderr, "{}\n", engine.status().ToString());
      return 1;
    }
    runtime::Engine* e = engine->get();
    std::atomic<bool> stop{false};
    std::atomic<bool> failed{false};
    std::thread ingest([&] { (void)e->Run(stop); });
    auto consumed = [e] { return static_cast<int64_t>(e->metrics().messages); };
    for (int i = 0; i < 3000 && !e->ready(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const auto start = SteadyClock::now();
    std::thread pub([&] { Publish(brokers, o.topics.events, total, customers, consumed, failed); });
    // Stop early when nothing moves for 20 s (e.g. input lost to retention).
    int64_t last = -1;
    auto last_move = SteadyClock::now();
    while (consumed() < total && !failed && SteadyClock::now() - start < std::chrono::minutes(10) &&
           SteadyClock::now() - last_move < std::chrono::seconds(20)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      if (const int64_t c = consumed(); c != last) {
        last = c;
        last_move = SteadyClock::now();
      }
    }
    const double secs = std::chrono::duration<double>(SteadyClock::now() - start).count();
    pub.join();
    auto m = e->metrics();
    stop = true;
    ingest.join();
    engine_rate = static_cast<double>(m.messages) / secs;
    p99 = m.p99_batch_ms;
    uint64_t skipped = 0;
    for (const auto& [p, cp] : (*store)->Checkpoints(o.topics.events)) {
      stored_customers += cp.customers();
      skipped += cp.offsets_skipped();
    }
    fmt::print(
        "engine: {} events in {:.2f} s = {:.0f} events/s, {} batches, p99 batch {:.1f} ms, "
        "{} dead letters, {} customers, {} offsets skipped\n",
        m.messages, secs, engine_rate, m.batches, p99, m.dead_letters, stored_customers, skipped);
    fmt::print(
        "engine stages (ms): poll {:.0f}, parse {:.0f}, load {:.0f}, apply {:.0f}, write {:.0f}\n",
        m.poll_ms, m.parse_ms, m.load_ms, m.apply_ms, m.write_ms);
    if (m.messages < static_cast<uint64_t>(total) || failed || skipped > 0) {
      fmt::print(stderr, "engine did not consume everything\n");
      return 1;
    }
  }
  std::filesystem::remove_all(dir);

  // Phase 2: raw librdkafka consume-and-discard of the same stream.
  double raw_rate = 0;
  {
    struct NoOp : kafka::RebalanceListener {
      void OnRevoke(const std::vector<kafka::TopicPartition>&) override {}
      void OnAssign(std::vector<kafka::TopicPartition>&) override {}
    } listener;
    auto consumer =
        kafka::Consumer::Create({brokers, "bench-raw", {"bench.raw"}, "", {}}, &listener);
    if (!consumer.ok()) return 1;
    std::atomic<int64_t> n{0};
    std::atomic<bool> failed{false};
    for (int i = 0; i < 1000 && (*consumer)->Assignment().empty(); ++i) (void)(*consumer)->Poll(10);
    const auto start = SteadyClock::now();
    std::thread pub([&] {
      Publish(
          brokers, "bench.raw", total, customers, [&] { return n.load(); }, failed);
    });
    uint64_t bytes = 0;
    while (n < total && !failed && SteadyClock::now() - start < std::chrono::minutes(10)) {
      auto msg = (*consumer)->Poll(100);
      if (!msg || msg->err) continue;
      bytes += msg->len;
      n.fetch_add(1, std::memory_order_relaxed);
    }
    const double secs = std::chrono::duration<double>(SteadyClock::now() - start).count();
    pub.join();
    raw_rate = static_cast<double>(n.load()) / secs;
    fmt::print("raw consume: {} messages ({:.0f} B avg) in {:.2f} s = {:.0f} messages/s\n",
               n.load(), static_cast<double>(bytes) / static_cast<double>(std::max<int64_t>(1, n)),
               secs, raw_rate);
    (*consumer)->Close();
  }

  fmt::print(
      "RESULT ingest events_per_s={:.0f} raw_consume_per_s={:.0f} ratio={:.2f} customers={} "
      "p99_batch_ms={:.1f}\n",
      engine_rate, raw_rate, engine_rate / raw_rate, stored_customers, p99);
  return 0;
}
