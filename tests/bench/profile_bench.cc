// Profile stage benchmark: the engine's per-event CPU path (parse the
// Segment JSON, fold into the customer record, profile stage, journeys,
// serialize the record for the write) over the same stream, with the
// example journeys loaded, (A) without a profile and (B) with 50 computed
// traits (windowed and all-time, over four event names) and 20 segments.
// Both run in this process on their own copies of the customer records,
// taking turns every 2,000 events within each pass; the ratio of the best
// passes is what to read on a noisy machine. Kafka and RocksDB are left out
// of both sides: the stage's CPU cost, not what its bigger records cost to
// write (the end-to-end part below has that).
//
// Env: CAIRN_BENCH_EVENTS (default 400,000), CAIRN_BENCH_CUSTOMERS (20,000),
// CAIRN_BENCH_SEGMENTS (20; 0 to see what the traits alone cost).
// Then the same comparison end to end: the real engine (wall clock)
// consuming a quarter as many events, stamped as live traffic (the last
// seconds before now), from the embedded broker into RocksDB, and the
// events it emits (segment changes) back; wall time per event, five pairs
// of runs after one to warm up (which side goes first alternates), the pair
// with the median ratio reported; CAIRN_BENCH_E2E=0 skips it. Each run is a
// fresh engine over a few batches, so it includes what a long-running one
// pays once (its write batches growing to size).
//
// Last line:
//   RESULT profile_overhead ratio=<B/A> base_ns_per_event=<n> profile_ns_per_event=<n>
//          e2e_ratio=<B/A> e2e_base_ns_per_event=<n> e2e_profile_ns_per_event=<n>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cairn/clock.h"
#include "cairn/time.h"
#include "flow/catalog.h"
#include "flow/runtime.h"
#include "ingest/event_parser.h"
#include "journey/loader.h"
#include "kafka/embedded_broker.h"
#include "kafka/producer.h"
#include "profile/loader.h"
#include "profile/profiler.h"
#include "runtime/engine.h"
#include "state/customer_state.h"
#include "state/state_store.h"

namespace cairn {
namespace {

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::atoll(v) : fallback;
}

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// 50 traits over the shop's events, 20 segments over them.
std::string ProfileYaml(int segments) {
  const char* events[] = {"Order Completed", "Product Viewed", "Product Added", "Checkout Started"};
  const char* windows[] = {"", "7d", "30d", "90d", "365d"};
  std::string y = "traits:\n";
  int n = 0;
  for (int w = 0; w < 5; ++w) {
    for (int e = 0; e < 4; ++e) {
      const std::string win = windows[w][0] != '\0' ? fmt::format(", window: {}", windows[w]) : "";
      y += fmt::format("  count_{}: {{ count: {}{} }}\n", n++, events[e], win);
      y += fmt::format("  sum_{}: {{ sum: {}, of: price{} }}\n", n++, events[e], win);
      if (n < 50) y += fmt::format("  last_{}: {{ last: {}{} }}\n", n++, events[e], win);
      if (n >= 50) break;
    }
    if (n >= 50) break;
  }
  while (n < 50) y += fmt::format("  max_{}: {{ max: Order Completed, of: total }}\n", n++);
  // Each segment reads a count and a sum that exist (count_k, sum_k+1 for k
  // a multiple of 3), of events and windows that vary across segments.
  if (segments > 0) y += "segments:\n";
  for (int s = 0; s < segments; ++s) {
    const int c = 3 * ((s * 7) % 16), m = 3 * ((s * 5 + 3) % 16) + 1;
    y += fmt::format("  seg-{}: \"traits.count_{} >= {} && traits.sum_{} > {}.0\"\n", s, c,
                     1 + s % 4, m, s * 10);
  }
  return y;
}

struct Stream {
  std::vector<std::string> json;
  std::vector<std::string> keys;  // the userId, the Kafka key
  int64_t span_ms = 0;            // from the first event to the last
};

// `live`: the events are stamped with the last `events` milliseconds before
// now, as live traffic is (windows hold them all; nothing expires during the
// run) instead of spanning 120 days.
Stream MakeStream(size_t events, uint32_t customers, bool live = false) {
  std::mt19937_64 rng(42);
  Stream s;
  s.json.reserve(events);
  s.keys.reserve(events);
  const char* names[] = {"Product Viewed", "Product Viewed",   "Product Viewed",  "Product Added",
                         "Product Added",  "Checkout Started", "Order Completed", "Signed Up"};
  TimestampMs t = live ? SystemClock::Instance().NowMs() - static_cast<int64_t>(events)
                       : 1767225600000;  // 2026-01-01
  // The stream spans 120 days whatever its length, so windows slide and
  // expire as in production (a pass later, the same events come 120 days on).
  const int64_t step =
      live ? 1 : std::max<int64_t>(1, int64_t{120} * 86400000 / static_cast<int64_t>(events));
  s.span_ms = step * static_cast<int64_t>(events);
  for (size_t i = 0; i < events; ++i) {
    t += step;
    const uint32_t c = static_cast<uint32_t>(rng() % customers);
    const char* name = names[rng() % 8];
    const double price = static_cast<double>(rng() % 20000) / 100.0;
    s.json.push_back(fmt::format(
        R"({{"type":"track","event":"{}","userId":"user-{}","messageId":"m-{}","timestamp":"{}",)"
        R"("properties":{{"product_id":"p-{}","price":{},"total":{},"cart_id":"cart-{}"}}}})",
        name, c, i, FormatTimestamp(t), rng() % 500, price, price * 2, c));
    s.keys.push_back(fmt::format("user-{}", c));
  }
  return s;
}

class NullEffects final : public flow::Effects {
 public:
  void AddTimer(const timer::Timer&) override { ++timers; }
  void Publish(const v1::OutboxRecord&) override { ++published; }
  void Record(const v1::TraceEntry&) override {}
  uint64_t timers = 0, published = 0;
};

struct Side {
  std::string name;
  flow::Runtime runtime;
  std::vector<v1::CustomerState> records;
  NullEffects effects;
  double best_ns = 1e300;
  uint64_t bytes = 0;
};

// Events [begin, end) of the stream, `shift_ms` later than their timestamps
// say; returns the CPU seconds they took.
double Run(Side& side, const Stream& s, size_t begin, size_t end, uint32_t customers,
           int64_t shift_ms) {
  ingest::EventParser parser;
  state::StateOptions options;
  options.dedup_window = 0;  // passes repeat the stream; keep every event
  v1::HistoryEntry history;
  Event e;
  std::string out;
  const double start = ThreadCpuSeconds();
  for (size_t i = begin; i < end; ++i) {
    const std::string& text = s.json[i];
    ingest::RawMessage raw;
    raw.payload = text;
    if (parser.Parse(raw, e)) continue;
    e.timestamp_ms += shift_ms;
    const auto c = static_cast<size_t>(std::stoul(e.user_id.substr(5))) % customers;
    v1::CustomerState& rec = side.records[c];
    state::Apply(options, e, rec, &history);
    flow::Context ctx{static_cast<int32_t>(c % 16), e.timestamp_ms, &side.effects};
    side.runtime.OnEvent(ctx, rec, e, nullptr);
    rec.SerializeToString(&out);  // the write's cost
    side.bytes += out.size();
  }
  return ThreadCpuSeconds() - start;
}

// One pass of both sides over the stream, `shift_ms` later than its
// timestamps say, taking turns every 2,000 events, so both see the same
// machine (on a shared host the speed drifts within seconds); returns
// each side's CPU ns per event.
std::pair<double, double> Pass(Side& a, Side& b, const Stream& s, uint32_t customers,
                               int64_t shift_ms) {
  constexpr size_t kTurn = 2000;
  double secs_a = 0, secs_b = 0;
  for (size_t begin = 0; begin < s.json.size(); begin += kTurn) {
    const size_t end = std::min(s.json.size(), begin + kTurn);
    secs_a += Run(a, s, begin, end, customers, shift_ms);
    secs_b += Run(b, s, begin, end, customers, shift_ms);
  }
  const auto n = static_cast<double>(s.json.size());
  return {secs_a * 1e9 / n, secs_b * 1e9 / n};
}

// ---- end to end: the real engine, consuming the stream from the embedded
// broker into RocksDB (WAL on), with and without the profile.

// The pair of runs (one each side, back to back) whose ratio is the median.
struct EndToEnd {
  double a_ns = 0, b_ns = 0;
  bool ok = false;
};

// Consumes the whole topic with a fresh group and data dir; returns wall ns
// per event of the stream (`total`) from the first assignment to the last
// message, or <0 on failure.
double EngineRun(const std::string& brokers, const std::string& topic, const std::string& group,
                 size_t total, const std::shared_ptr<const flow::Catalog>& catalog) {
  const std::string dir = (std::filesystem::temp_directory_path() /
                           fmt::format("cairn-profile-bench-{}-{}", getpid(), group))
                              .string();
  std::filesystem::remove_all(dir);
  double ns = -1;
  {
    auto store = state::StateStore::Open({.dir = dir});
    if (!store.ok()) return -1;
    runtime::EngineOptions o;
    o.brokers = brokers;
    o.group_id = group;
    o.topics = {topic, topic + ".dlq", topic + ".tasks"};
    o.event_time_clock = false;  // production's clock; the stream is live traffic
    // Idle polls short: the profile side ends with its last write landing
    // (on the next idle poll) and the events it emitted coming back.
    o.poll_timeout_ms = 5;
    auto engine = runtime::Engine::Create(o, store->get(), &SystemClock::Instance());
    if (!engine.ok()) return -1;
    runtime::Engine* e = engine->get();
    e->journeys().SetCatalog(catalog);
    std::atomic<bool> stop{false};
    std::thread ingest([&] { (void)e->Run(stop); });
    for (int i = 0; i < 3000 && !e->ready(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    // Done when the stream and every event the engine emitted onto the
    // topic itself (segment changes: it consumes them, as in production)
    // have been consumed.
    auto done = [total](const runtime::EngineMetrics& m) {
      return m.messages >= total + m.events_emitted;
    };
    const auto start = std::chrono::steady_clock::now();
    while (!done(e->metrics()) &&
           std::chrono::steady_clock::now() - start < std::chrono::seconds(60)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto m = e->metrics();
    stop = true;
    ingest.join();
    if (done(m)) {
      ns = secs * 1e9 / static_cast<double>(total);
    } else {
      fmt::print(stderr,
                 "{}: {} of {} messages consumed ({} of them emitted by the engine), {} events, "
                 "{} dead letters\n",
                 group, m.messages, total + m.events_emitted, m.events_emitted, m.events,
                 m.dead_letters);
    }
  }
  std::filesystem::remove_all(dir);
  return ns;
}

EndToEnd RunEndToEnd(const Stream& stream, const std::shared_ptr<const flow::Catalog>& without,
                     const std::shared_ptr<const flow::Catalog>& with) {
  EndToEnd r;
  spdlog::set_level(spdlog::level::warn);  // the figures, not each run's assignments
  // Each run reads the stream from a topic of its own, published before its
  // clock starts (the events a run emits onto its topic are not read by the
  // next one), on a broker of its own pair: the broker keeps at most 5 MiB
  // per partition and frees nothing before it stops.
  std::unique_ptr<kafka::EmbeddedBroker> broker;
  std::unique_ptr<kafka::Producer> producer;
  auto fresh_broker = [&]() {
    producer.reset();
    broker.reset();
    auto b = kafka::EmbeddedBroker::Start({"127.0.0.1:0", 16, {}});
    if (!b.ok()) {
      fmt::print(stderr, "{}\n", b.status().ToString());
      return false;
    }
    broker = std::move(*b);
    auto p = kafka::Producer::Create({broker->address(), {{"linger.ms", "20"}}});
    if (!p.ok()) return false;
    producer = std::move(*p);
    return true;
  };
  auto run = [&](const std::string& name, const std::shared_ptr<const flow::Catalog>& catalog) {
    const std::string topic = "pb." + name;
    for (const std::string& t : {topic, topic + ".dlq", topic + ".tasks"}) {
      if (!broker->CreateTopic(t, 16).ok()) return -1.0;
    }
    for (size_t i = 0; i < stream.json.size(); ++i) {
      if (!producer->Produce(topic, stream.keys[i], stream.json[i]).ok()) return -1.0;
    }
    if (!producer->Flush(120000).ok()) return -1.0;
    return EngineRun(broker->address(), topic, name, stream.json.size(), catalog);
  };
  // Runs in pairs, the side that goes first alternating, so a drift of
  // the machine's speed falls on both sides; the median pair is reported.
  // The first pair warms the page cache and the allocator up and is not
  // counted (its first run was always the slowest).
  constexpr int kPairs = 5;
  std::vector<std::pair<double, double>> pairs;
  for (int rep = -1; rep < kPairs; ++rep) {
    if (!fresh_broker()) return r;
    const bool base_first = (rep & 1) != 0;  // the warm-up pair (-1) too
    const auto base = [&] { return run(fmt::format("without-{}", rep + 1), without); };
    const auto prof = [&] { return run(fmt::format("with-{}", rep + 1), with); };
    double a = 0, b = 0;
    if (base_first) {
      a = base();
      b = prof();
    } else {
      b = prof();
      a = base();
    }
    if (a < 0 || b < 0) {
      fmt::print(stderr, "an engine run did not consume the stream\n");
      return r;
    }
    if (rep < 0) continue;
    fmt::print("  engine run {} without profile {:>7.0f} ns/event wall\n", rep + 1, a);
    fmt::print("  engine run {} with profile    {:>7.0f} ns/event wall  ({:.2f})\n", rep + 1, b,
               b / a);
    pairs.emplace_back(a, b);
  }
  std::sort(pairs.begin(), pairs.end(),
            [](const auto& x, const auto& y) { return x.second / x.first < y.second / y.first; });
  r.a_ns = pairs[kPairs / 2].first;
  r.b_ns = pairs[kPairs / 2].second;
  r.ok = true;
  return r;
}

int Run() {
  const auto events = static_cast<size_t>(EnvInt("CAIRN_BENCH_EVENTS", 400000));
  const auto customers = static_cast<uint32_t>(EnvInt("CAIRN_BENCH_CUSTOMERS", 20000));
  auto journeys = journey::LoadJourneyDir(std::string(CAIRN_SOURCE_DIR) + "/journeys");
  if (!journeys.diagnostics.empty()) {
    fmt::print(stderr, "journeys do not load: {}\n", journeys.diagnostics[0].ToString());
    return 1;
  }
  auto profile = profile::LoadProfile(
      {{"bench.yaml", ProfileYaml(static_cast<int>(EnvInt("CAIRN_BENCH_SEGMENTS", 20)))}});
  if (!profile.model) {
    fmt::print(stderr, "profile does not load: {}\n", profile.diagnostics[0].ToString());
    return 1;
  }
  fmt::print("profile: {} computed traits, {} segments; {} journeys; {} events, {} customers\n",
             profile.model->traits.size(), profile.model->segments.size(), journeys.journeys.size(),
             events, customers);
  const Stream stream = MakeStream(events, customers);
  {  // How much of the profile the sample events exercise.
    uint64_t touched = 0, with_traits = 0;
    ingest::EventParser parser;
    Event e;
    for (const auto& text : stream.json) {
      ingest::RawMessage raw;
      raw.payload = text;
      if (parser.Parse(raw, e)) continue;
      auto it = profile.model->traits_by_event.find(e.name);
      if (it == profile.model->traits_by_event.end()) continue;
      touched += it->second.size();
      ++with_traits;
    }
    fmt::print(
        "sample events: {:.1f} computed traits folded per event on average ({:.0f}% of "
        "events fold some)\n",
        static_cast<double>(touched) / static_cast<double>(events),
        100.0 * static_cast<double>(with_traits) / static_cast<double>(events));
  }
  Side base, prof;
  base.name = "without profile";
  prof.name = "with profile";
  const auto without = flow::Catalog::Build(journeys.journeys, {}, 1);
  const auto with = flow::Catalog::Build(journeys.journeys, {}, 1, profile.model);
  base.runtime.SetCatalog(without);
  prof.runtime.SetCatalog(with);
  base.records.resize(customers);
  prof.records.resize(customers);
  // Warm-up: records grow until every window is full (the longest, 365
  // days, spans four passes of 120 days), as in production after a year;
  // then the measured passes, the stream later each time.
  int64_t longest = 0;
  for (const auto& t : profile.model->traits) longest = std::max(longest, t.window_ms);
  const int warmups = 1 + static_cast<int>(longest / stream.span_ms);
  for (int w = 0; w < warmups; ++w) Pass(base, prof, stream, customers, w * stream.span_ms);
  for (int rep = 0; rep < 3; ++rep) {
    const auto [a, b] = Pass(base, prof, stream, customers, (warmups + rep) * stream.span_ms);
    base.best_ns = std::min(base.best_ns, a);
    prof.best_ns = std::min(prof.best_ns, b);
    fmt::print("  pass {} {:<16} {:>7.0f} ns/event CPU\n", rep + 1, base.name, a);
    fmt::print("  pass {} {:<16} {:>7.0f} ns/event CPU  ({:.2f})\n", rep + 1, prof.name, b, b / a);
  }
  for (const Side* s : {&base, &prof}) {
    uint64_t bytes = 0, profile_bytes = 0;
    for (const auto& r : s->records) {
      bytes += r.ByteSizeLong();
      profile_bytes += r.profile().ByteSizeLong();
    }
    fmt::print("{}: {} bytes per customer record ({} of them the profile)\n", s->name,
               bytes / s->records.size(), profile_bytes / s->records.size());
  }
  fmt::print("profile side: {} timers armed, {} events published (segment and stage changes)\n",
             prof.effects.timers, prof.effects.published);
  {
    std::map<std::string, int> members;
    for (const auto& r : prof.records) {
      for (std::string_view seg : profile::SegmentNames(r.profile())) members[std::string(seg)]++;
    }
    fmt::print("segments with members at the end: {} of {} (", members.size(),
               profile.model->segments.size());
    for (const auto& [name, n] : members) fmt::print(" {}={}", name, n);
    fmt::print(" )\n");
  }
  // End to end, on a stream a quarter as long (the embedded broker keeps a
  // few MiB per partition).
  EndToEnd e2e;
  if (EnvInt("CAIRN_BENCH_E2E", 1) != 0) {
    const size_t n = std::max<size_t>(1000, events / 4);
    fmt::print("end to end: the engine over the embedded broker into RocksDB, {} events\n", n);
    e2e = RunEndToEnd(MakeStream(n, customers, /*live=*/true), without, with);
    if (!e2e.ok) return 1;
  }
  fmt::print(
      "RESULT profile_overhead ratio={:.2f} base_ns_per_event={:.0f} "
      "profile_ns_per_event={:.0f} e2e_ratio={:.2f} e2e_base_ns_per_event={:.0f} "
      "e2e_profile_ns_per_event={:.0f}\n",
      prof.best_ns / base.best_ns, base.best_ns, prof.best_ns, e2e.ok ? e2e.b_ns / e2e.a_ns : 0.0,
      e2e.ok ? e2e.a_ns : 0.0, e2e.ok ? e2e.b_ns : 0.0);
  return 0;
}

}  // namespace
}  // namespace cairn

int main() { return cairn::Run(); }
