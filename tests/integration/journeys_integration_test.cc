// Journeys in the real engine (wall clock, embedded broker, real RocksDB):
// tasks reach the tasks topic through the outbox, durable timers fire on the
// wall clock, hot reload pins in-flight customers to their version, a broken
// file is refused while the previous version keeps running, the stored
// version outlives its file, and the API explains what happened.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "engine_api_fixture.h"

namespace cairn {
namespace {

constexpr int kPartitionCount = 4;

std::string JourneyV(int version, const std::string& first, const std::string& second,
                     const std::string& wait) {
  return "journey: nudge\nversion: " + std::to_string(version) +
         "\nwhen:\n  event: Product Added\nwho:\n  consent: { email: implied, push: implied }\n"
         "entry:\n  reentry: always\n  max_concurrent: 5\nsteps:\n"
         "  - id: first\n    send: { channel: email, template: " +
         first + " }\n  - id: pause\n    wait: " + wait +
         "\n  - id: second\n    send: { channel: push, template: " + second +
         " }\n  - id: done\n    exit: done\n";
}

class JourneysIntegrationTest : public testing::EngineApiFixture {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(SetUpEngine({.name = "jt", .partitions = kPartitionCount}));
    OpenTaskReader();
  }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream(journeys_ + "/" + name) << text;
  }

  void AddToCart(const std::string& user, const std::string& message_id) {
    nlohmann::json e = {{"type", "track"},
                        {"userId", user},
                        {"event", "Product Added"},
                        {"messageId", message_id},
                        {"properties", {{"cart_id", "c-" + message_id}}}};
    ASSERT_TRUE(producer_->Produce(options_.topics.events, user, e.dump()).ok());
    ASSERT_TRUE(producer_->Flush(10000).ok());
  }

  // Reads tasks until `pred` holds on what was read (or the deadline).
  bool ReadTasksUntil(const std::function<bool()>& pred, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred() && std::chrono::steady_clock::now() < deadline) {
      auto j = nlohmann::json::parse(NextTask(100), nullptr, false);
      if (!j.is_object()) continue;
      seen_[j["customer_id"].get<std::string>()].push_back(j["template"].get<std::string>() + "@v" +
                                                           std::to_string(j["version"].get<int>()));
      ids_.insert(j["task_id"].get<std::string>());
    }
    return pred();
  }

  bool Has(const std::string& customer, const std::string& what) {
    const auto& v = seen_[customer];
    return std::find(v.begin(), v.end(), what) != v.end();
  }

  std::map<std::string, std::vector<std::string>> seen_;  // customer -> "template@vN"
  std::set<std::string> ids_;
};

TEST_F(JourneysIntegrationTest, TasksTimersHotReloadPinAndRefusal) {
  Write("nudge.yaml", JourneyV(1, "a1", "a2", "2s"));
  StartEngine();
  ASSERT_TRUE(testing::WaitFor([&] { return engine_->ready(); }, std::chrono::seconds(30)));

  // v1: the first send at once, the second after a 2 s durable timer.
  AddToCart("c1", "m1");
  ASSERT_TRUE(ReadTasksUntil([&] { return Has("c1", "a1@v1"); }, std::chrono::seconds(20)));
  EXPECT_FALSE(Has("c1", "a2@v1"));

  // Hot reload to v2 while c1 waits: c1 stays pinned to v1, c2 enters v2.
  Write("nudge.yaml", JourneyV(2, "b1", "b2", "1s"));
  auto reloaded = library_->Reload();
  ASSERT_TRUE(reloaded.catalog);
  ASSERT_TRUE(reloaded.refused.empty());
  engine_->journeys().SetCatalog(reloaded.catalog);
  AddToCart("c2", "m2");
  ASSERT_TRUE(ReadTasksUntil([&] { return Has("c1", "a2@v1") && Has("c2", "b2@v2"); },
                             std::chrono::seconds(20)));
  EXPECT_TRUE(Has("c2", "b1@v2"));
  EXPECT_EQ(seen_["c1"], (std::vector<std::string>{"a1@v1", "a2@v1"}));

  // A broken file is refused; v2 keeps running.
  Write("nudge.yaml", JourneyV(3, "x1", "x2", "1s") + "  - id: broken\n    send: [\n");
  auto refused = library_->Reload();
  EXPECT_FALSE(refused.catalog);
  ASSERT_FALSE(refused.refused.empty());
  EXPECT_NE(refused.refused.front().ToString().find("nudge.yaml:"), std::string::npos)
      << refused.refused.front().ToString();
  AddToCart("c3", "m3");
  ASSERT_TRUE(ReadTasksUntil([&] { return Has("c3", "b2@v2"); }, std::chrono::seconds(20)));
  EXPECT_EQ(seen_["c3"], (std::vector<std::string>{"b1@v2", "b2@v2"}));

  // The decision trace says what happened and why.
  const std::string addr = http_->address();
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto r = testing::HttpGet(addr, "/v1/customers/c1/journeys");
        return r.status == 200 && r.body.find("\"exit\"") != std::string::npos;
      },
      std::chrono::seconds(10)));
  auto r = testing::HttpGet(addr, "/v1/customers/c1/journeys");
  auto j = nlohmann::json::parse(r.body);
  std::vector<std::string> actions;
  for (const auto& line : j["trace"]) actions.push_back(line["action"].get<std::string>());
  std::reverse(actions.begin(), actions.end());  // the trace is newest first
  EXPECT_EQ(actions, (std::vector<std::string>{"enter", "send", "wait", "waited", "send", "exit"}))
      << r.body;
  EXPECT_EQ(j["trace"][0]["version"], 1);
  EXPECT_EQ(testing::HttpGet(addr, "/v1/customers/nobody/journeys").status, 404);
  EXPECT_EQ(ids_.size(), 6u);  // a1 a2 b1 b2 b1 b2, no repeats in a clean run
  StopEngine();

  // v1's source is stored: a fresh library (a restart) still knows it, for
  // customers pinned to it.
  flow::Library fresh(journeys_, store_.get());
  // The file is still broken: v3 refused, so only stored versions load.
  auto after = fresh.Reload();
  ASSERT_TRUE(after.catalog);
  EXPECT_NE(after.catalog->Version("nudge", 1), nullptr);
  EXPECT_NE(after.catalog->Version("nudge", 2), nullptr);
  EXPECT_EQ(after.catalog->Current("nudge"), nullptr);  // no good file for it now
}

}  // namespace
}  // namespace cairn
