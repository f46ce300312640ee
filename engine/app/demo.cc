// `cairn demo`: the whole house on one machine, in seconds.
//   1. the embedded broker on a free loopback port
//   2. the engine (same code as `cairn run`) on a fresh data dir
//   3. the sample stream published while the engine consumes it
//   4. wait until every partition is processed, then report and check
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/dashboard_routes.h"
#include "api/engine_api.h"
#include "api/events_routes.h"
#include "api/http_server.h"
#include "api/listeners.h"
#include "api/tracking_routes.h"
#include "app/analytics_report.h"
#include "app/commands.h"
#include "app/delivery.h"
#include "app/demo_peers.h"
#include "app/sample_stream.h"
#include "cairn/time.h"
#include "flow/library.h"
#include "kafka/consumer.h"
#include "kafka/embedded_broker.h"
#include "kafka/event_publisher.h"
#include "kafka/producer.h"
#include "metrics/metrics.h"
#include "profile/profile_store.h"
#include "profile/profiler.h"

namespace cairn::app {
namespace {

constexpr int kPartitions = 16;
constexpr auto kProcessDeadline = std::chrono::minutes(5);

// Reads `expected` records of `topic` back (or until 20 s pass), handing
// each to `fn`.
void ReadTopic(const std::string& brokers, const std::string& topic, uint64_t expected,
               const std::function<void(const rd_kafka_message_t&)>& fn) {
  struct NoRebalance : kafka::RebalanceListener {
    void OnRevoke(const std::vector<kafka::TopicPartition>&) override {}
    void OnAssign(std::vector<kafka::TopicPartition>&) override {}
  } listener;
  auto consumer =
      kafka::Consumer::Create({brokers, "cairn-demo-reader-" + topic, {topic}, "", {}}, &listener);
  if (!consumer.ok()) return;
  uint64_t seen = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (seen < expected && std::chrono::steady_clock::now() < deadline) {
    auto msg = (*consumer)->Poll(200);
    if (!msg || msg->err) continue;
    fn(*msg);
    seen++;
  }
  (*consumer)->Close();
}

// Counts the dead letters by reason, reading the DLQ topic back.
std::map<std::string, uint64_t> ReadDeadLetters(const std::string& brokers,
                                                const std::string& topic, uint64_t expected) {
  std::map<std::string, uint64_t> by_reason;
  ReadTopic(brokers, topic, expected, [&](const rd_kafka_message_t& m) {
    const rd_kafka_message_t* msg = &m;
    rd_kafka_headers_t* hdrs = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    std::string reason = "unknown";
    if (rd_kafka_message_headers(msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(hdrs, "cairn.dlq.reason", &value, &size) ==
            RD_KAFKA_RESP_ERR_NO_ERROR) {
      reason.assign(static_cast<const char*>(value), size);
    }
    by_reason[reason]++;
  });
  return by_reason;
}

// The high watermark of every partition of `topic`, asked with `rk`.
std::map<int32_t, int64_t> HighWatermarks(rd_kafka_t* rk, const std::string& topic,
                                          int partitions) {
  std::map<int32_t, int64_t> out;
  for (int32_t p = 0; p < partitions; ++p) {
    int64_t low = 0;
    int64_t high = 0;
    if (rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &low, &high, 5000) ==
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      out[p] = high;
    }
  }
  return out;
}

std::string Thousands(uint64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

// What the journeys did, from the engine's decision counts, and a check that
// every task decided is on the tasks topic (read back from the broker).
bool ReportJourneys(runtime::Engine& e, const runtime::EngineOptions& options,
                    const std::string& http) {
  const auto counts = e.journey_counts();
  // journey -> step -> action -> n
  std::map<std::string, std::map<std::string, std::map<std::string, uint64_t>>> by;
  uint64_t decided = 0;
  for (const auto& [key, n] : counts) {
    const auto a = key.find('/');
    const auto b = key.rfind('/');
    by[key.substr(0, a)][key.substr(a + 1, b - a - 1)][key.substr(b + 1)] += n;
    if (key.ends_with("/send")) decided += n;
  }
  std::map<std::string, std::map<std::string, uint64_t>> on_topic;  // journey -> step -> tasks
  std::map<std::string, uint64_t> ids;
  uint64_t read = 0;
  ReadTopic(options.brokers, options.topics.tasks, decided, [&](const rd_kafka_message_t& m) {
    auto j = nlohmann::json::parse(static_cast<const char*>(m.payload),
                                   static_cast<const char*>(m.payload) + m.len, nullptr, false);
    if (!j.is_object()) return;
    on_topic[j.value("journey", "")][j.value("step", "")]++;
    ids[j.value("task_id", "")]++;
    ++read;
  });
  fmt::print("\n== Journeys (event time; timers fired as the stream's clock moved) ==\n");
  std::string example_customer;
  for (const auto& [journey, steps] : by) {
    if (journey.empty()) continue;
    uint64_t entered = 0, skipped = 0, goals = 0;
    std::map<std::string, uint64_t> exits;
    for (const auto& [step, actions] : steps) {
      for (const auto& [action, n] : actions) {
        if (action == "enter") entered += n;
        if (action == "skip" && step == "-") skipped += n;
        if (action == "goal") goals += n;
      }
    }
    fmt::print("  {}\n    entered {}, not entered {} (rules, audience, consent), goal reached {}\n",
               journey, Thousands(entered), Thousands(skipped), Thousands(goals));
    for (const auto& [step, actions] : steps) {
      if (step == "-") continue;
      std::string line;
      for (const auto& [action, n] : actions) {
        line += fmt::format("{}{} {}", line.empty() ? "" : ", ", Thousands(n), action);
      }
      auto t = on_topic[journey].find(step);
      if (t != on_topic[journey].end())
        line += fmt::format(" ({} on {})", t->second, options.topics.tasks);
      fmt::print("    {:<24} {}\n", step, line);
    }
  }
  uint64_t dup_ids = 0;
  for (const auto& [id, n] : ids) dup_ids += n - 1;
  const bool ok = read == decided && dup_ids == 0;
  fmt::print("  tasks          {}: {} decided, {} on {} with {} duplicate ids\n",
             ok ? "OK" : "MISMATCH", Thousands(decided), Thousands(read), options.topics.tasks,
             dup_ids);
  fmt::print("  why (or why not): curl http://{}/v1/customers/<id>/journeys\n", http);
  return ok;
}

// Per channel: what the dispatcher did and what the local peers received.
// The stream has settled when this runs, but a late outcome event can still
// start a send: the figures are a snapshot taken once the dispatcher and the
// peers agree (or after 5 s, when they are reported as they are).
bool ReportDelivery(const std::function<dispatch::DispatchMetrics()>& metrics,
                    const SmtpSinkProcess* smtp, const ProviderSink& providers, double seconds,
                    const std::string& http) {
  auto peer_of = [&](const auto& l) -> uint64_t {
    return l.type == "smtp"       ? (smtp ? smtp->Count() : 0)
           : l.type == "sms_http" ? providers.sms()
                                  : providers.push();
  };
  auto agree = [&](const dispatch::DispatchMetrics& m) {
    if (m.ended < m.submitted) return false;
    for (const auto& l : m.lanes) {
      if (peer_of(l) != l.sent) return false;
    }
    return true;
  };
  dispatch::DispatchMetrics dm = metrics();
  for (int i = 0; i < 50 && !agree(dm); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    dm = metrics();
  }
  fmt::print("\n== Delivery (wall clock, through real protocols to local peers) ==\n");
  fmt::print("  {:<8} {:>8} {:>8} {:>9} {:>8} {:>8} {:>10} {:>9} {:>10}\n", "channel", "sent",
             "failed", "bounced", "no-send", "retries", "delivered", "peer got", "p99 send");
  bool ok = true;
  uint64_t sent = 0;
  for (const auto& l : dm.lanes) {
    const std::string channel = l.type == "smtp" ? "email" : l.type == "sms_http" ? "sms" : "push";
    const uint64_t peer = peer_of(l);
    const std::string delivered =
        l.type == "sms_http" ? fmt::format("{}", providers.callbacks_ok()) : "-";
    fmt::print("  {:<8} {:>8} {:>8} {:>9} {:>8} {:>8} {:>10} {:>9} {:>8.1f}ms\n", channel, l.sent,
               l.failed, l.bounced, l.suppressed, l.retries, delivered, peer, l.p99_send_ms);
    ok = ok && peer == l.sent && l.failed == 0 && l.unknown == 0;
    sent += l.sent;
  }
  fmt::print(
      "  {} messages sent while the stream was processed (all done {:.2f} s after it); {} "
      "outcome events back on cairn.events\n",
      Thousands(sent), seconds, Thousands(dm.outcomes_published + providers.callbacks_ok()));
  fmt::print(
      "  no-send = suppressed at send time (consent withdrawn, no address); every attempt:\n"
      "  curl http://{}/v1/tasks/<task_id>\n",
      http);
  fmt::print("  check          {}\n",
             ok ? "OK: every task ended, each peer got exactly what was sent"
                : "FAILED: a peer's count differs from what was sent, or a send failed");
  return ok;
}

std::string Counts(const std::vector<std::string>& order,
                   const google::protobuf::Map<std::string, int64_t>& counts) {
  std::string out;
  for (const auto& name : order) {
    auto it = counts.find(name);
    out += fmt::format("{}{} {}", out.empty() ? "" : " · ", name,
                       Thousands(it == counts.end() ? 0 : static_cast<uint64_t>(it->second)));
  }
  return out;
}

// The profile stage's live counts (kept in the checkpoints with the customers
// that change them) against a scan of every stored profile.
bool ReportProfiles(runtime::Engine& e, state::StateStore& store,
                    const runtime::EngineOptions& options) {
  const auto catalog = e.journeys().catalog();
  if (catalog == nullptr || catalog->profile().empty()) return true;
  const auto& model = catalog->profile();
  const v1::ProfileStats live = profile::SummedStats(store, options.topics.events);
  v1::ProfileStats scanned;
  uint64_t profiles = 0, pointers = 0;
  (void)store.ScanCustomers([&](int32_t, const v1::CustomerState& c) {
    if (!c.identity().forwarded_to().empty()) {  // merged away, or an identifier node
      pointers += !c.identity().node();
      return true;
    }
    ++profiles;
    const auto& p = c.profile();
    if (!p.stage().empty()) (*scanned.mutable_stages())[p.stage()]++;
    if (!p.rfm_group().empty()) (*scanned.mutable_rfm_groups())[p.rfm_group()]++;
    for (std::string_view seg : profile::SegmentNames(p))
      (*scanned.mutable_segments())[std::string(seg)]++;
    return true;
  });
  auto same = [](const auto& a, const auto& b) {
    if (a.size() != b.size()) return false;
    for (const auto& [k, v] : a) {
      auto it = b.find(k);
      if (it == b.end() || it->second != v) return false;
    }
    return true;
  };
  const bool ok = same(live.stages(), scanned.stages()) &&
                  same(live.segments(), scanned.segments()) &&
                  same(live.rfm_groups(), scanned.rfm_groups());
  fmt::print("\n== Profiles (journeys/profile: {} computed traits, RFM, lifecycle, segments) ==\n",
             model.traits.size());
  if (model.lifecycle.declared) {
    fmt::print("  lifecycle      {}\n", Counts(model.lifecycle.stages, live.stages()));
  }
  if (model.rfm.declared) {
    std::vector<std::string> groups;
    for (const auto& g : model.rfm.groups) groups.push_back(g.name);
    fmt::print("  RFM groups     {}\n", Counts(groups, live.rfm_groups()));
  }
  std::vector<std::string> segments;
  for (const auto& s : model.segments) segments.push_back(s.name);
  if (!segments.empty()) fmt::print("  segments       {}\n", Counts(segments, live.segments()));
  fmt::print("  check          {}\n",
             ok ? fmt::format("OK: live stage, RFM group and segment sizes equal a scan of all {} "
                              "profiles ({} merged-away ids point at them)",
                              Thousands(profiles), Thousands(pointers))
                : "FAILED: live sizes differ from a scan of the profiles");
  return ok;
}

}  // namespace

int DemoCommand(const DemoOptions& d) {
  spdlog::set_level(spdlog::level::warn);
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::remove_all(d.data_dir, ec);

  runtime::EngineOptions options;
  auto broker = kafka::EmbeddedBroker::Start(
      {"127.0.0.1:0",
       kPartitions,
       {options.topics.events, options.topics.dlq, options.topics.tasks}});
  if (!broker.ok()) {
    fmt::print(stderr, "demo: {}\n", broker.status().ToString());
    return 1;
  }
  options.brokers = (*broker)->address();
  options.group_id = "cairn-demo";
  // Months of events go through in seconds: journeys follow event time.
  options.event_time_clock = true;
  options.analytics.cost_per_message = {{"email", 0.001}, {"sms", 0.05}, {"push", 0.0005}};
  options.analytics.intervals = {{"Product Added", "Order Completed"}};
  auto store = state::StateStore::Open({.dir = d.data_dir});
  if (!store.ok()) {
    fmt::print(stderr, "demo: {}\n", store.status().ToString());
    return 1;
  }
  // Delivery to local peers: email to smtp-sink, SMS and push to a provider
  // sink that reports SMS deliveries back like Twilio's status callbacks.
  std::string http_listen = d.public_http;
  if (http_listen.ends_with(":0")) {
    http_listen = "127.0.0.1:" + std::to_string(FreeLoopbackPort());
  }
  std::unique_ptr<SmtpSinkProcess> smtp;
  if (!d.smtp_sink.empty()) {
    auto s = SmtpSinkProcess::Start(d.smtp_sink, d.data_dir + "/smtp-sink");
    if (s.ok()) {
      smtp = std::move(s).value();
    } else {
      fmt::print(stderr, "demo: no email delivery: {}\n", s.status().ToString());
    }
  }
  auto providers = ProviderSink::Start();
  if (!providers.ok()) {
    fmt::print(stderr, "demo: {}\n", providers.status().ToString());
    return 1;
  }
  Config dc;
  dc.engine = options;
  dc.http.public_listen = http_listen;
  dc.http.admin_listen = d.http;
  dc.journeys_dir = d.journeys;
  dc.tracking_key_file = d.data_dir + "/tracking.key";
  std::ofstream(dc.tracking_key_file) << "demo-tracking-key-" << d.seed << "-0123456789abcdef\n";
  const std::string token_file = d.data_dir + "/provider.token";
  std::ofstream(token_file) << "demo-token\n";
  const std::string provider = "http://" + (*providers)->address();
  std::vector<std::pair<std::string, std::string>> sections = {
      {"texts", "type: sms_http\nbase_url: " + provider + "\naccount: ACdemo\ntoken_file: " +
                    token_file + "\nfrom: \"+15550100000\"\nconcurrency: 4\n"},
      {"push", "type: push_fcm\nbase_url: " + provider + "\nproject: demo\ntoken_file: " +
                   token_file + "\nhttp2: off\nconcurrency: 4\n"}};
  dc.channels = {{"sms", "texts"}, {"push", "push"}};
  if (smtp) {
    sections.push_back({"mail", "type: smtp\nurl: smtp://" + smtp->address() +
                                    "\nfrom: \"Shop <news@shop.example>\"\ntls: none\n"
                                    "concurrency: 4\n"});
    dc.channels["email"] = "mail";
  }
  for (const auto& [name, text] : sections) {
    auto f = dispatch::YamlConfigFields::FromText(text, "demo", "connectors." + name);
    if (!f.ok()) {
      fmt::print(stderr, "demo: {}\n", f.status().ToString());
      return 1;
    }
    dc.connectors.emplace_back(name, std::move(f).value());
  }
  auto delivery =
      BuildDelivery(dc, options.brokers, http_listen, store->get(), &SystemClock::Instance());
  if (!delivery.ok()) {
    fmt::print(stderr, "demo: {}\n", delivery.status().ToString());
    return 1;
  }
  dispatch::Dispatcher* dispatcher = delivery->dispatcher.get();
  std::unique_ptr<metrics::Metrics> prom;  // GET /metrics; outlives the engine (its observer)
  auto engine =
      runtime::Engine::Create(options, store->get(), &SystemClock::Instance(), dispatcher);
  if (!engine.ok()) {
    fmt::print(stderr, "demo: {}\n", engine.status().ToString());
    return 1;
  }
  runtime::Engine* e = engine->get();
  prom = std::make_unique<metrics::Metrics>(metrics::EngineSources(e, store->get(), dispatcher));
  e->SetObserver(prom.get());
  std::unique_ptr<flow::Library> library;
  if (!d.journeys.empty()) {
    library = std::make_unique<flow::Library>(d.journeys, store->get());
    auto loaded = library->Reload();
    for (const auto& diag : loaded.refused) fmt::print(stderr, "{}\n", diag.ToString());
    if (!loaded.refused.empty() || !loaded.catalog || loaded.catalog->current().empty()) {
      fmt::print(stderr, "demo: the journeys in {} do not load\n", d.journeys);
      return 1;
    }
    e->journeys().SetCatalog(loaded.catalog);
  }
  api::EngineApiContext ctx{store->get(), options.topics.events, [e] { return e->ready(); },
                            [e] { return e->metrics(); }};
  ctx.catalog = [e] { return e->journeys().catalog(); };
  ctx.analytics_intervals = options.analytics.intervals;
  ctx.now = [e] { return e->latest_event_ms(); };
  ctx.dispatch = [dispatcher] { return dispatcher->metrics(); };
  ctx.ledger = [dispatcher](const std::string& id) { return dispatcher->Ledger(id); };
  auto routes = api::EngineRoutes(ctx);
  routes.push_back(prom->Route());
  // The journeys run on event time: delivery reports are stamped with the
  // stream's time, so they do not move a partition's clock to today.
  struct StreamClock final : Clock {
    const runtime::Engine* engine;
    explicit StreamClock(const runtime::Engine* e) : engine(e) {}
    TimestampMs NowMs() const override { return engine->latest_event_ms(); }
  };
  const StreamClock stream_clock(e);  // declared before `http`: outlives it
  auto tracking =
      api::TrackingRoutes(delivery->tracker.get(), delivery->sink.get(), &stream_clock, {"texts"});
  routes.insert(routes.end(), tracking.begin(), tracking.end());
  // POST /v1/events, /v1/batch: events for the demo's stream from curl.
  auto publisher = kafka::EventPublisher::Create(options.brokers, options.topics.events);
  auto events = api::EventsRoutes(publisher.ok() ? publisher->get() : nullptr,
                                  &SystemClock::Instance(), options.parse);
  routes.insert(routes.end(), events.begin(), events.end());
  auto dashboard = api::DashboardRoutes();  // static files, no token needed
  routes.insert(routes.end(), dashboard.begin(), dashboard.end());
  auto http = api::StartListeners(dc.http, std::move(routes), d.data_dir);
  if (!http.ok()) {
    fmt::print(stderr, "demo: {}\n", http.status().ToString());
    return 1;
  }
  const std::string api_address = http->admin_server->address();

  fmt::print(
      "Cairn demo: embedded Kafka on {}, RocksDB in {}, admin API on http://{} (loopback, no "
      "token), tracking links on http://{}\n",
      options.brokers, d.data_dir, api_address, http->public_server->address());
  fmt::print("Dashboard: http://{}/dashboard/ ({})\n", api_address,
             d.serve ? "kept up after the report until Ctrl-C"
                     : "up while the demo runs; `make demo SERVE=1` keeps it up");
  SampleOptions so;
  so.customers = d.customers;
  so.days = d.days;
  so.seed = d.seed;
  SampleSummary summary;
  auto records = GenerateSample(so, &summary);
  fmt::print("Publishing {} events from {} synthetic shoppers over {} simulated days...\n",
             Thousands(records.size()), Thousands(static_cast<uint64_t>(d.customers)), d.days);

  std::atomic<bool> stop{false};
  Status run_status;
  std::thread ingest([&] { run_status = e->Run(stop); });

  auto producer = kafka::Producer::Create({options.brokers, {}});
  if (!producer.ok()) {
    stop = true;
    ingest.join();
    fmt::print(stderr, "demo: {}\n", producer.status().ToString());
    return 1;
  }
  const auto start = std::chrono::steady_clock::now();
  for (const auto& r : records) {
    if (auto s = (*producer)->Produce(options.topics.events, r.key, r.value, r.headers); !s.ok()) {
      fmt::print(stderr, "demo: {}\n", s.ToString());
      stop = true;
      ingest.join();
      return 1;
    }
  }
  if (auto s = (*producer)->Flush(60000); !s.ok()) {
    fmt::print(stderr, "demo: {}\n", s.ToString());
    stop = true;
    ingest.join();
    return 1;
  }

  // Wait until the engine's checkpoints reach every partition's end.
  auto ends = HighWatermarks((*producer)->handle(), options.topics.events, kPartitions);
  bool done = false;
  while (!done && run_status.ok() && std::chrono::steady_clock::now() - start < kProcessDeadline) {
    auto at = e->committed_offsets();
    done = true;
    for (const auto& [p, end] : ends) {
      if (end > 0 && (!at.contains(p) || at[p] < end)) done = false;
    }
    if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto m = e->metrics();
  if (!done) {
    stop = true;
    ingest.join();
    fmt::print(stderr, "demo: engine did not finish in time ({})\n", run_status.ToString());
    return 1;
  }

  // Let the outbox hand every task to the broker.
  const auto sends_decided = [&] {
    uint64_t n = 0;
    for (const auto& [k, v] : e->journey_counts()) {
      if (k.ends_with("/send") || k.ends_with("/emit")) n += v;
    }
    return n;
  };
  while (run_status.ok() && std::chrono::steady_clock::now() - start < kProcessDeadline) {
    m = e->metrics();
    if (m.tasks_published >= sends_decided() && m.outbox_unacked == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Let the dispatcher deliver every task; the outcome events (Message Sent,
  // and Message Delivered from the SMS status callbacks) come back through
  // cairn.events and are ingested like any other event.
  // Outcome events can move a partition's event-time clock and so fire
  // timers that send more: wait until two snapshots half a second apart
  // agree, every task handed over has ended, and every outcome event
  // (Message Sent/Failed from the dispatcher, Message Delivered from the SMS
  // status callbacks) has been ingested.
  const auto delivery_start = std::chrono::steady_clock::now();
  auto dm = dispatcher->metrics();
  uint64_t outcome_events = 0;
  auto snapshot = [&] {
    dm = dispatcher->metrics();
    m = e->metrics();
    const uint64_t emitted_now = m.events_emitted;
    outcome_events = dm.outcomes_published + (*providers)->callbacks_ok();
    const uint64_t want_events =
        summary.records - summary.malformed - summary.retries + emitted_now + outcome_events;
    const bool settled = dm.ended >= dm.submitted && dm.outcomes_unacked == 0 &&
                         m.events >= want_events && m.outbox_unacked == 0;
    return std::make_tuple(settled, dm.submitted, dm.ended, outcome_events, m.events);
  };
  auto last = snapshot();
  while (run_status.ok() && std::chrono::steady_clock::now() - start < kProcessDeadline) {
    (*providers)->Drain(5000);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto now = snapshot();
    if (std::get<0>(now) && now == last) break;
    last = now;
  }
  const double delivery_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - delivery_start).count();
  auto dead = ReadDeadLetters(options.brokers, options.topics.dlq, m.dead_letters);
  // The best customer, from the state as stored.
  std::string top_id;
  double top_revenue = 0;
  uint64_t top_orders = 0;
  TimestampMs top_last = 0;
  (void)(*store)->ScanCustomers([&](int32_t, const v1::CustomerState& c) {
    for (const auto& s : c.events()) {
      if (s.name() != "Order Completed") continue;
      auto it = s.sums().find("total");
      if (it != s.sums().end() && it->second > top_revenue) {
        top_revenue = it->second;
        top_id = c.id();
        top_orders = s.count();
        top_last = s.last_at_ms();
      }
    }
    return true;
  });

  // Events the journeys (emit steps) and the profile (stage and segment
  // changes) emitted come back through cairn.events too.
  uint64_t emitted = 0;
  for (const auto& [k, v] : e->journey_counts()) {
    if (k.ends_with("/emit")) emitted += v;
  }
  const uint64_t profile_events = m.events_emitted - std::min(m.events_emitted, emitted);
  const uint64_t expected_events =
      summary.records - summary.malformed - summary.retries + m.events_emitted + outcome_events;
  const bool ok = m.events == expected_events && m.duplicates == summary.retries &&
                  m.dead_letters == summary.malformed;
  fmt::print("\n== What happened ==\n");
  fmt::print("  published      {:>10} messages ({} malformed, {} producer retries)\n",
             Thousands(summary.records), summary.malformed, summary.retries);
  if (emitted > 0) {
    fmt::print("  emitted        {:>10} events by journeys (emit steps), ingested like any other\n",
               Thousands(emitted));
  }
  if (profile_events > 0) {
    fmt::print(
        "  profile        {:>10} events by the profile (Lifecycle Stage Changed, Segment "
        "Entered/Exited)\n",
        Thousands(profile_events));
  }
  fmt::print(
      "  ingested       {:>10} events into {} customer profiles (signed-up shoppers and "
      "anonymous visitors)\n",
      Thousands(m.events), Thousands(m.customers_created - m.merged_away));
  fmt::print(
      "  identity       {:>10} anonymous visitors merged into the customer they signed up as "
      "({} identity records, {} events re-keyed to the survivor)\n",
      Thousands(m.merged_away), Thousands(m.identity_records), Thousands(m.forwarded));
  fmt::print("  duplicates     {:>10} dropped by messageId\n", Thousands(m.duplicates));
  std::string reasons;
  for (const auto& [reason, n] : dead)
    reasons += fmt::format("{}{} {}", reasons.empty() ? "" : ", ", n, reason);
  fmt::print("  dead-lettered  {:>10} to {} ({})\n", Thousands(m.dead_letters), options.topics.dlq,
             reasons);
  fmt::print(
      "  throughput     {:>10.0f} events/s end to end ({:.2f} s, {} batches, p99 batch "
      "{:.1f} ms)\n",
      static_cast<double>(m.messages) / seconds, seconds, m.batches, m.p99_batch_ms);
  fmt::print("  orders         {:>10} worth {:.2f} USD in the stream\n", Thousands(summary.orders),
             summary.revenue);
  if (!top_id.empty()) {
    fmt::print("  top customer   {:>10}: {} orders, {:.2f} USD, last order {}\n", top_id,
               top_orders, top_revenue, FormatTimestamp(top_last));
    fmt::print("  look it up:    curl http://{}/v1/customers/{}\n", api_address, top_id);
  }
  fmt::print("  check          {}\n",
             ok ? "OK: every event counted exactly once, every malformed one dead-lettered"
                : fmt::format("FAILED: expected {} events, {} duplicates, {} dead letters",
                              expected_events, summary.retries, summary.malformed));

  bool journeys_ok = true;
  if (library) journeys_ok = ReportJourneys(*e, options, api_address);
  if (library && journeys_ok) journeys_ok = ReportProfiles(*e, **store, options);
  const bool delivery_ok = ReportDelivery([&] { return dispatcher->metrics(); }, smtp.get(),
                                          **providers, delivery_seconds, api_address);
  if (library) journeys_ok = ReportAnalytics(**store, *e, api_address) && journeys_ok;

  if (d.serve && ok && journeys_ok && delivery_ok) {
    fmt::print("\nDashboard: http://{}/dashboard/\nServing on http://{} until Ctrl-C.\n",
               api_address, api_address);
    std::fflush(stdout);
    while (!StopFlag().load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  stop = true;
  ingest.join();
  if (!run_status.ok()) {
    fmt::print(stderr, "demo: engine: {}\n", run_status.ToString());
    return 1;
  }
  dispatcher->Stop();
  return ok && journeys_ok && delivery_ok ? 0 : 1;
}

}  // namespace cairn::app
