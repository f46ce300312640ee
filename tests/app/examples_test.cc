// The example journeys (journeys/*.yaml) on their event files
// (journeys/examples/*.events.jsonl): `cairn simulate --no-profile` must
// print exactly the reviewed actions in <journey>.expected.jsonl
// (journeys/README.md describes them customer by customer; the files carry
// the profile's events, such as stage changes, by hand). Regenerate with
// journeys/examples/update-expected.sh after an intended change. And the
// simulation with the profile beside the journeys (the default): stages,
// RFM and segments move by themselves and start the journeys they trigger.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::string RunCommand(const std::string& command, int* status) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *status = pclose(p);
  return out;
}

std::string Read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ExamplesTest, EveryExampleProducesItsReviewedActions) {
  const fs::path root = CAIRN_SOURCE_DIR;
  const fs::path examples = root / "journeys" / "examples";
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(examples)) {
    const std::string name = entry.path().filename().string();
    if (!name.ends_with(".events.jsonl")) continue;
    const fs::path expected =
        examples /
        (name.substr(0, name.size() - std::string(".events.jsonl").size()) + ".expected.jsonl");
    ASSERT_TRUE(fs::exists(expected)) << expected << " is missing";
    int status = -1;
    const std::string out = RunCommand(std::string(CAIRN_BINARY) + " simulate --no-profile" +
                                           " --journeys " + (root / "journeys").string() +
                                           " --events " + entry.path().string() + " 2>&1",
                                       &status);
    ASSERT_EQ(status, 0) << out;
    const auto got = Lines(out);
    const auto want = Lines(Read(expected));
    for (size_t i = 0; i < std::max(got.size(), want.size()); ++i) {
      ASSERT_EQ(i < got.size() ? got[i] : "<missing>", i < want.size() ? want[i] : "<extra>")
          << name << " line " << i + 1;
    }
    ++checked;
  }
  EXPECT_GE(checked, 5);
}

TEST(ExamplesTest, ValidateAcceptsTheExamplesAndRejectsABrokenCopy) {
  const fs::path root = CAIRN_SOURCE_DIR;
  int status = -1;
  std::string out = RunCommand(
      std::string(CAIRN_BINARY) + " validate " + (root / "journeys").string() + " 2>&1", &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("ok: 5 journeys"), std::string::npos) << out;

  const fs::path dir = fs::temp_directory_path() / ("cairn-validate-" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::string text = Read(root / "journeys" / "cart-abandonment.yaml");
  text.replace(text.find("on_event: ordered"), std::string("on_event: ordered").size(),
               "on_event: orderd");
  std::ofstream(dir / "broken.yaml") << text;
  out = RunCommand(
      std::string(CAIRN_BINARY) + " validate " + (dir / "broken.yaml").string() + " 2>&1", &status);
  fs::remove_all(dir);
  EXPECT_NE(status, 0) << out;
  EXPECT_NE(out.find("broken.yaml:"), std::string::npos) << out;
  EXPECT_NE(out.find("orderd"), std::string::npos) << out;
}

TEST(ExamplesTest, DiffComparesTwoVersionsOnTheSameEvents) {
  const fs::path root = CAIRN_SOURCE_DIR;
  const fs::path dir = fs::temp_directory_path() / ("cairn-diff-" + std::to_string(getpid()));
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(root / "journeys")) {
    if (e.path().extension() == ".yaml") fs::copy_file(e.path(), dir / e.path().filename());
  }
  fs::copy(root / "journeys" / "profile", dir / "profile");  // both sides run the same profile
  // Version 2 of the welcome series sends its tips at 11:00 instead of 10:00.
  std::string text = Read(root / "journeys" / "welcome-series.yaml");
  text.replace(text.find("version: 1"), 10, "version: 2");
  text.replace(text.find("{ for: 2d, at: \"10:00\" }"), 24, "{ for: 2d, at: \"11:00\" }");
  std::ofstream(dir / "welcome-series.yaml", std::ios::trunc) << text;
  int status = -1;
  const std::string out = RunCommand(
      std::string(CAIRN_BINARY) + " simulate --journeys " + (root / "journeys").string() +
          " --diff " + dir.string() + " --events " +
          (root / "journeys" / "examples" / "welcome-series.events.jsonl").string() + " 2>&1",
      &status);
  fs::remove_all(dir);
  ASSERT_EQ(status, 0) << out;
  const auto lines = Lines(out);
  ASSERT_FALSE(lines.empty());
  // The last line sums up; each line before it is one customer whose actions differ.
  EXPECT_NE(lines.back().find("\"customers_different\":5"), std::string::npos) << out;
  EXPECT_NE(out.find("user-anna"), std::string::npos) << out;
  EXPECT_EQ(out.find("user-emma"), std::string::npos) << out;  // never entered: no difference
}

// One order, then silence: with the profile the customer becomes active on
// the order and at-risk 60 days later by themselves (the lifecycle in
// journeys/profile/customers.yaml), which starts at-risk-rescue; segments
// and RFM move too. With --no-profile none of that happens.
TEST(ExamplesTest, TheProfileRunsInTheSimulation) {
  const fs::path root = CAIRN_SOURCE_DIR;
  const fs::path events =
      fs::temp_directory_path() / ("cairn-sim-profile-" + std::to_string(getpid()) + ".jsonl");
  std::ofstream(events)
      << R"({"type":"identify","userId":"user-quiet","messageId":"q-1","timestamp":"2026-03-01T09:00:00.000Z","traits":{"email":"quiet@example.com","timezone":"Europe/Berlin"}})"
         "\n"
         R"({"type":"track","userId":"user-quiet","messageId":"q-2","timestamp":"2026-03-02T10:00:00.000Z","event":"Order Completed","properties":{"order_id":"o-1","total":120.0}})"
         "\n";
  auto run = [&](const std::string& flags, int* status) {
    return RunCommand(std::string(CAIRN_BINARY) + " simulate " + flags + " --journeys " +
                          (root / "journeys").string() + " --events " + events.string() + " 2>&1",
                      status);
  };
  int status = -1;
  const std::string with = run("", &status);
  ASSERT_EQ(status, 0) << with;
  const std::string without = run("--no-profile", &status);
  fs::remove(events);
  ASSERT_EQ(status, 0) << without;
  auto has = [](const std::string& out, const std::string& at, const std::string& step,
                const std::string& action) {
    for (const auto& l : Lines(out)) {
      if (l.find("\"at\":\"" + at) != std::string::npos &&
          l.find("\"step\":\"" + step + "\"") != std::string::npos &&
          l.find("\"action\":\"" + action + "\"") != std::string::npos) {
        return true;
      }
    }
    return false;
  };
  EXPECT_TRUE(has(with, "2026-03-02T10:00:00.000Z", "active", "stage")) << with;
  EXPECT_TRUE(has(with, "2026-03-02T10:00:00.000Z", "one-time-buyers", "segment")) << with;
  // 60 days without an order: at-risk, and the rescue journey starts then.
  EXPECT_TRUE(has(with, "2026-05-01T10:00:00.000Z", "at-risk", "stage")) << with;
  EXPECT_NE(
      with.find(
          R"("at":"2026-05-01T10:00:00.000Z","customer":"user-quiet","journey":"at-risk-rescue","version":1,"step":"","action":"enter")"),
      std::string::npos)
      << with;
  // 90 days without one: the lapsed-buyers segment.
  EXPECT_TRUE(has(with, "2026-05-31T10:00:00.000Z", "lapsed-buyers", "segment")) << with;
  EXPECT_EQ(without.find("at-risk-rescue\",\"version\":1,\"step\":\"\",\"action\":\"enter"),
            std::string::npos)
      << without;
  EXPECT_EQ(without.find("\"action\":\"stage\""), std::string::npos) << without;
}

}  // namespace
