// flow::Simulator end to end: journey files in a directory, Segment JSON
// events, a scratch RocksDB for the timers in a temp dir.
#include "flow/simulator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "flow_host.h"
#include "journey/loader.h"
#include "test_support.h"

namespace cairn::flow::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

constexpr const char* kWelcome = R"(
journey: welcome
version: 1
timezone: UTC
when:
  event: Signed Up
who:
  consent: { email: implied }
steps:
  - id: hello
    send: { channel: email, template: hello }
  - id: announce
    emit: { event: Welcome Sent, properties: { series: welcome } }
  - id: later
    wait: 3d
  - id: tips
    send: { channel: email, template: tips }
)";

constexpr const char* kFollowup = R"(
journey: welcome-followup
version: 1
when:
  event: Welcome Sent
  where: event.properties.series == 'welcome'
steps:
  - id: tag
    update: { add_labels: [welcomed] }
)";

constexpr const char* kDormant = R"(
journey: dormant
version: 1
max_lifetime: 10d
when:
  absence: Page Viewed
  for: 30d
steps:
  - id: note
    exit: dormant
)";

class SimulatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string dir = tmp_.Sub("journeys");
    ASSERT_TRUE(std::filesystem::create_directories(dir));
    WriteFile(dir + "/a-welcome.yaml", kWelcome);
    WriteFile(dir + "/b-followup.yaml", kFollowup);
    WriteFile(dir + "/c-dormant.yaml", kDormant);
    WriteFile(dir + "/notes.txt", "not a journey");
    journey::LoadedSet set = journey::LoadJourneyDir(dir);
    for (const auto& d : set.diagnostics) ADD_FAILURE() << d.ToString();
    ASSERT_EQ(set.journeys.size(), 3u);
    catalog_ = Catalog::Build(std::move(set.journeys), {}, 1);
  }

  std::unique_ptr<Simulator> Make(int64_t horizon_ms = -1) {
    SimulatorOptions o;
    o.data_dir = tmp_.Sub("sim");
    o.horizon_ms = horizon_ms;
    auto sim = Simulator::Create(catalog_, o);
    EXPECT_TRUE(sim.ok()) << sim.status().message();
    if (!sim.ok()) return nullptr;
    auto s = std::move(sim).value();
    s->OnAction([this](const v1::TraceEntry& e) {
      entries_.push_back(e);
      std::string line = Iso(e.at_ms()) + " " + e.customer() + " " + e.journey() + " " +
                         (e.step().empty() ? "-" : e.step()) + " " + e.action();
      if (!e.reason().empty()) line += ": " + e.reason();
      lines_.push_back(line);
    });
    return s;
  }

  cairn::testing::TempDir tmp_;
  std::shared_ptr<const Catalog> catalog_;
  std::vector<v1::TraceEntry> entries_;
  std::vector<std::string> lines_;
};

TEST_F(SimulatorTest, ActionsInTimeOrderWithFastForwardAndEmittedEventsFedBack) {
  auto sim = Make();
  ASSERT_NE(sim, nullptr);
  // Given out of order: the simulator takes them by timestamp.
  ASSERT_TRUE(sim->AddEvent(R"({"type":"track","userId":"u2","event":"Signed Up",
      "messageId":"m2","timestamp":"2026-03-01T11:00:00Z"})",
                            "events.jsonl:1")
                  .ok());
  ASSERT_TRUE(sim->AddEvent(R"({"type":"track","userId":"u1","event":"Signed Up",
      "messageId":"m1","timestamp":"2026-03-01T10:00:00Z"})",
                            "events.jsonl:2")
                  .ok());
  ASSERT_TRUE(sim->AddEvent(R"({"type":"track","userId":"u1","event":"Page Viewed",
      "messageId":"m3","timestamp":"2026-03-02T10:00:00Z"})",
                            "events.jsonl:3")
                  .ok());
  // A producer retry: dropped by messageId.
  ASSERT_TRUE(sim->AddEvent(R"({"type":"track","userId":"u1","event":"Page Viewed",
      "messageId":"m3","timestamp":"2026-03-02T10:00:00Z"})",
                            "events.jsonl:4")
                  .ok());
  ASSERT_TRUE(sim->Run().ok());

  for (size_t i = 1; i < entries_.size(); ++i) {
    EXPECT_LE(entries_[i - 1].at_ms(), entries_[i].at_ms()) << lines_[i];
  }
  std::vector<std::string> u1;
  for (const auto& l : lines_) {
    if (l.find(" u1 ") != std::string::npos) u1.push_back(l);
  }
  EXPECT_THAT(
      u1,
      ElementsAre(
          "2026-03-01T10:00:00Z u1 welcome - enter: Signed Up at 2026-03-01T10:00:00.000Z",
          "2026-03-01T10:00:00Z u1 welcome hello send",
          "2026-03-01T10:00:00Z u1 welcome announce emit: Welcome Sent",
          "2026-03-01T10:00:00Z u1 welcome later wait: until 2026-03-04T10:00:00.000Z",
          // The emitted event came back in at the moment it was emitted.
          "2026-03-01T10:00:00Z u1 welcome-followup - enter: Welcome Sent at "
          "2026-03-01T10:00:00.000Z",
          "2026-03-01T10:00:00Z u1 welcome-followup tag update: +welcomed",
          "2026-03-01T10:00:00Z u1 welcome-followup tag exit: completed",
          // After the last event: fast-forward through the pending waits.
          "2026-03-04T10:00:00Z u1 welcome later waited",
          "2026-03-04T10:00:00Z u1 welcome tips send",
          "2026-03-04T10:00:00Z u1 welcome tips exit: completed",
          // 30 days after the last page view.
          "2026-04-01T10:00:00Z u1 dormant - enter: Absence Detected at 2026-04-01T10:00:00.000Z",
          "2026-04-01T10:00:00Z u1 dormant note exit: dormant"));
  EXPECT_EQ(sim->counts().at("welcome").at("tips").at("send"), 2u);
  EXPECT_EQ(sim->counts().at("welcome-followup").at("tag").at("update"), 2u);
  EXPECT_EQ(sim->events(), 5u);  // 3 distinct + 2 emitted; the retry is a duplicate
  const auto& customers = sim->customers();
  ASSERT_EQ(customers.count("u1"), 1u);
  EXPECT_THAT(customers.at("u1").labels(), ElementsAre("welcomed"));
  // u2 never viewed a page: 30 days from first sight.
  EXPECT_NE(
      std::find(lines_.begin(), lines_.end(), "2026-03-31T11:00:00Z u2 dormant note exit: dormant"),
      lines_.end());
}

TEST_F(SimulatorTest, HorizonBoundsTheFastForward) {
  auto sim = Make(/*horizon_ms=*/kDay);
  ASSERT_NE(sim, nullptr);
  ASSERT_TRUE(sim->AddEvent(R"({"type":"track","userId":"u1","event":"Signed Up",
      "timestamp":"2026-03-01T10:00:00Z"})",
                            "e:1")
                  .ok());
  ASSERT_TRUE(sim->Run().ok());
  for (const auto& l : lines_) EXPECT_EQ(l.find("tips"), std::string::npos) << l;
  EXPECT_EQ(sim->counts().at("welcome").at("later").at("wait"), 1u);
}

// simulator.h and docs/journeys.md: the default horizon is the longest
// absence window plus the longest max_lifetime, so a journey entered when an
// absence fires still runs its course.
TEST(SimulatorHorizon, LongestAbsencePlusLongestLifetime) {
  cairn::testing::TempDir tmp;
  std::vector<journey::Journey> journeys = {Load(R"(
journey: lapse
version: 1
max_lifetime: 5d
when:
  absence: Page Viewed
  for: 30d
steps:
  - id: tell
    emit: { event: Lapsed }
)"),
                                            Load(R"(
journey: long-wait
version: 1
when:
  event: Lapsed
steps:
  - id: wait_long
    wait: 360d
  - id: done
    exit: waited_long
)")};
  SimulatorOptions o;
  o.data_dir = tmp.Sub("sim");
  auto sim = Simulator::Create(Catalog::Build(std::move(journeys), {}, 1), o);
  ASSERT_TRUE(sim.ok()) << sim.status().message();
  std::vector<std::string> exits;
  (*sim)->OnAction([&](const v1::TraceEntry& e) {
    if (e.action() == "exit")
      exits.push_back(Iso(e.at_ms()) + " " + e.journey() + ": " + e.reason());
  });
  ASSERT_TRUE((*sim)
                  ->AddEvent(R"({"type":"track","userId":"u1","event":"Page Viewed",
      "timestamp":"2026-01-01T00:00:00Z"})",
                             "e:1")
                  .ok());
  ASSERT_TRUE((*sim)->Run().ok());
  // Lapsed 30 days after the page view; 360 days later the wait is over.
  EXPECT_THAT(exits, ElementsAre("2026-01-31T00:00:00Z lapse: completed",
                                 "2027-01-26T00:00:00Z long-wait: waited_long"));
}

TEST_F(SimulatorTest, ProfilesComeFirstAndBadLinesAreNamed) {
  auto sim = Make();
  ASSERT_NE(sim, nullptr);
  ASSERT_TRUE(sim->AddEvent(R"({"type":"track","userId":"u1","event":"Signed Up",
      "timestamp":"2026-03-01T10:00:00Z"})",
                            "e:1")
                  .ok());
  ASSERT_TRUE(
      sim->AddProfile(R"({"userId":"u1","traits":{"consent":{"email":false}}})", "p:1").ok());
  const Status bad = sim->AddEvent(R"({"type":"track","event":"Signed Up"})", "e:2");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("e:2: missing_id"), std::string::npos) << bad.message();
  EXPECT_FALSE(sim->AddProfile(R"({"traits":{}})", "p:2").ok());
  ASSERT_TRUE(sim->Run().ok());
  EXPECT_THAT(lines_, ::testing::Contains("2026-03-01T10:00:00Z u1 welcome - skip: no consent on "
                                          "any channel the journey uses"));
}

TEST_F(SimulatorTest, NothingQueuedRunsClean) {
  auto sim = Make();
  ASSERT_NE(sim, nullptr);
  ASSERT_TRUE(sim->Run().ok());
  EXPECT_THAT(lines_, IsEmpty());
  EXPECT_EQ(sim->timers_fired(), 0u);
}

}  // namespace
}  // namespace cairn::flow::testing
