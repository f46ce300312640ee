#include "app/analytics_report.h"

#include <fmt/format.h>

#include <map>

#include "analytics/reader.h"

namespace cairn::app {
namespace {

int64_t At(const analytics::Counters& c, const char* metric) {
  auto s = c.find("");
  if (s == c.end()) return 0;
  auto m = s->second.find(metric);
  return m == s->second.end() ? 0 : m->second;
}

}  // namespace

bool ReportAnalytics(state::StateStore& store, const runtime::Engine& engine,
                     const std::string& http) {
  auto counters = analytics::ReadJourneys(store, {});
  fmt::print("\n== Analytics (kept with the events; GET /v1/analytics/journeys) ==\n");
  if (!counters.ok()) {
    fmt::print("  check          FAILED: {}\n", counters.status().ToString());
    return false;
  }
  // The engine's own decision counts: journey -> action -> n.
  std::map<std::string, std::map<std::string, int64_t>> traced;
  for (const auto& [key, n] : engine.journey_counts()) {
    const auto a = key.find('/'), b = key.rfind('/');
    traced[key.substr(0, a)][key.substr(b + 1)] += static_cast<int64_t>(n);
  }
  fmt::print("  {:<22} {:>8} {:>7} {:>6} {:>7} {:>7} {:>7} {:>11} {:>8}\n", "journey", "entered",
             "goal", "conv", "sent", "opened", "clicked", "revenue", "ROMI");
  bool ok = true;
  std::string mismatch;
  for (const auto& [journey, c] : *counters) {
    const int64_t entered = At(c, analytics::kEntered), goal = At(c, analytics::kGoal);
    const int64_t sent = At(c, analytics::kSent);
    const double revenue = static_cast<double>(At(c, analytics::kRevenue)) / 1e6;
    const double cost = static_cast<double>(At(c, analytics::kCost)) / 1e6;
    fmt::print("  {:<22} {:>8} {:>7} {:>5.1f}% {:>7} {:>7} {:>7} {:>11.2f} {:>8}\n", journey,
               entered, goal, entered > 0 ? 100.0 * goal / entered : 0.0, sent, At(c, "opened"),
               At(c, "clicked"), revenue,
               cost > 0 ? fmt::format("{:.1f}", revenue / cost) : std::string("-"));
    auto& t = traced[journey];
    if (t["enter"] != entered || t["goal"] != goal || t["send"] != sent) {
      ok = false;
      mismatch += fmt::format(" {} (trace: entered {}, goal {}, sent {})", journey, t["enter"],
                              t["goal"], t["send"]);
    }
  }
  for (const auto& [journey, t] : traced) {
    if (!journey.empty() && counters->count(journey) == 0 && t.count("enter") > 0) {
      ok = false;
      mismatch += fmt::format(" {} (no counters)", journey);
    }
  }
  fmt::print("  check          {}\n",
             ok ? "OK: entered, goal and sent equal the journeys' decision counts above"
                : "MISMATCH:" + mismatch);
  fmt::print("  per step, A/B, funnel: curl http://{}/v1/analytics/journeys/<journey>\n", http);
  return ok;
}

}  // namespace cairn::app
