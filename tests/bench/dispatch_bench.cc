// Dispatch throughput per channel against local peers (`make bench`).
//
// For each channel, side by side in the same run and with the same number of
// connections:
//   peer max   a plain libcurl client sending the same requests as fast as it
//              can: what the peer itself can take;
//   engine     the dispatcher (real connector, template rendering, consent
//              and address from RocksDB, the ledger written for every send,
//              outcome events produced) draining tasks written as the engine
//              writes them.
// RESULT dispatch_<channel> msgs_per_s=... peer_max_msgs_per_s=... ratio=... p99_ms=...
// The target is ratio >= 0.8: the engine is not the bottleneck.
#include <curl/curl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "builtin.h"
#include "dispatch/config_fields.h"
#include "dispatch/dispatcher.h"
#include "http_peer.h"
#include "kafka/embedded_broker.h"
#include "smtp_sink.h"
#include "test_support.h"

namespace cairn {
namespace {

constexpr int kConnections = 4;
constexpr int kCustomers = 1000;
using SteadyClock = std::chrono::steady_clock;

double Seconds(SteadyClock::time_point since) {
  return std::chrono::duration<double>(SteadyClock::now() - since).count();
}

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

// The same request the connector makes, `count` times over kConnections
// threads with plain libcurl; returns messages per second.
double PeerMax(const std::string& channel, const std::string& base, int count) {
  std::atomic<int> next{0};
  std::atomic<int> failed{0};
  const auto start = SteadyClock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kConnections; ++t) {
    threads.emplace_back([&] {
      CURL* c = curl_easy_init();
      for (int i = next++; i < count; i = next++) {
        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Discard);
        curl_slist* headers = nullptr;
        curl_slist* rcpt = nullptr;
        std::string body;
        size_t offset = 0;
        if (channel == "email") {
          curl_easy_setopt(c, CURLOPT_URL, base.c_str());
          curl_easy_setopt(c, CURLOPT_MAIL_FROM, "<news@shop.example>");
          rcpt = curl_slist_append(nullptr, "<c@example.com>");
          curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
          curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
          curl_easy_setopt(c, CURLOPT_READDATA, &offset);
          curl_easy_setopt(
              c, CURLOPT_READFUNCTION, +[](char* buf, size_t size, size_t n, void* ud) -> size_t {
                static const std::string kMail =
                    "From: Shop <news@shop.example>\r\nTo: c@example.com\r\n"
                    "Subject: Your cart\r\nMessage-ID: <x@cairn>\r\n\r\n"
                    "Hello, your cart is waiting.\r\n";
                auto* off = static_cast<size_t*>(ud);
                const size_t k = std::min(size * n, kMail.size() - *off);
                std::memcpy(buf, kMail.data() + *off, k);
                *off += k;
                return k;
              });
        } else {
          const std::string url = channel == "sms" ? base + "/2010-04-01/Accounts/AC1/Messages.json"
                                  : channel == "push" ? base + "/v1/projects/bench/messages:send"
                                                      : base + "/hook";
          curl_easy_setopt(c, CURLOPT_URL, url.c_str());
          body =
              channel == "sms"
                  ? "To=%2B4915100000000&From=%2B15550001111&Body=Your+cart+is+waiting"
                  : R"({"message":{"token":"t","notification":{"title":"Cart","body":"Waiting"}}})";
          curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
          headers = curl_slist_append(headers, ("Idempotency-Key: k" + std::to_string(i)).c_str());
          curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        }
        if (curl_easy_perform(c) != CURLE_OK) failed++;
        curl_slist_free_all(headers);
        curl_slist_free_all(rcpt);
      }
      curl_easy_cleanup(c);
    });
  }
  for (auto& t : threads) t.join();
  if (failed > 0) fmt::print(stderr, "peer max {}: {} requests failed\n", channel, failed.load());
  return count / Seconds(start);
}

struct EngineResult {
  double msgs_per_s = 0;
  double p99_ms = 0;
  uint64_t sent = 0;
};

EngineResult Engine(const std::string& channel, const std::string& connector_yaml,
                    const std::string& templates_dir, const std::string& brokers,
                    const std::string& dir, int count) {
  EngineResult out;
  auto store = state::StateStore::Open({.dir = dir});
  if (!store.ok()) return out;
  // Customers with an address for every channel.
  {
    auto b = (*store)->NewBatch();
    for (int i = 0; i < kCustomers; ++i) {
      v1::CustomerState c;
      c.set_id("c" + std::to_string(i));
      nlohmann::json traits = {{"email", "c" + std::to_string(i) + "@example.com"},
                               {"phone", "+49151" + std::to_string(10000000 + i)},
                               {"push_tokens", {"tok-" + std::to_string(i)}},
                               {"first_name", "Ada"}};
      c.set_traits_json(traits.dump());
      b.PutCustomer(0, c);
    }
    if (!(*store)->Write(b).ok()) return out;
  }
  ConnectorRegistry registry;
  connectors::RegisterBuiltinConnectors(registry);
  auto fields = dispatch::YamlConfigFields::FromText(connector_yaml, "bench", "connectors.x");
  if (!fields.ok()) {
    fmt::print(stderr, "{}\n", fields.status().ToString());
    return out;
  }
  dispatch::LaneOptions lane;
  lane.connector = "x";
  lane.type = (*fields)->String("type", std::nullopt).value();
  lane.concurrency = kConnections;
  lane.queue_limit = static_cast<size_t>(count);
  auto maker = registry.Find(lane.type)->Configure(**fields, {"x", brokers});
  if (!maker.ok()) {
    fmt::print(stderr, "{}\n", maker.status().ToString());
    return out;
  }
  lane.make = std::move(maker).value();
  auto templates = dispatch::TemplateSet::LoadDir(templates_dir);
  if (!templates.ok()) {
    fmt::print(stderr, "{}\n", templates.status().ToString());
    return out;
  }
  dispatch::Tracker tracker("http://127.0.0.1:8080", "bench-key-0123456789abcdef");
  dispatch::DispatcherOptions opt;
  opt.lanes = {lane};
  opt.channels = {{channel, "x"}};
  opt.events_topic = "bench.events";
  opt.producer = {brokers, {}, {}};
  opt.sync = std::getenv("BENCH_NOSYNC") == nullptr;
  opt.tracker = &tracker;
  opt.templates = std::move(templates).value();
  auto d = dispatch::Dispatcher::Create(std::move(opt), store->get(), &SystemClock::Instance());
  if (!d.ok()) {
    fmt::print(stderr, "{}\n", d.status().ToString());
    return out;
  }
  (void)(*d)->Assign(0);
  const auto start = SteadyClock::now();
  // Written in batches of 500, as the engine writes decisions.
  for (int i = 0; i < count;) {
    auto b = (*store)->NewBatch();
    for (int k = 0; k < 500 && i < count; ++k, ++i) {
      v1::Task t;
      t.set_task_id(fmt::format("{}-{:08}", channel, i));
      t.set_customer_id("c" + std::to_string(i % kCustomers));
      t.set_journey("bench");
      t.set_version(1);
      t.set_step("send");
      t.set_channel(channel);
      if (channel != "webhook") t.set_template_("bench-" + channel);
      t.set_params_json(R"({"cart_url":"https://shop.example/cart"})");
      t.set_entry_event_json(R"({"event":"Product Added","properties":{"sku":"sku-1"}})");
      (*d)->Stage(b, 0, t);
    }
    (*d)->Seal();
    if (!(*store)->Write(b).ok()) return out;
    (*d)->Submit();
  }
  const auto deadline = SteadyClock::now() + std::chrono::minutes(3);
  dispatch::DispatchMetrics m;
  while (SteadyClock::now() < deadline) {
    m = (*d)->metrics();
    if (m.ended >= static_cast<uint64_t>(count)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  out.msgs_per_s = static_cast<double>(m.ended) / Seconds(start);
  out.p99_ms = m.lanes[0].p99_send_ms;
  out.sent = m.lanes[0].sent;
  (*d)->Stop();
  return out;
}

void WriteTemplates(const std::string& dir) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/bench-email.yaml")
      << "channel: email\nsubject: \"{{traits.first_name}}, your cart is waiting\"\n"
         "text: |\n  Hello {{traits.first_name}}, your {{event.properties.sku}} is waiting:\n"
         "  {{params.cart_url}}\n"
         "html: |\n  <p>Hello {{traits.first_name}},</p><p><a href=\"{{#track}}{{params.cart_url}}"
         "{{/track}}\">your cart</a></p>\n";
  std::ofstream(dir + "/bench-sms.yaml")
      << "channel: sms\nbody: \"{{traits.first_name}}, your cart is waiting: "
         "{{params.cart_url}}\"\n";
  std::ofstream(dir + "/bench-push.yaml")
      << "channel: push\ntitle: \"Your cart\"\nbody: \"{{traits.first_name}}, it is still "
         "waiting\"\n";
}

}  // namespace
}  // namespace cairn

int main(int argc, char** argv) {
  using namespace cairn;
  const int count = argc > 1 ? std::atoi(argv[1]) : 4000;
  spdlog::set_level(spdlog::level::warn);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  testing::TempDir dir;
  WriteTemplates(dir.Sub("templates"));
  std::ofstream(dir.Sub("token")) << "bench-token\n";
  auto broker = kafka::EmbeddedBroker::Start({"127.0.0.1:0", 4, {"bench.events"}});
  if (!broker.ok()) {
    fmt::print(stderr, "{}\n", broker.status().ToString());
    return 1;
  }
  const std::string brokers = (*broker)->address();
  int failures = 0;
  auto report = [&](const std::string& channel, double peer, const EngineResult& e) {
    const double ratio = peer > 0 ? e.msgs_per_s / peer : 0;
    fmt::print(
        "RESULT dispatch_{} msgs_per_s={:.0f} peer_max_msgs_per_s={:.0f} ratio={:.2f} "
        "p99_ms={:.2f} sent={}\n",
        channel, e.msgs_per_s, peer, ratio, e.p99_ms, e.sent);
    if (e.sent != static_cast<uint64_t>(count)) ++failures;
  };

  // email: postfix smtp-sink, not dumping (capture off), 4 connections.
  if (testing::SmtpSink::Available()) {
    testing::SmtpSink::Options so;
    so.capture = false;
    auto sink = testing::SmtpSink::Start(so);
    const double peer = PeerMax("email", sink->url(), count);
    auto e = Engine(
        "email",
        "type: smtp\nurl: " + sink->url() + "\nfrom: \"Shop <news@shop.example>\"\ntls: none\n",
        dir.Sub("templates"), brokers, dir.Sub("db-email"), count);
    report("email", peer, e);
  } else {
    fmt::print(stderr, "{}\n", testing::SmtpSink::NotAvailableMessage());
    ++failures;
  }
  for (const std::string channel : {"sms", "push", "webhook"}) {
    testing::HttpPeer::Options po;
    po.threads = 2;
    po.record_requests = false;
    testing::HttpPeer peer_server(po);
    peer_server.Start();
    peer_server.SetDefault(testing::HttpPeer::Response::Json(
        channel == "sms" ? 201 : 200,
        channel == "sms" ? R"({"sid":"SM1"})" : R"({"name":"projects/bench/messages/1"})"));
    const double peer = PeerMax(channel, peer_server.url(), count);
    const std::string yaml =
        channel == "sms"
            ? "type: sms_http\nbase_url: " + peer_server.url() +
                  "\naccount: AC1\ntoken_file: " + dir.Sub("token") + "\nfrom: \"+15550001111\"\n"
        : channel == "push"
            ? "type: push_fcm\nbase_url: " + peer_server.url() +
                  "\nproject: bench\ntoken_file: " + dir.Sub("token") + "\nhttp2: off\n"
            : "type: webhook\nurl: " + peer_server.url("/hook") +
                  "\nsecret_file: " + dir.Sub("token") + "\n";
    auto e = Engine(channel, yaml, dir.Sub("templates"), brokers, dir.Sub("db-" + channel), count);
    report(channel, peer, e);
  }
  return failures == 0 ? 0 : 1;
}
