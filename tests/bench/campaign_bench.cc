// Campaign scan benchmark: write BENCH_PROFILES (default 10,000,000)
// realistic customer records (CustomerState with a few traits, event stats,
// labels and a dedup window) into a real RocksDB through SST ingestion, then
// time the scan plus audience evaluation alone, the way a campaign run does
// it (campaign::Audience on a snapshot iterator per partition, fill_cache
// off), partitions scanned in parallel on BENCH_THREADS (default 2) threads.
//
// Printed beside it, measured in the same run: the bare iteration (no
// evaluation) and a condition over `customer` (full record parse), so the
// figure can be read against this machine's noise.
//
//   RESULT campaign_scan profiles=N profiles_per_s=R
#include <fmt/format.h>
#include <rocksdb/db.h>
#include <rocksdb/sst_file_writer.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "campaign/audience.h"
#include "journey/loader.h"
#include "state/state_store.h"

using namespace cairn;

namespace {

constexpr int kPartitions = 8;

uint64_t Env(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

journey::Journey Load(const std::string& where) {
  const std::string yaml =
      "journey: bench\nversion: 1\nwhen:\n  schedule:\n    cron: \"0 9 * * MON\"\n"
      "    timezone: Europe/Berlin\nwho:\n  where: " +
      where +
      "\n  consent: { email: implied }\nentry:\n  reentry: always\nsteps:\n  - id: s\n    send: "
      "{ channel: email, template: t }\n";
  auto r = journey::LoadJourney(yaml, "bench.yaml");
  if (!r.journey) {
    fmt::print(stderr, "{}\n", r.diagnostics.front().ToString());
    std::exit(1);
  }
  return std::move(*r.journey);
}

// Partition p holds customers i with i % kPartitions == p, in key order.
void WritePartition(int p, uint64_t n, const std::string& dir, const rocksdb::Options& options,
                    std::string* file) {
  static const char* kPlans[] = {"free", "pro", "team", "enterprise"};
  static const char* kCountries[] = {"DE", "FR", "AT", "CH", "NL", "US", "GB", "ES"};
  static const char* kEvents[] = {"Order Completed", "Product Viewed", "Email Opened"};
  std::mt19937_64 rng(static_cast<uint64_t>(p) + 1);
  rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), options);
  *file = fmt::format("{}/part-{}.sst", dir, p);
  if (!writer.Open(*file).ok()) std::abort();
  v1::CustomerState c;
  std::string key, value;
  for (uint64_t i = static_cast<uint64_t>(p); i < n; i += kPartitions) {
    c.Clear();
    c.set_id(fmt::format("c{:010d}", i));
    const uint64_t r = rng();
    c.set_traits_json(fmt::format(
        R"({{"email":"{}@example.com","plan":"{}","country":"{}","age":{},"newsletter":{},"consent":{{"email":{}}}}})",
        c.id(), kPlans[r % 4], kCountries[(r >> 8) % 8], 18 + (r >> 16) % 60,
        (r >> 24) % 2 ? "true" : "false", (r >> 28) % 10 ? "true" : "false"));
    c.set_first_seen_ms(1700000000000 + static_cast<int64_t>(r % 100000000));
    c.set_last_seen_ms(c.first_seen_ms() + 86400000);
    uint64_t total = 0;
    for (int e = 0; e < 3; ++e) {
      auto* s = c.add_events();
      s->set_name(kEvents[e]);
      s->set_count(1 + (r >> (32 + e * 4)) % 16);
      s->set_first_at_ms(c.first_seen_ms());
      s->set_last_at_ms(c.last_seen_ms());
      if (e == 0) (*s->mutable_sums())["total"] = static_cast<double>(s->count()) * 42.5;
      total += s->count();
    }
    c.set_events_total(total);
    c.set_next_history_seq(total);
    for (int m = 0; m < 8; ++m) c.add_recent_message_ids(rng());
    c.add_labels((r >> 40) % 2 ? "vip" : "regular");
    state::StateStore::CustomerKeyInto(key, p, c.id());
    c.SerializeToString(&value);
    if (!writer.Put(key, value).ok()) std::abort();
  }
  if (!writer.Finish().ok()) std::abort();
}

struct ScanResult {
  uint64_t scanned = 0, matched = 0;
  double seconds = 0;
};

// Scans every partition on `threads` threads; `audience` null = bare iteration.
ScanResult Scan(state::StateStore* store, const campaign::Audience* audience, int threads,
                TimestampMs now) {
  std::atomic<int> next{0};
  std::atomic<uint64_t> scanned{0}, matched{0};
  rocksdb::ManagedSnapshot snapshot(store->db());
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int p = next++; p < kPartitions; p = next++) {
        std::string lo, hi;
        state::StateStore::CustomerKeyInto(lo, p, "");
        state::StateStore::CustomerKeyInto(hi, p + 1, "");
        lo.resize(4);
        hi.resize(4);
        rocksdb::Slice upper(hi);
        rocksdb::ReadOptions ro;
        ro.snapshot = snapshot.snapshot();
        ro.fill_cache = false;
        ro.iterate_upper_bound = &upper;
        ro.readahead_size = 2 << 20;
        std::unique_ptr<rocksdb::Iterator> it(store->db()->NewIterator(ro, store->customers_cf()));
        uint64_t s = 0, m = 0;
        for (it->Seek(lo); it->Valid(); it->Next()) {
          ++s;
          if (audience == nullptr) {
            m += it->value().size() > 0;
            continue;
          }
          const rocksdb::Slice v = it->value();
          m += audience->Matches(std::string_view(v.data(), v.size()), now);
        }
        scanned += s;
        matched += m;
      }
    });
  }
  for (auto& th : pool) th.join();
  return {scanned.load(), matched.load(), Since(start)};
}

}  // namespace

int main() {
  const uint64_t n = Env("BENCH_PROFILES", 10000000);
  const int threads = static_cast<int>(Env("BENCH_THREADS", 2));
  const std::string dir =
      (std::filesystem::temp_directory_path() / fmt::format("cairn-campaign-bench-{}", getpid()))
          .string();
  std::filesystem::create_directories(dir + "/sst");
  auto opened = state::StateStore::Open({.dir = dir + "/db"});
  if (!opened.ok()) {
    fmt::print(stderr, "{}\n", opened.status().ToString());
    return 1;
  }
  auto store = std::move(opened).value();

  // Bulk load: one SST per partition, written in parallel, then ingested.
  auto start = std::chrono::steady_clock::now();
  rocksdb::Options sst_options;
  sst_options.compression = rocksdb::kLZ4Compression;
  std::vector<std::string> files(kPartitions);
  {
    std::atomic<int> next{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        for (int p = next++; p < kPartitions; p = next++) {
          WritePartition(p, n, dir + "/sst", sst_options, &files[static_cast<size_t>(p)]);
        }
      });
    }
    for (auto& th : pool) th.join();
  }
  rocksdb::IngestExternalFileOptions ingest;
  ingest.move_files = true;
  if (auto s = store->db()->IngestExternalFile(store->customers_cf(), files, ingest); !s.ok()) {
    fmt::print(stderr, "ingest: {}\n", s.ToString());
    return 1;
  }
  uint64_t bytes = 0;
  store->db()->GetIntProperty(store->customers_cf(), "rocksdb.total-sst-files-size", &bytes);
  fmt::print("campaign bench: {} profiles written in {:.1f} s ({:.0f} MB of SST, {} partitions)\n",
             n, Since(start), static_cast<double>(bytes) / 1e6, kPartitions);

  const TimestampMs now = 1790000000000;
  const journey::Journey traits_journey =
      Load("traits.plan == 'pro' && traits.country in ['DE', 'AT', 'CH']");
  const journey::Journey customer_journey =
      Load("customer.events['Order Completed'].count >= 8 && 'vip' in customer.labels");
  campaign::Audience traits_audience(traits_journey, now);
  campaign::Audience customer_audience(customer_journey, now);

  (void)Scan(store.get(), nullptr, threads, now);  // warm the OS page cache
  const ScanResult bare = Scan(store.get(), nullptr, threads, now);
  const ScanResult full = Scan(store.get(), &customer_audience, threads, now);
  const ScanResult res = Scan(store.get(), &traits_audience, threads, now);
  auto rate = [](const ScanResult& r) { return static_cast<double>(r.scanned) / r.seconds; };
  fmt::print("bare iteration:           {:>10.0f} profiles/s ({} scanned)\n", rate(bare),
             bare.scanned);
  fmt::print("customer.* (full parse):  {:>10.0f} profiles/s ({} in the audience)\n", rate(full),
             full.matched);
  fmt::print(
      "traits + consent (fast):  {:>10.0f} profiles/s ({} in the audience), {:.2f} of the "
      "bare iteration, {} threads\n",
      rate(res), res.matched, rate(res) / rate(bare), threads);
  fmt::print("RESULT campaign_scan profiles={} profiles_per_s={:.0f}\n", res.scanned, rate(res));
  store.reset();
  std::filesystem::remove_all(dir);
  return res.scanned == n ? 0 : 1;
}
