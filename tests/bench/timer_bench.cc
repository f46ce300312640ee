// Timer benchmark: a fresh RocksDB (the engine's StateStore, WAL on) is
// loaded with N pending timers across 16 partitions, in random key order as
// events would add them (customer ids "user-NNNNNN" of 1M customers, dues
// spread over 90 days, a serialized cairn.v1.TimerPayload of 20-40 bytes),
// with TimerStore::Add into 100,000-timer WriteBatches. Then every timer is
// fired the way the engine's timer loop does it: per partition, Due(now = the
// end of the 90 days, limit 10,000) -> Consume -> Write, until Due is empty.
//
// For a ratio measured in the same run, a plain RocksDB iterator first scans
// the whole timers CF (no decoding, no writes): fires/s / raw scan keys/s says
// what the timer machinery costs over reading the rows.
//
// Env: CAIRN_BENCH_TIMERS (default 10,000,000).
// Last line:
//   RESULT timers pending=<N> fires_per_s=<rate> load_per_s=<rate>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "cairn/v1/state.pb.h"
#include "state/state_store.h"
#include "timer/timer_store.h"

namespace cairn {
namespace {

constexpr int kPartitions = 16;
constexpr size_t kLoadBatch = 100'000;
constexpr size_t kFireLimit = 10'000;
constexpr TimestampMs kStart = 1767225600000;  // 2026-01-01
constexpr TimestampMs kSpan = 90LL * 86'400'000;
using SteadyClock = std::chrono::steady_clock;

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::atoll(v) : fallback;
}

double Seconds(SteadyClock::time_point since) {
  return std::chrono::duration<double>(SteadyClock::now() - since).count();
}

std::string Property(state::StateStore& store, const std::string& name) {
  std::string v;
  return store.db()->GetProperty(store.timers_cf(), name, &v) ? v : "?";
}

// Journey names whose payloads come out between 20 and 40 bytes.
constexpr std::array kJourneys = {"welcome-series",       "cart-abandonment",
                                  "winback-90d",          "coupon-reminder",
                                  "post-purchase-review", "browse-abandonment-retarget"};

int Run() {
  const int64_t total = EnvInt("CAIRN_BENCH_TIMERS", 10'000'000);
  if (total <= 0) {
    fmt::print(stderr, "CAIRN_BENCH_TIMERS must be > 0\n");
    return 2;
  }
  const std::string dir =
      (std::filesystem::temp_directory_path() / fmt::format("cairn-bench-timers-{}", getpid()))
          .string();
  std::filesystem::remove_all(dir);
  fmt::print("timer bench: {} timers, {} partitions, dues over 90 days, RocksDB in {}\n", total,
             kPartitions, dir);

  auto opened = state::StateStore::Open({.dir = dir});
  if (!opened.ok()) {
    fmt::print(stderr, "{}\n", opened.status().ToString());
    return 1;
  }
  auto store = std::move(opened).value();
  timer::TimerStore timers(store.get());

  // Load.
  std::mt19937_64 rng(20260101);
  std::uniform_int_distribution<int> customer_dist(0, 999'999);
  std::uniform_int_distribution<TimestampMs> due_dist(kStart, kStart + kSpan - 1);
  std::uniform_int_distribution<size_t> journey_dist(0, kJourneys.size() - 1);
  v1::TimerPayload payload;
  timer::Timer t;
  uint64_t payload_bytes = 0;
  size_t min_payload = SIZE_MAX;
  size_t max_payload = 0;
  auto batch = store->NewBatch();
  const auto load_start = SteadyClock::now();
  for (int64_t i = 0; i < total; ++i) {
    const int customer = customer_dist(rng);
    t.partition = customer % kPartitions;
    t.due_ms = due_dist(rng);
    t.customer_id = fmt::format("user-{:06d}", customer);
    t.tag = rng();  // instance id and kind
    payload.set_kind(static_cast<v1::TimerPayload::Kind>(t.tag % 4));
    payload.set_journey(kJourneys[journey_dist(rng)]);
    payload.set_instance(t.tag >> 8);
    payload.SerializeToString(&t.payload);
    payload_bytes += t.payload.size();
    min_payload = std::min(min_payload, t.payload.size());
    max_payload = std::max(max_payload, t.payload.size());
    timers.Add(batch, t);
    if (batch.count() >= kLoadBatch || i + 1 == total) {
      if (Status s = store->Write(batch); !s.ok()) {
        fmt::print(stderr, "load: {}\n", s.ToString());
        return 1;
      }
    }
  }
  const double load_s = Seconds(load_start);
  const double load_rate = static_cast<double>(total) / load_s;
  fmt::print(
      "load: {} timers in {:.2f} s = {:.0f} timers/s ({} per WriteBatch, payload {}-{} B, "
      "avg {:.1f} B)\n",
      total, load_s, load_rate, kLoadBatch, min_payload, max_payload,
      static_cast<double>(payload_bytes) / static_cast<double>(total));
  fmt::print("after load: L0 files {}, SST bytes {}, pending compaction bytes {}\n",
             Property(*store, "rocksdb.num-files-at-level0"),
             Property(*store, "rocksdb.total-sst-files-size"),
             Property(*store, "rocksdb.estimate-pending-compaction-bytes"));

  // Reference: a raw scan of every row, no decoding.
  uint64_t scanned = 0;
  const auto scan_start = SteadyClock::now();
  {
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(store->db()->NewIterator(ro, store->timers_cf()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) ++scanned;
    if (!it->status().ok()) {
      fmt::print(stderr, "scan: {}\n", it->status().ToString());
      return 1;
    }
  }
  const double scan_s = Seconds(scan_start);
  const double scan_rate = static_cast<double>(scanned) / scan_s;
  fmt::print("raw scan: {} rows in {:.2f} s = {:.0f} rows/s\n", scanned, scan_s, scan_rate);
  if (scanned != static_cast<uint64_t>(total)) {
    fmt::print(stderr, "expected {} rows, found {} (duplicate keys?)\n", total, scanned);
    return 1;
  }

  // Fire everything, per partition: Due -> Consume -> Write.
  const TimestampMs now = kStart + kSpan;
  std::vector<timer::Timer> due;
  due.reserve(kFireLimit);
  std::vector<double> pass_ms;
  uint64_t fires = 0;
  const auto fire_start = SteadyClock::now();
  for (int32_t p = 0; p < kPartitions; ++p) {
    for (;;) {
      const auto pass_start = SteadyClock::now();
      due.clear();
      if (Status s = timers.Due(p, now, kFireLimit, due); !s.ok()) {
        fmt::print(stderr, "due: {}\n", s.ToString());
        return 1;
      }
      if (due.empty()) break;
      timers.Consume(batch, p, due.back());
      if (Status s = store->Write(batch); !s.ok()) {
        fmt::print(stderr, "consume: {}\n", s.ToString());
        return 1;
      }
      fires += due.size();
      pass_ms.push_back(Seconds(pass_start) * 1e3);
    }
  }
  const double fire_s = Seconds(fire_start);
  const double fire_rate = static_cast<double>(fires) / fire_s;
  std::sort(pass_ms.begin(), pass_ms.end());
  const auto pct = [&](double q) {
    return pass_ms.empty()
               ? 0.0
               : pass_ms[static_cast<size_t>(q * static_cast<double>(pass_ms.size() - 1))];
  };
  fmt::print(
      "fire: {} timers in {:.2f} s = {:.0f} fires/s ({} passes of <= {}; pass p50 {:.1f} ms, "
      "p99 {:.1f} ms, max {:.1f} ms)\n",
      fires, fire_s, fire_rate, pass_ms.size(), kFireLimit, pct(0.5), pct(0.99),
      pass_ms.empty() ? 0.0 : pass_ms.back());
  fmt::print("ratio fires/s / raw scan rows/s = {:.2f}\n", fire_rate / scan_rate);

  // Check: nothing left, nothing fired twice (the counts would differ).
  uint64_t left = 0;
  for (int32_t p = 0; p < kPartitions; ++p) {
    auto n = timers.CountPending(p);
    if (!n.ok()) {
      fmt::print(stderr, "count: {}\n", n.status().ToString());
      return 1;
    }
    left += *n;
    if (timers.NextDue(p).has_value()) {
      fmt::print(stderr, "partition {}: NextDue after firing everything\n", p);
      return 1;
    }
  }
  fmt::print("after fire: {} pending, L0 files {}, malformed keys {}\n", left,
             Property(*store, "rocksdb.num-files-at-level0"), timers.malformed_keys());
  if (fires != static_cast<uint64_t>(total) || left != 0) {
    fmt::print(stderr, "fired {} of {}, {} left\n", fires, total, left);
    return 1;
  }
  store.reset();
  std::filesystem::remove_all(dir);
  fmt::print("RESULT timers pending={} fires_per_s={:.0f} load_per_s={:.0f}\n", total, fire_rate,
             load_rate);
  return 0;
}

}  // namespace
}  // namespace cairn

int main() { return cairn::Run(); }
