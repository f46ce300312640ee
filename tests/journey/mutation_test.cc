// Bounded robustness run: thousands of mutated copies of the example
// journeys go through the loader. It must never crash or hang, must return a
// journey exactly when it reports nothing, and every diagnostic must point
// inside the file. Deterministic (fixed seed), a few seconds at most.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "journey/loader.h"

namespace cairn::journey {
namespace {

std::vector<std::string> Examples() {
  std::vector<std::string> out;
  for (const auto& e :
       std::filesystem::directory_iterator(std::string(CAIRN_SOURCE_DIR) + "/journeys")) {
    if (e.path().extension() != ".yaml") continue;
    std::ifstream in(e.path());
    std::stringstream s;
    s << in.rdbuf();
    out.push_back(s.str());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

std::string Mutate(const std::string& text, std::mt19937& rng) {
  static const std::string kChars = " \t\n:-{}[],'\"#|>&*!%@`?abcxyz019._";
  static const std::vector<std::string> kTokens = {"next: ",
                                                   "- id: x\n",
                                                   "wait: 1d",
                                                   "{",
                                                   "}",
                                                   "[",
                                                   "]",
                                                   "\"",
                                                   "'",
                                                   ": ",
                                                   "  ",
                                                   "\t",
                                                   "&a ",
                                                   "*a",
                                                   "!!str ",
                                                   "|\n",
                                                   ">-\n",
                                                   "when:",
                                                   "steps:",
                                                   "timeout: -5s",
                                                   "weight: 101",
                                                   "event.properties.total >",
                                                   "~",
                                                   "99999999999999999999999",
                                                   "at: \"25:61\"",
                                                   "\xff\xfe"};
  std::string t = text;
  auto pos = [&](size_t n) {
    return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng);
  };
  const int edits = 1 + static_cast<int>(pos(4));
  for (int e = 0; e < edits; ++e) {
    switch (pos(7)) {
      case 0:  // flip a character
        if (!t.empty()) t[pos(t.size())] = kChars[pos(kChars.size())];
        break;
      case 1:  // insert a token
        t.insert(pos(t.size() + 1), kTokens[pos(kTokens.size())]);
        break;
      case 2:  // delete a range
        if (!t.empty()) {
          const size_t at = pos(t.size());
          t.erase(at, pos(40) + 1);
        }
        break;
      case 3: {  // drop a line
        auto lines = Lines(t);
        if (!lines.empty()) lines.erase(lines.begin() + static_cast<long>(pos(lines.size())));
        t = Join(lines);
        break;
      }
      case 4: {  // duplicate a line
        auto lines = Lines(t);
        if (!lines.empty()) {
          const size_t i = pos(lines.size());
          lines.insert(lines.begin() + static_cast<long>(i), lines[i]);
        }
        t = Join(lines);
        break;
      }
      case 5: {  // swap two lines
        auto lines = Lines(t);
        if (lines.size() > 1) std::swap(lines[pos(lines.size())], lines[pos(lines.size())]);
        t = Join(lines);
        break;
      }
      default:  // truncate
        t.resize(pos(t.size() + 1));
        break;
    }
  }
  return t;
}

TEST(MutationTest, MutatedExamplesNeverCrashTheLoader) {
  const auto examples = Examples();
  ASSERT_FALSE(examples.empty());
  std::mt19937 rng(20261123);
  int rejected = 0;
  int runs = 0;
  for (int round = 0; round < 400; ++round) {
    for (const auto& example : examples) {
      const std::string text = Mutate(example, rng);
      LoadResult r = LoadJourney(text, "m.yaml");
      ++runs;
      ASSERT_EQ(r.journey.has_value(), r.diagnostics.empty()) << text;
      const int lines = static_cast<int>(std::count(text.begin(), text.end(), '\n')) + 2;
      for (const auto& d : r.diagnostics) {
        ASSERT_GE(d.pos.line, 1) << d.ToString() << "\n" << text;
        ASSERT_LE(d.pos.line, lines) << d.ToString() << "\n" << text;
        ASSERT_GE(d.pos.column, 1) << d.ToString();
        ASSERT_FALSE(d.message.empty());
      }
      if (!r.diagnostics.empty()) ++rejected;
    }
  }
  // Most mutations break something; some are harmless (a comment).
  EXPECT_GT(rejected, runs / 4);
}

TEST(MutationTest, HostileInputsAreRefusedNotCrashed) {
  const std::string deep_flow = "journey: x\nversion: 1\nwhen: " + std::string(5000, '[') + "\n";
  EXPECT_FALSE(LoadJourney(deep_flow, "deep.yaml").diagnostics.empty());
  const std::string huge(2 << 20, 'a');
  EXPECT_FALSE(LoadJourney(huge, "huge.yaml").diagnostics.empty());
  // Aliases that would expand exponentially.
  std::string bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) bomb += std::string(k ? ", " : "") + "*a" + std::to_string(i - 1);
    bomb += "]\n";
  }
  bomb +=
      "journey: x\nversion: 1\nwhen: { event: A }\nwho: { consent: { email: implied } }\n"
      "steps:\n  - id: s\n    send: { channel: email, template: t, params: { p: *a8 } }\n";
  LoadResult r = LoadJourney(bomb, "bomb.yaml");
  bool too_large = false;
  for (const auto& d : r.diagnostics) too_large |= d.message.find("too large") != std::string::npos;
  EXPECT_TRUE(too_large);
  // Binary junk.
  std::string junk;
  for (int i = 0; i < 4096; ++i) junk += static_cast<char>((i * 7919) & 0xff);
  EXPECT_FALSE(LoadJourney(junk, "junk.yaml").diagnostics.empty());
}

}  // namespace
}  // namespace cairn::journey
