// Trigger benchmark: what one event costs the journey runtime with 10, 1,000
// and 10,000 journeys loaded. The cost per event must not grow with the
// number of journeys that cannot match (the catalog indexes triggers by event
// name and trigger kind), so the last line compares 10,000 with 10.
//
// Journeys are YAML text loaded with journey::LoadJourney, as from files:
//   - 5 fixed journeys triggered by the stream's own events (3 on
//     `Product Added`, 2 on `Order Completed`), each with a `where` that is
//     true for about half of those events, an audience, consent, re-entry
//     rules, exit_when/goal and a few steps (wait_for with look-back, send,
//     wait, update);
//   - N - 5 campaign journeys that cannot match the stream, in a fixed mix
//     (of every 50: 46 event triggers on their own "Campaign Event <i>" with
//     a `where`, 2 trait_changed, 1 absence, 1 date on member_since, birthday
//     or a trait of their own), each with an audience, consent and 3 steps.
//
// Absence and date journeys arm one timer per customer when the customer is
// first seen in a catalog generation (Runtime's Reconcile): that cost is per
// customer per catalog change, not per event. The bench pays it in a profile
// pass (one identify per customer, as when profiles are imported) and prints
// it as "first sight"; then it runs the whole stream once as warm-up and
// snapshots the customer records. The steady state is 3 timed passes over
// the stream (new messageIds, a week later), each from the snapshot, the N
// interleaved in a rotating order (these machines are noisy), the best pass
// reported; then the same for the stream's identify events alone. A
// reference, state::Apply with no runtime, runs alongside.
//
// The stream: Segment JSON parsed by ingest::EventParser, uniform over the
// customers: 45% Product Added, 15% Order Completed, 30% Product Viewed, 10%
// identify (tier/points updates). Timed, as thread CPU time: state::Apply
// (with a history entry, as the engine) + Runtime::OnEvent per event, on
// event time; Effects only count (timers, outbox messages, trace lines).
// Timers never fire here.
//
// Env: CAIRN_BENCH_TRIGGER_EVENTS (default 200,000), CAIRN_BENCH_TRIGGER_CUSTOMERS (20,000);
// CAIRN_BENCH_TRIGGER_JOURNEYS=N runs only N journeys (for a profiler; no RESULT line).
// Last line:
//   RESULT trigger_scaling ns_per_event_10=<x> ns_per_event_1000=<y> ns_per_event_10000=<z>
//   ratio=<z/x>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cairn/event.h"
#include "cairn/time.h"
#include "cairn/v1/state.pb.h"
#include "flow/catalog.h"
#include "flow/runtime.h"
#include "ingest/event_parser.h"
#include "journey/loader.h"
#include "state/customer_state.h"

namespace cairn {
namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr TimestampMs kStart = 1767225600000;    // 2026-01-01
constexpr TimestampMs kSpan = 7LL * 86'400'000;  // one pass over the stream
constexpr int kPartitions = 16;
constexpr int kReps = 3;
constexpr std::array<int, 3> kJourneyCounts = {10, 1000, 10000};

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::atoll(v) : fallback;
}

double Seconds(SteadyClock::time_point since) {
  return std::chrono::duration<double>(SteadyClock::now() - since).count();
}

// CPU time of this thread: unlike wall time, not inflated while other
// processes (builds) hold the CPU.
double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// ---- journeys

// Triggered by the stream; each `where` holds for about half of its events
// (total, price: uniform 0..100; category: half shoes; currency: half EUR).
constexpr std::array<const char*, 5> kFixedJourneys = {
    R"(journey: cart-abandonment
version: 1
owner: crm-team@shop.example
timezone: Europe/Berlin
max_lifetime: 3d
when:
  event: Product Added
  where: has(event.properties.cart_id) && event.properties.total > 50.0
who:
  consent: { email: implied, push: implied }
entry:
  reentry: 1d
exit_when:
  - event: Order Completed
    where: event.properties.cart_id == entry.properties.cart_id
goal:
  event: Order Completed
  where: event.properties.cart_id == entry.properties.cart_id
  within: 3d
steps:
  - id: give_them_an_hour
    wait_for:
      event: Order Completed
      where: event.properties.cart_id == entry.properties.cart_id
      timeout: 1h
      lookback: 5m
      on_event: ordered
  - id: reminder_email
    send: { channel: email, template: cart-reminder }
  - id: rest_of_the_day
    wait: 23h
  - id: push_nudge
    send: { channel: push, template: cart-still-waiting }
  - id: reminded
    exit: reminded
  - id: ordered
    exit: ordered_within_the_hour
)",
    R"(journey: shoe-lovers
version: 1
timezone: Europe/Berlin
max_lifetime: 2d
when:
  event: Product Added
  where: event.properties.category == 'shoes'
who:
  where: has(traits.tier) && traits.tier != 'bronze'
  consent: { push: implied }
entry:
  reentry: 12h
steps:
  - id: later
    wait: { for: 1h, at: "18:00" }
  - id: matching_socks
    send: { channel: push, template: socks-for-shoes, params: { discount_percent: 10 } }
)",
    R"(journey: pricey-cart
version: 1
when:
  event: Product Added
  where: event.properties.price > 50.0
who:
  where: "'Product Viewed' in customer.events && customer.events['Product Viewed'].count >= 1"
  consent: { sms: explicit, email: implied }
entry:
  reentry: always
  max_concurrent: 2
steps:
  - id: by_tier
    branch:
      - if: has(traits.tier) && traits.tier == 'gold'
        next: gold_offer
      - else: standard_offer
  - id: gold_offer
    send: { channel: sms, template: gold-cart-offer }
    next: done
  - id: standard_offer
    send: { channel: email, template: cart-offer }
  - id: done
    exit: offered
)",
    R"(journey: big-order-thanks
version: 1
when:
  event: Order Completed
  where: event.properties.total > 50.0
who:
  consent: { email: implied }
entry:
  reentry: always
  max_concurrent: 3
steps:
  - id: thanks
    send: { channel: email, template: big-order-thanks, params: { points: 100 } }
  - id: mark
    update:
      add_labels: [big-spender]
  - id: done
    exit: thanked
)",
    R"(journey: euro-review-request
version: 1
timezone: Europe/Berlin
max_lifetime: 10d
when:
  event: Order Completed
  where: event.properties.currency == 'EUR'
who:
  where: customer.events['Order Completed'].sums.total > 20.0
  consent: { email: implied, push: implied }
entry:
  reentry: 3d
goal:
  event: Review Written
  within: 10d
steps:
  - id: settle_in
    wait: { for: 2d, at: "10:00" }
  - id: ask
    send: { channel: email, template: review-request }
  - id: reviewed
    wait_for:
      event: Review Written
      timeout: 3d
      on_event: done
  - id: nudge
    send: { channel: push, template: review-nudge }
  - id: done
    exit: asked
)",
};

enum class Kind { kEvent, kTrait, kAbsence, kDate };

// Campaign i's trigger kind; every prefix of the sequence has about the same mix.
Kind KindOf(int i) {
  switch (i % 50) {
    case 0:
      return Kind::kAbsence;
    case 1:
      return Kind::kDate;
    case 2:
    case 3:
      return Kind::kTrait;
    default:
      return Kind::kEvent;
  }
}

// A campaign journey that no event of the stream triggers.
std::string CampaignJourney(int i) {
  std::string when;
  switch (KindOf(i)) {
    case Kind::kEvent:
      when = fmt::format(
          "  event: Campaign Event {0}\n"
          "  where: has(event.properties.campaign_id) && event.properties.campaign_id == 'c-{0}'\n",
          i);
      break;
    case Kind::kTrait:
      when =
          fmt::format("  trait_changed: campaign_trait_{}\n  where: \"change.new == 'on'\"\n", i);
      break;
    case Kind::kAbsence:
      when = fmt::format("  absence: Campaign Event {}\n  for: {}d\n", i, 30 + i % 60);
      break;
    case Kind::kDate:
      switch ((i / 50) % 3) {
        case 0:
          when = "  date: member_since\n  yearly: true\n  at: \"10:00\"\n";
          break;
        case 1:
          when = "  date: birthday\n  yearly: true\n  offset: -1d\n";
          break;
        default:
          when = fmt::format("  date: campaign_date_{}\n  offset: -7d\n", i);
      }
      break;
  }
  static constexpr std::array<const char*, 3> kTiers = {"gold", "silver", "bronze"};
  return fmt::format(
      R"(journey: campaign-{0:05d}
version: 1
description: Synthetic campaign {0}
owner: campaigns@shop.example
priority: {1}
timezone: Europe/Berlin
max_lifetime: 14d
when:
{2}who:
  where: has(traits.tier) && traits.tier == '{3}'
  consent: {{ email: implied, push: implied }}
entry:
  reentry: 30d
exit_when:
  - event: Order Completed
goal:
  event: Order Completed
  within: 7d
steps:
  - id: first_email
    send: {{ channel: email, template: campaign-{0}-email, params: {{ campaign: c-{0} }} }}
  - id: two_days
    wait: {{ for: 2d, at: "10:00" }}
  - id: push_nudge
    send: {{ channel: push, template: campaign-{0}-push }}
)",
      i, i % 100, when, kTiers[static_cast<size_t>(i) % kTiers.size()]);
}

struct LoadedJourneys {
  std::vector<journey::Journey> journeys;
  std::array<int, 4> kinds{};  // by Kind, fixed ones included
  double seconds = 0;
};

// The 5 fixed journeys and n - 5 campaigns, loaded from YAML text.
bool LoadJourneys(int n, LoadedJourneys& out) {
  const auto start = SteadyClock::now();
  for (int i = 0; i < n; ++i) {
    const bool fixed = i < static_cast<int>(kFixedJourneys.size());
    const int campaign = i - static_cast<int>(kFixedJourneys.size());
    const std::string text =
        fixed ? kFixedJourneys[static_cast<size_t>(i)] : CampaignJourney(campaign);
    auto loaded = journey::LoadJourney(text, fmt::format("bench-{}.yaml", i));
    if (!loaded.journey) {
      for (const auto& d : loaded.diagnostics) {
        fmt::print(stderr, "{}\n", d.ToString());
      }
      return false;
    }
    out.journeys.push_back(std::move(*loaded.journey));
    out.kinds[static_cast<size_t>(fixed ? Kind::kEvent : KindOf(campaign))]++;
  }
  out.seconds = Seconds(start);
  return true;
}

// ---- events

struct Stream {
  std::vector<Event> events;
  std::vector<uint32_t> customer;   // index into the customer records
  std::vector<TimestampMs> offset;  // event time within a pass
};

bool ParseInto(ingest::EventParser& parser, const std::string& json, Event& out) {
  ingest::RawMessage raw;
  raw.payload = json;
  if (auto err = parser.Parse(raw, out)) {
    fmt::print(stderr, "bad generated event: {}: {}\n", err->detail, json);
    return false;
  }
  return true;
}

std::string UserId(uint32_t c) { return fmt::format("user-{:06d}", c); }

// One identify per customer with the whole profile: tier, time zone,
// consent, member_since (half), birthday (half).
bool MakeProfiles(ingest::EventParser& parser, uint32_t customers, Stream& s) {
  std::mt19937_64 rng(7);
  static constexpr std::array<const char*, 3> kTiers = {"gold", "silver", "bronze"};
  static constexpr std::array<const char*, 3> kZones = {"Europe/Berlin", "America/New_York",
                                                        "Asia/Tokyo"};
  for (uint32_t c = 0; c < customers; ++c) {
    std::string traits = fmt::format(
        R"("tier":"{}","timezone":"{}","country":"{}","consent":{{"email":{},"push":true,"sms":{}}})",
        kTiers[rng() % 3], kZones[rng() % 3], rng() % 2 == 0 ? "DE" : "US",
        rng() % 10 != 0 ? "true" : "false", rng() % 3 == 0 ? "true" : "false");
    if (rng() % 2 == 0) {
      traits += fmt::format(R"(,"member_since":"20{:02d}-{:02d}-{:02d}")", 15 + rng() % 10,
                            1 + rng() % 12, 1 + rng() % 28);
    }
    if (rng() % 2 == 0) {
      traits += fmt::format(R"(,"birthday":"19{:02d}-{:02d}-{:02d}")", 50 + rng() % 50,
                            1 + rng() % 12, 1 + rng() % 28);
    }
    const std::string json = fmt::format(
        R"({{"type":"identify","userId":"{}","messageId":"profile-{}","timestamp":"{}","traits":{{{}}}}})",
        UserId(c), c, FormatTimestamp(kStart - 86'400'000), traits);
    Event e;
    if (!ParseInto(parser, json, e)) {
      return false;
    }
    s.events.push_back(std::move(e));
    s.customer.push_back(c);
    s.offset.push_back(-86'400'000);
  }
  return true;
}

bool MakeStream(ingest::EventParser& parser, int64_t n, uint32_t customers, Stream& s) {
  std::mt19937_64 rng(20260101);
  std::uniform_int_distribution<uint32_t> customer_dist(0, customers - 1);
  std::uniform_real_distribution<double> hundred(0, 100);
  static constexpr std::array<const char*, 4> kCategories = {"shoes", "shirts", "bags", "shoes"};
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t c = customer_dist(rng);
    const TimestampMs offset = i * kSpan / n;
    const int kind = static_cast<int>(rng() % 100);
    const std::string head = fmt::format(R"("userId":"{}","messageId":"m-{}","timestamp":"{}")",
                                         UserId(c), i, FormatTimestamp(kStart + offset));
    const std::string context =
        R"("context":{"locale":"de-DE","ip":"203.0.113.7","library":{"name":"analytics.js"}})";
    std::string json;
    if (kind < 45) {
      const double price = hundred(rng);
      json = fmt::format(
          R"({{"type":"track","event":"Product Added",{},"properties":{{"cart_id":"cart-{}-{}","product_id":"p-{}","category":"{}","price":{:.2f},"quantity":1,"total":{:.2f},"currency":"{}"}},{}}})",
          head, c, rng() % 3, rng() % 5000, kCategories[rng() % 4], price, hundred(rng),
          rng() % 2 == 0 ? "EUR" : "USD", context);
    } else if (kind < 60) {
      json = fmt::format(
          R"({{"type":"track","event":"Order Completed",{},"properties":{{"order_id":"o-{}","cart_id":"cart-{}-{}","total":{:.2f},"currency":"{}","coupon":null}},{}}})",
          head, i, c, rng() % 3, hundred(rng), rng() % 2 == 0 ? "EUR" : "USD", context);
    } else if (kind < 90) {
      json = fmt::format(
          R"({{"type":"track","event":"Product Viewed",{},"properties":{{"product_id":"p-{}","category":"{}","price":{:.2f}}},{}}})",
          head, rng() % 5000, kCategories[rng() % 4], hundred(rng), context);
    } else {
      json = fmt::format(
          R"({{"type":"identify",{},"traits":{{"tier":"{}","points":{},"last_page":"/p/{}"}},{}}})",
          head, rng() % 3 == 0 ? "gold" : "silver", rng() % 10000, rng() % 5000, context);
    }
    Event e;
    if (!ParseInto(parser, json, e)) {
      return false;
    }
    s.events.push_back(std::move(e));
    s.customer.push_back(c);
    s.offset.push_back(offset);
  }
  return true;
}

// Pass p: new messageIds (else the dedup window drops them) and p weeks later.
void SetPass(Stream& s, int pass) {
  for (size_t i = 0; i < s.events.size(); ++i) {
    s.events[i].message_id = fmt::format("m{}-{}", pass, i);
    s.events[i].timestamp_ms = kStart + pass * kSpan + s.offset[i];
  }
}

// ---- running

class CountingEffects final : public flow::Effects {
 public:
  void AddTimer(const timer::Timer& /*timer*/) override { ++timers; }
  void Publish(const v1::OutboxRecord& /*record*/) override { ++outbox; }
  void Record(const v1::TraceEntry& entry) override {
    ++trace;
    if (entry.action() == "enter") {
      ++enters;
      entered = true;
    }
  }
  void Reset() { *this = CountingEffects(); }

  uint64_t timers = 0, outbox = 0, trace = 0, enters = 0;
  bool entered = false;
};

struct PassResult {
  double seconds = 0;  // thread CPU time
  double wall_seconds = 0;
  uint64_t events_entered = 0;
  uint64_t duplicates = 0;
};

// state::Apply + Runtime::OnEvent for every event of `s`, as the engine does
// it (runtime == nullptr: Apply only).
PassResult RunPass(flow::Runtime* runtime, const state::StateOptions& options,
                   std::vector<v1::CustomerState>& customers, const Stream& s,
                   CountingEffects& effects) {
  PassResult r;
  v1::HistoryEntry history;
  std::string old_traits;
  const auto catalog = runtime != nullptr ? runtime->catalog() : nullptr;
  const bool trait_triggers = catalog != nullptr && catalog->has_trait_triggers();
  const auto start = SteadyClock::now();
  const double cpu_start = ThreadCpuSeconds();
  for (size_t i = 0; i < s.events.size(); ++i) {
    const Event& e = s.events[i];
    v1::CustomerState& c = customers[s.customer[i]];
    const bool identify = trait_triggers && e.type == EventType::kIdentify;
    if (identify) {
      old_traits = c.traits_json();
    }
    if (state::Apply(options, e, c, &history) == state::ApplyResult::kDuplicate) {
      ++r.duplicates;
      continue;
    }
    if (runtime == nullptr) {
      continue;
    }
    effects.entered = false;
    const flow::Context ctx{static_cast<int32_t>(s.customer[i] % kPartitions), e.timestamp_ms,
                            &effects};
    runtime->OnEvent(ctx, c, e, identify ? &old_traits : nullptr);
    if (effects.entered) {
      ++r.events_entered;
    }
  }
  r.seconds = ThreadCpuSeconds() - cpu_start;
  r.wall_seconds = Seconds(start);
  return r;
}

double NsPer(double seconds, size_t n) { return seconds * 1e9 / static_cast<double>(n); }

// One journey count: its catalog, runtime and customer records, warmed up.
struct Setup {
  int journeys = 0;  // 0: the reference, state::Apply alone
  std::unique_ptr<flow::Runtime> runtime;
  std::vector<v1::CustomerState> records;
  std::vector<v1::CustomerState> snapshot;  // after the warm-up pass
  CountingEffects effects;
  std::array<double, kReps> ns{};           // CPU ns/event per timed pass
  std::array<double, kReps> identify_ns{};  // the same, identify events alone
  double best_wall_ns = 1e300;
  PassResult last;

  double best_ns() const { return *std::min_element(ns.begin(), ns.end()); }
  double best_identify_ns() const {
    return *std::min_element(identify_ns.begin(), identify_ns.end());
  }
};

// Loads the journeys, then pays the first sight (profiles) and one warm-up
// pass (pass 0 of the stream), and snapshots the customer records.
bool Prepare(int n, const Stream& profiles, Stream& stream, uint32_t customers, Setup& s) {
  s.journeys = n;
  s.records.resize(customers);
  if (n > 0) {
    LoadedJourneys loaded;
    if (!LoadJourneys(n, loaded)) {
      return false;
    }
    const auto build_start = SteadyClock::now();
    auto catalog = flow::Catalog::Build(std::move(loaded.journeys), {}, 1);
    const double build_ms = Seconds(build_start) * 1e3;
    fmt::print(
        "N={}: {} event, {} trait_changed, {} absence, {} date journeys; LoadJourney {:.2f} s "
        "({:.0f} us/journey), Catalog::Build {:.1f} ms\n",
        n, loaded.kinds[0], loaded.kinds[1], loaded.kinds[2], loaded.kinds[3], loaded.seconds,
        loaded.seconds * 1e6 / n, build_ms);
    s.runtime = std::make_unique<flow::Runtime>();
    s.runtime->SetCatalog(std::move(catalog));
  }
  const state::StateOptions options;
  // First sight in this catalog generation: Reconcile arms absence/date timers.
  const PassResult first = RunPass(s.runtime.get(), options, s.records, profiles, s.effects);
  const uint64_t first_timers = s.effects.timers;
  SetPass(stream, 0);
  s.effects.Reset();
  const PassResult warm = RunPass(s.runtime.get(), options, s.records, stream, s.effects);
  if (n > 0) {
    fmt::print(
        "  first sight (1 identify per customer; Reconcile arms absence+date timers): {:.0f} "
        "ns/customer CPU, {:.1f} timers/customer; warm-up pass {:.0f} ns/event CPU\n",
        NsPer(first.seconds, profiles.events.size()), static_cast<double>(first_timers) / customers,
        NsPer(warm.seconds, stream.events.size()));
  }
  if (first.duplicates + warm.duplicates != 0) {
    fmt::print(stderr, "unexpected duplicates\n");
    return false;
  }
  s.snapshot = s.records;
  return true;
}

// One timed pass (pass 1 of the stream) from the snapshot, then its
// identify events alone, from the snapshot again.
bool TimedPass(Setup& s, const Stream& stream, const Stream& identifies, int rep) {
  const auto r = static_cast<size_t>(rep);
  s.records = s.snapshot;
  s.effects.Reset();
  s.last = RunPass(s.runtime.get(), state::StateOptions(), s.records, stream, s.effects);
  s.ns[r] = NsPer(s.last.seconds, stream.events.size());
  s.best_wall_ns = std::min(s.best_wall_ns, NsPer(s.last.wall_seconds, stream.events.size()));
  s.records = s.snapshot;
  CountingEffects scratch;
  const PassResult id =
      RunPass(s.runtime.get(), state::StateOptions(), s.records, identifies, scratch);
  s.identify_ns[r] = NsPer(id.seconds, identifies.events.size());
  if (s.last.duplicates + id.duplicates != 0) {
    fmt::print(stderr, "unexpected duplicates\n");
    return false;
  }
  return true;
}

void Report(const Setup& s, const Stream& stream, uint32_t customers) {
  if (s.journeys == 0) {
    fmt::print(
        "state::Apply alone (reference, no runtime): {:.0f} ns/event CPU (best of {}); identify "
        "events alone {:.0f} ns/event\n",
        s.best_ns(), kReps, s.best_identify_ns());
    return;
  }
  uint64_t armed = 0;
  uint64_t instances = 0;
  uint64_t bytes = 0;
  for (const auto& r : s.records) {
    armed += static_cast<uint64_t>(r.armed_size());
    instances += static_cast<uint64_t>(r.instances_size());
    bytes += r.ByteSizeLong();
  }
  const double events = static_cast<double>(stream.events.size());
  const auto& fx = s.effects;
  fmt::print(
      "N={}: {:.0f} ns/event CPU, Apply + OnEvent (best of {}: {:.0f} / {:.0f} / {:.0f}; best wall "
      "{:.0f})\n",
      s.journeys, s.best_ns(), kReps, s.ns[0], s.ns[1], s.ns[2], s.best_wall_ns);
  fmt::print("  identify events alone: {:.0f} ns/event CPU (best of {})\n", s.best_identify_ns(),
             kReps);
  fmt::print(
      "  {:.1f}% of events entered a journey ({} entries); per event {:.2f} trace lines, {:.3f} "
      "timers, {:.3f} outbox messages\n",
      100.0 * static_cast<double>(s.last.events_entered) / events, fx.enters,
      static_cast<double>(fx.trace) / events, static_cast<double>(fx.timers) / events,
      static_cast<double>(fx.outbox) / events);
  fmt::print(
      "  customer record after the pass (avg): {:.0f} B serialized, {:.1f} armed triggers, {:.1f} "
      "instances\n",
      static_cast<double>(bytes) / customers, static_cast<double>(armed) / customers,
      static_cast<double>(instances) / customers);
}

int Run() {
  const int64_t n_events = EnvInt("CAIRN_BENCH_TRIGGER_EVENTS", 200'000);
  const int64_t n_customers = EnvInt("CAIRN_BENCH_TRIGGER_CUSTOMERS", 20'000);
  const int64_t only = EnvInt("CAIRN_BENCH_TRIGGER_JOURNEYS", 0);
  if (n_events <= 0 || n_customers <= 0 || n_customers > 10'000'000) {
    fmt::print(stderr, "CAIRN_BENCH_TRIGGER_EVENTS and _CUSTOMERS must be > 0\n");
    return 2;
  }
  const auto customers = static_cast<uint32_t>(n_customers);
  ingest::EventParser parser;
  Stream profiles;
  Stream stream;
  if (!MakeProfiles(parser, customers, profiles) ||
      !MakeStream(parser, n_events, customers, stream)) {
    return 1;
  }
  fmt::print(
      "trigger bench: {} events over {} customers (45% Product Added, 15% Order Completed, 30% "
      "Product Viewed, 10% identify), 7 days of event time per pass. Per N: profiles, 1 warm-up "
      "pass, snapshot; then {} timed passes from the snapshot, the N interleaved; best reported\n",
      n_events, customers, kReps);

  std::vector<int> counts = {0};  // the reference first
  if (only > 0) {
    counts.push_back(static_cast<int>(std::max<int64_t>(only, kFixedJourneys.size())));
  } else {
    counts.insert(counts.end(), kJourneyCounts.begin(), kJourneyCounts.end());
  }
  std::vector<Setup> setups(counts.size());
  for (size_t k = 0; k < counts.size(); ++k) {
    if (!Prepare(counts[k], profiles, stream, customers, setups[k])) {
      return 1;
    }
  }
  // Interleaved, in a rotating order, so a noisy phase of the machine hits
  // every N alike.
  SetPass(stream, 1);
  Stream identifies;
  for (size_t i = 0; i < stream.events.size(); ++i) {
    if (stream.events[i].type != EventType::kIdentify) {
      continue;
    }
    identifies.events.push_back(stream.events[i]);
    identifies.customer.push_back(stream.customer[i]);
    identifies.offset.push_back(stream.offset[i]);
  }
  for (int rep = 0; rep < kReps; ++rep) {
    for (size_t k = 0; k < setups.size(); ++k) {
      if (!TimedPass(setups[(k + static_cast<size_t>(rep)) % setups.size()], stream, identifies,
                     rep)) {
        return 1;
      }
    }
  }
  for (const auto& s : setups) {
    Report(s, stream, customers);
  }
  if (only > 0) {  // one journey count (profiling): no RESULT line
    return 0;
  }

  const double ns10 = setups[1].best_ns();
  const double ns1000 = setups[2].best_ns();
  const double ns10000 = setups[3].best_ns();
  fmt::print("ratio ns/event 10,000 / 10 journeys = {:.2f} (1,000 / 10 = {:.2f})\n", ns10000 / ns10,
             ns1000 / ns10);
  fmt::print(
      "RESULT trigger_scaling ns_per_event_10={:.0f} ns_per_event_1000={:.0f} "
      "ns_per_event_10000={:.0f} ratio={:.2f}\n",
      ns10, ns1000, ns10000, ns10000 / ns10);
  return 0;
}

}  // namespace
}  // namespace cairn

int main() { return cairn::Run(); }
