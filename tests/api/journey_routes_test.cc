// The journeys endpoints against a real RocksDB, a real Library watching a
// temp journeys directory, and the real HTTP server on loopback.
#include "api/journey_routes.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>

#include "api/http_server.h"
#include "flow/library.h"
#include "flow/overrides.h"
#include "test_support.h"

namespace cairn::api {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

std::string ExampleJourney() {
  return ReadText(std::string(CAIRN_SOURCE_DIR) + "/journeys/welcome-series.yaml");
}

// The example with another version number.
std::string WithVersion(std::string text, int version) {
  const auto at = text.find("\nversion: ");
  EXPECT_NE(at, std::string::npos);
  const auto end = text.find('\n', at + 1);
  return text.substr(0, at) + "\nversion: " + std::to_string(version) + text.substr(end);
}

class JourneyRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_.Sub("journeys"));
    WriteText(dir_.Sub("journeys/welcome-series.yaml"), ExampleJourney());
    OpenEngine();
  }
  void TearDown() override { CloseEngine(); }

  void OpenEngine(const std::string& journeys_dir = "") {
    auto store = state::StateStore::Open({dir_.Sub("db")});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    library_ = std::make_unique<flow::Library>(dir_.Sub("journeys"), store_.get());
    auto first = library_->Reload();
    ASSERT_TRUE(first.refused.empty()) << first.refused[0].ToString();
    SetCatalog(first.catalog);
    library_->Watch(30, [this](std::shared_ptr<const flow::Catalog> c) { SetCatalog(c); });
    JourneyRoutesContext ctx;
    ctx.store = store_.get();
    ctx.catalog = [this] { return Catalog(); };
    ctx.journeys_dir = journeys_dir.empty() ? dir_.Sub("journeys") : journeys_dir;
    ctx.reload_ms = 30;
    auto server = HttpServer::Start("127.0.0.1:0", JourneyRoutes(ctx));
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
  }
  void CloseEngine() {
    server_.reset();
    library_.reset();
    store_.reset();
  }

  void SetCatalog(std::shared_ptr<const flow::Catalog> c) {
    std::lock_guard lock(mu_);
    catalog_ = std::move(c);
  }
  std::shared_ptr<const flow::Catalog> Catalog() {
    std::lock_guard lock(mu_);
    return catalog_;
  }

  testing::HttpCallResult Call(const std::string& method, const std::string& target,
                               const std::string& body = "") {
    return testing::HttpCall(method, server_->address(), target, body,
                             {{"Content-Type", "application/yaml"}});
  }
  json CallJson(const std::string& method, const std::string& target, int want_status,
                const std::string& body = "") {
    auto r = Call(method, target, body);
    EXPECT_EQ(r.status, want_status) << method << " " << target << ": " << r.body;
    auto j = json::parse(r.body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.body;
    return j;
  }

  testing::TempDir dir_;
  std::unique_ptr<state::StateStore> store_;
  std::unique_ptr<flow::Library> library_;
  std::unique_ptr<HttpServer> server_;
  std::mutex mu_;
  std::shared_ptr<const flow::Catalog> catalog_;
};

TEST_F(JourneyRoutesTest, ListsEveryJourneyWithStatusTriggerAndFile) {
  json list = CallJson("GET", "/v1/journeys", 200)["journeys"];
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["id"], "welcome-series");
  EXPECT_EQ(list[0]["status"], "live");
  EXPECT_EQ(list[0]["version"], Catalog()->Current("welcome-series")->version);
  EXPECT_EQ(list[0]["trigger"]["kind"], "event");
  EXPECT_FALSE(list[0]["trigger"]["event"].get<std::string>().empty());
  EXPECT_EQ(list[0]["step_count"], Catalog()->Current("welcome-series")->steps.size());
  EXPECT_EQ(list[0]["file"], dir_.Sub("journeys/welcome-series.yaml"));
}

TEST_F(JourneyRoutesTest, ModelHasStepsAndEdgesThatPointAtSteps) {
  json m = CallJson("GET", "/v1/journeys/welcome-series", 200);
  const auto* j = Catalog()->Current("welcome-series");
  ASSERT_EQ(m["steps"].size(), j->steps.size());
  std::set<std::string> ids;
  for (const auto& s : m["steps"]) {
    EXPECT_TRUE(s.contains("kind"));
    ids.insert(s["id"].get<std::string>());
  }
  ASSERT_FALSE(m["edges"].empty());
  for (const auto& e : m["edges"]) {
    EXPECT_EQ(ids.count(e["from"].get<std::string>()), 1u) << e.dump();
    if (!e["to"].is_null()) EXPECT_EQ(ids.count(e["to"].get<std::string>()), 1u) << e.dump();
  }
  EXPECT_EQ(CallJson("GET", "/v1/journeys/nope", 404)["error"]["code"], "journey_not_found");
  EXPECT_EQ(CallJson("GET", "/v1/journeys/welcome-series?version=x", 400)["error"]["code"],
            "bad_parameter");
}

TEST_F(JourneyRoutesTest, ValidateGivesTheLoaderDiagnosticsWithPositions) {
  json ok = CallJson("POST", "/v1/journeys:validate", 200, ExampleJourney());
  EXPECT_TRUE(ok["ok"].get<bool>()) << ok.dump();
  EXPECT_TRUE(ok["diagnostics"].empty());

  std::string bad = ExampleJourney();
  const auto at = bad.find("\nsteps:");
  ASSERT_NE(at, std::string::npos);
  bad.insert(at + 1, "priorty: 3\n");  // a typo the loader answers with "did you mean"
  json r = CallJson("POST", "/v1/journeys:validate", 200, bad);
  EXPECT_FALSE(r["ok"].get<bool>());
  ASSERT_FALSE(r["diagnostics"].empty());
  bool did_you_mean = false;
  for (const auto& d : r["diagnostics"]) {
    EXPECT_GT(d["line"].get<int>(), 0);
    EXPECT_GT(d["col"].get<int>(), 0);
    if (d["message"].get<std::string>().find("did you mean 'priority'") != std::string::npos)
      did_you_mean = true;
  }
  EXPECT_TRUE(did_you_mean) << r.dump();
}

TEST_F(JourneyRoutesTest, ValidateNeverCrashesOnGarbage) {
  const std::string seed = ExampleJourney();
  std::mt19937 rng(42);
  const std::string alphabet = "{}[]:-'\"&*!|>%@`#,?\n\t ab0\\\x01\xff";
  for (int i = 0; i < 300; ++i) {
    std::string body = seed;
    const int edits = 1 + static_cast<int>(rng() % 20);
    for (int e = 0; e < edits && !body.empty(); ++e) {
      const size_t pos = rng() % body.size();
      switch (rng() % 3) {
        case 0:
          body[pos] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          body.erase(pos, 1 + rng() % 30);
          break;
        default:
          body.insert(pos, std::string(1 + rng() % 5, alphabet[rng() % alphabet.size()]));
      }
    }
    if (i % 50 == 0) body = std::string(1 + rng() % 2000, alphabet[rng() % alphabet.size()]);
    auto reply = Call("POST", "/v1/journeys:validate", body);
    ASSERT_EQ(reply.status, 200) << "body #" << i << ": " << reply.body;
    auto j = json::parse(reply.body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << reply.body;
    ASSERT_TRUE(j["ok"].is_boolean());
  }
  EXPECT_EQ(Call("POST", "/v1/journeys:validate", std::string(2 << 20, 'a')).status, 413);
}

TEST_F(JourneyRoutesTest, PutDeploysANewVersionThroughHotReload) {
  const std::string v2 = WithVersion(ExampleJourney(), 2);
  json r = CallJson("PUT", "/v1/journeys/welcome-series", 200, v2);
  EXPECT_EQ(r["version"], 2);
  EXPECT_EQ(r["status"], "live");
  EXPECT_EQ(Catalog()->Current("welcome-series")->version, 2u);
  EXPECT_EQ(ReadText(dir_.Sub("journeys/welcome-series.yaml")), v2);
  // No temp file left behind for the watcher.
  for (const auto& e : fs::directory_iterator(dir_.Sub("journeys"))) {
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos);
  }

  json versions = CallJson("GET", "/v1/journeys/welcome-series/versions", 200);
  ASSERT_EQ(versions["versions"].size(), 2u) << versions.dump();
  EXPECT_EQ(versions["live_version"], 2);
  EXPECT_TRUE(versions["versions"][1]["live"].get<bool>());
  auto src = Call("GET", "/v1/journeys/welcome-series/versions/1/source");
  EXPECT_EQ(src.status, 200);
  EXPECT_EQ(src.body, ExampleJourney());
  EXPECT_NE(src.Header("Content-Type").find("text/yaml"), std::string::npos);
  EXPECT_EQ(CallJson("GET", "/v1/journeys/welcome-series/versions/9/source", 404)["error"]["code"],
            "version_not_found");

  // The same text again: nothing changes. A lower or equal version: conflict.
  EXPECT_FALSE(CallJson("PUT", "/v1/journeys/welcome-series", 200, v2)["changed"].get<bool>());
  std::string v2b = v2 + "\n# edited\n";
  EXPECT_EQ(CallJson("PUT", "/v1/journeys/welcome-series", 409, v2b)["error"]["code"],
            "version_conflict");
  // Invalid YAML: 422 with the diagnostics, the file is untouched.
  json bad = CallJson("PUT", "/v1/journeys/welcome-series", 422, "journey: [");
  EXPECT_EQ(bad["error"]["code"], "invalid_journey");
  EXPECT_FALSE(bad["diagnostics"].empty());
  EXPECT_EQ(ReadText(dir_.Sub("journeys/welcome-series.yaml")), v2);
  // The id in the path must be the journey's name.
  EXPECT_EQ(
      CallJson("PUT", "/v1/journeys/other", 422, WithVersion(ExampleJourney(), 3))["error"]["code"],
      "name_mismatch");
  EXPECT_EQ(CallJson("PUT", "/v1/journeys/Bad_Id", 400, v2)["error"]["code"], "bad_parameter");
}

TEST_F(JourneyRoutesTest, PutIntoAReadOnlyDirectoryAsksForTheConfigMap) {
  // A directory this process cannot write: 0555 for a normal user; root
  // ignores modes, so then sysfs (creating files there is refused).
  std::string ro = dir_.Sub("ro");
  fs::create_directories(ro);
  ::chmod(ro.c_str(), 0555);
  if (std::ofstream(ro + "/probe").good()) ro = "/sys";
  if (std::ofstream(ro + "/probe").good()) GTEST_SKIP() << "no read-only directory here";
  CloseEngine();
  OpenEngine(ro);
  json r = CallJson("PUT", "/v1/journeys/welcome-series", 409, WithVersion(ExampleJourney(), 2));
  EXPECT_EQ(r["error"]["code"], "read_only");
  EXPECT_NE(r["error"]["message"].get<std::string>().find("ConfigMap"), std::string::npos);
}

TEST_F(JourneyRoutesTest, PauseAndResumeAreStoredAppliedAndSurviveARestart) {
  json p = CallJson("POST", "/v1/journeys/welcome-series:pause", 200);
  EXPECT_EQ(p["status"], "paused");
  EXPECT_TRUE(Catalog()->Current("welcome-series")->paused);
  json list = CallJson("GET", "/v1/journeys", 200)["journeys"];
  EXPECT_EQ(list[0]["status"], "paused");
  EXPECT_TRUE(list[0]["override"]["paused"].get<bool>());

  CloseEngine();  // a restart: the override is in RocksDB, not in memory
  OpenEngine();
  EXPECT_TRUE(Catalog()->Current("welcome-series")->paused);
  EXPECT_EQ(CallJson("GET", "/v1/journeys", 200)["journeys"][0]["status"], "paused");

  EXPECT_EQ(CallJson("POST", "/v1/journeys/welcome-series:resume", 200)["status"], "live");
  EXPECT_FALSE(Catalog()->Current("welcome-series")->paused);
  EXPECT_EQ(CallJson("POST", "/v1/journeys/nope:pause", 404)["error"]["code"], "journey_not_found");
  EXPECT_EQ(CallJson("POST", "/v1/journeys/welcome-series:stop", 404)["error"]["code"],
            "not_found");
}

TEST(PauseOverrides, ResumeOverridesAYamlThatSaysPaused) {
  testing::TempDir dir;
  fs::create_directories(dir.Sub("j"));
  std::string text = ExampleJourney();
  const auto at = text.find("\nsteps:");
  text.insert(at + 1, "paused: true\n");
  WriteText(dir.Sub("j/w.yaml"), text);
  auto store = state::StateStore::Open({dir.Sub("db")});
  ASSERT_TRUE(store.ok());
  flow::Library lib(dir.Sub("j"), store->get());
  auto c = lib.Reload().catalog;
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->Current("welcome-series")->paused);
  ASSERT_TRUE(flow::SetPauseOverride(**store, "welcome-series", {false, 1, "test"}).ok());
  c = lib.Reload().catalog;
  ASSERT_NE(c, nullptr) << "a changed override must give a new catalog";
  EXPECT_FALSE(c->Current("welcome-series")->paused);
  EXPECT_EQ(lib.Reload().catalog, nullptr) << "nothing changed";
  ASSERT_TRUE(flow::ClearPauseOverride(**store, "welcome-series").ok());
  c = lib.Reload().catalog;
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->Current("welcome-series")->paused);
}

}  // namespace
}  // namespace cairn::api
