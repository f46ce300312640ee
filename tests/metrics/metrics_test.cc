// GET /metrics of a running engine: values after a known input (incl. a
// duplicate and malformed messages), label hygiene (no customer ids), and
// the live output accepted by `promtool check metrics`. Also /readyz on lag
// and the JSON log format.
#include "metrics/metrics.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "app/logging.h"
#include "engine_api_fixture.h"

namespace cairn {
namespace {

constexpr int kPartitionCount = 4;

// "name{labels} value" lines of a text exposition -> value by series.
std::map<std::string, double> ParseExposition(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    if (space == std::string::npos) continue;
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

// promtool from the project's tools (deploy/bootstrap-deps.sh), else PATH.
std::string Promtool() {
  const char* tools = std::getenv("CAIRN_TOOLS_DIR");
  const std::string dir = tools != nullptr ? tools : std::string(CAIRN_SOURCE_DIR) + "/.tools";
  const std::string local = dir + "/prometheus/usr/bin/promtool";
  if (std::filesystem::exists(local)) return local;
  if (std::system("command -v promtool >/dev/null 2>&1") == 0) return "promtool";
  return "";
}

const char* kJourney =
    "journey: hello\nversion: 1\nwhen:\n  event: Signed Up\nentry:\n  reentry: never\n"
    "goal:\n  event: Order Completed\n  within: 14d\nsteps:\n"
    "  - id: pause\n    wait: { for: 1d }\n  - id: done\n    exit: done\n";

class MetricsTest : public testing::EngineApiFixture {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(SetUpEngine(
        {.name = "mt", .journeys = {{"hello.yaml", kJourney}}, .partitions = kPartitionCount}));
    StartEngine();
  }

  void OnEngineCreated(runtime::Engine& engine) override {
    metrics_ =
        std::make_unique<metrics::Metrics>(metrics::EngineSources(&engine, store_.get(), nullptr));
    engine.SetObserver(metrics_.get());
  }

  void ConfigureApi(api::EngineApiContext& ctx, api::ServerOptions&) override {
    ctx.lag = [e = engine_.get()] { return e->ConsumerLag(); };
    ctx.ready_max_lag = 0;
  }

  void AddRoutes(std::vector<api::Route>& routes) override { routes.push_back(metrics_->Route()); }

  std::unique_ptr<metrics::Metrics> metrics_;
};

TEST_F(MetricsTest, LiveEngineExposesCountsLagAndHistogramsThatPromtoolAccepts) {
  auto producer = kafka::Producer::Create({options_.brokers, {}});
  ASSERT_TRUE(producer.ok());
  auto send = [&](const std::string& key, const std::string& value) {
    ASSERT_TRUE((*producer)->Produce(options_.topics.events, key, value).ok());
  };
  auto track = [](const std::string& user, const std::string& event, const std::string& id) {
    return nlohmann::json{{"type", "track"},
                          {"userId", user},
                          {"event", event},
                          {"messageId", id},
                          {"timestamp", "2026-02-01T09:00:00Z"}}
        .dump();
  };
  send("ana@example.com", track("ana@example.com", "Signed Up", "m1"));
  send("bo-7", track("bo-7", "Signed Up", "m2"));
  send("bo-7", track("bo-7", "Order Completed", "m3"));
  send("bo-7", track("bo-7", "Order Completed", "m3"));  // duplicate messageId
  send("cy", nlohmann::json{{"type", "identify"}, {"userId", "cy"}, {"traits", {{"a", 1}}}}.dump());
  send("x", "{not json");                                                       // malformed
  send("y", nlohmann::json{{"type", "track"}, {"event", "Signed Up"}}.dump());  // missing_id
  ASSERT_TRUE((*producer)->Flush(10000).ok());
  ASSERT_TRUE(
      testing::WaitFor([&] { return CaughtUp((*producer)->handle()); }, std::chrono::seconds(60)));

  const std::string addr = http_->address();
  // Lag 0 on every partition once the fetches caught up (ready_max_lag 0).
  ASSERT_TRUE(testing::WaitFor([&] { return testing::HttpGet(addr, "/readyz").status == 200; },
                               std::chrono::seconds(20)))
      << testing::HttpGet(addr, "/readyz").body;

  auto res = testing::HttpCall("GET", addr, "/metrics");
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.Header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const auto m = ParseExposition(res.body);
  auto at = [&m](const std::string& series) {
    auto it = m.find(series);
    EXPECT_NE(it, m.end()) << series << " missing";
    return it == m.end() ? -1.0 : it->second;
  };
  EXPECT_EQ(at(R"(cairn_events_total{outcome="applied",type="track"})"), 3);
  EXPECT_EQ(at(R"(cairn_events_total{outcome="duplicate",type="track"})"), 1);
  EXPECT_EQ(at(R"(cairn_events_total{outcome="applied",type="identify"})"), 1);
  EXPECT_EQ(at(R"(cairn_events_total{outcome="dead_letter",type="unknown"})"), 2);
  EXPECT_EQ(at(R"(cairn_dead_letters_total{reason="malformed"})"), 1);
  EXPECT_EQ(at(R"(cairn_dead_letters_total{reason="missing_id"})"), 1);
  EXPECT_EQ(at(R"(cairn_dead_letters_total{reason="too_large"})"), 0);
  EXPECT_EQ(at("cairn_messages_total"), 7);
  EXPECT_EQ(at(R"(cairn_journey_entries_total{journey="hello"})"), 2);
  EXPECT_EQ(at(R"(cairn_journey_goals_total{journey="hello"})"), 1);
  EXPECT_EQ(at("cairn_partitions_assigned"), kPartitionCount);
  EXPECT_GE(at("cairn_timers_pending"), 1);  // ana's wait at least
  EXPECT_EQ(at("cairn_outbox_depth"), 0);
  for (int p = 0; p < kPartitionCount; ++p) {
    const std::string series =
        R"(cairn_consumer_lag_messages{partition=")" + std::to_string(p) + R"("})";
    if (m.contains(series)) EXPECT_EQ(m.at(series), 0) << series;
  }
  EXPECT_GE(at("cairn_batch_duration_seconds_count"), 1);
  EXPECT_GE(at("cairn_rocksdb_write_duration_seconds_count"), 1);
  EXPECT_GE(at(R"(cairn_batch_duration_seconds_bucket{le="+Inf"})"), 1);
  EXPECT_GE(at("cairn_rocksdb_memtable_bytes"), 1);
  // No customer id anywhere in the exposition.
  for (const char* id : {"ana@example.com", "bo-7", "\"cy\""}) {
    EXPECT_EQ(res.body.find(id), std::string::npos) << id;
  }

  const std::string promtool = Promtool();
  if (promtool.empty()) {
    GTEST_SKIP() << "promtool not found (run deploy/bootstrap-deps.sh: it unpacks it into "
                    ".tools/prometheus); the values above were checked";
  }
  const std::string file = dir_.Sub("metrics.txt");
  const std::string log = dir_.Sub("promtool.log");
  std::ofstream(file) << res.body;
  const int rc =
      std::system((promtool + " check metrics < " + file + " > " + log + " 2>&1").c_str());
  EXPECT_EQ(rc, 0) << testing::Tail(log) << "\n" << res.body;
  // promtool prints lint findings (and exits 0 for some); there must be none.
  std::ifstream in(log);
  const std::string findings((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(findings, "") << findings;
}

TEST(ReadyzTest, NotReadyWhileAPartitionLagsOrItsHighWatermarkIsUnknown) {
  std::map<int32_t, int64_t> lag;
  api::EngineApiContext ctx;
  testing::TempDir dir;
  auto store = state::StateStore::Open({.dir = dir.Sub("db")});
  ASSERT_TRUE(store.ok());
  ctx.store = store->get();
  bool assigned = false;
  ctx.ready = [&] { return assigned; };
  ctx.lag = [&] { return lag; };
  ctx.ready_max_lag = 100;
  auto http = api::HttpServer::Start("127.0.0.1:0", api::EngineRoutes(ctx));
  ASSERT_TRUE(http.ok());
  const std::string addr = (*http)->address();
  auto code = [&] { return nlohmann::json::parse(testing::HttpGet(addr, "/readyz").body); };
  EXPECT_EQ(testing::HttpGet(addr, "/readyz").status, 503);
  EXPECT_EQ(code()["error"]["code"], "not_ready");
  assigned = true;
  lag = {{0, 3}, {1, 101}};
  EXPECT_EQ(testing::HttpGet(addr, "/readyz").status, 503);
  EXPECT_EQ(code()["error"]["code"], "catching_up");
  lag = {{0, 3}, {1, -1}};
  EXPECT_EQ(testing::HttpGet(addr, "/readyz").status, 503);
  lag = {{0, 3}, {1, 100}};
  EXPECT_EQ(testing::HttpGet(addr, "/readyz").status, 200);
  // Liveness never depends on Kafka.
  assigned = false;
  EXPECT_EQ(testing::HttpGet(addr, "/healthz").status, 200);
  http->reset();
}

TEST(JsonLogTest, OneEscapedJsonObjectPerLine) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  sink->set_formatter(app::JsonLogFormatter());
  spdlog::logger logger("engine", sink);
  logger.info("partition {}: \"quoted\"\tand\nnewline \\ {}", 3, "\x01");
  logger.warn("second");
  logger.flush();
  std::istringstream lines(out.str());
  std::string line;
  std::vector<nlohmann::json> parsed;
  while (std::getline(lines, line)) parsed.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(parsed.size(), 2u) << out.str();
  EXPECT_EQ(parsed[0]["level"], "info");
  EXPECT_EQ(parsed[0]["logger"], "engine");
  EXPECT_EQ(parsed[0]["msg"], "partition 3: \"quoted\"\tand\nnewline \\ \x01");
  const std::string ts = parsed[0]["ts"];
  EXPECT_EQ(ts.size(), 24u) << ts;  // 2026-12-05T13:07:29.123Z
  EXPECT_EQ(ts.back(), 'Z');
  EXPECT_EQ(parsed[1]["level"], "warning");
}

}  // namespace
}  // namespace cairn
