#include "api/analytics_routes.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "analytics/reader.h"
#include "analytics/stats.h"
#include "cairn/time.h"

namespace cairn::api {
namespace {

using nlohmann::json;
namespace an = analytics;

constexpr int64_t kDayMs = int64_t{24} * 3600 * 1000;
constexpr const char* kWeekdays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};

// RFC 3339 or epoch milliseconds.
std::optional<TimestampMs> ParseTime(const std::string& text) {
  if (text.empty()) return std::nullopt;
  int64_t ms = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
  if (ec == std::errc() && end == text.data() + text.size()) return ms;
  return ParseTimestamp(text);
}

TimestampMs Now(const AnalyticsContext& ctx) {
  if (ctx.now) return ctx.now();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Reads ?from= and ?to= into `range`; the echoed strings into `from`/`to`.
std::optional<HttpResponse> ReadRange(const HttpRequest& req, const AnalyticsContext& ctx,
                                      an::Range& range, std::string& from, std::string& to) {
  const std::string f = req.Query("from"), t = req.Query("to");
  if (!f.empty()) {
    auto v = ParseTime(f);
    if (!v) return HttpResponse::Error(400, "bad_parameter", "from must be RFC 3339 or epoch ms");
    range.from = *v;
  }
  if (!t.empty()) {
    auto v = ParseTime(t);
    if (!v) return HttpResponse::Error(400, "bad_parameter", "to must be RFC 3339 or epoch ms");
    range.to = *v;
  }
  if (range.to < range.from) {
    return HttpResponse::Error(400, "bad_parameter", "to is before from");
  }
  from = FormatTimestamp(range.from);
  to = FormatTimestamp(t.empty() ? std::max(Now(ctx), range.from) : range.to);
  return std::nullopt;
}

bool ParseCount(const HttpRequest& req, const std::string& name, int64_t fallback, int64_t max,
                int64_t& out) {
  const std::string text = req.Query(name, std::to_string(fallback));
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && out >= 0 && out <= max;
}

int64_t Get(const an::Counters& c, const std::string& scope, const char* metric) {
  auto s = c.find(scope);
  if (s == c.end()) return 0;
  auto m = s->second.find(metric);
  return m == s->second.end() ? 0 : m->second;
}

double Ratio(int64_t a, int64_t b) {
  return b > 0 ? static_cast<double>(a) / static_cast<double>(b) : 0.0;
}

// The message counters and rates of one scope.
void AddMessageFields(json& j, const an::Counters& c, const std::string& scope) {
  const int64_t sent = Get(c, scope, an::kSent);
  const int64_t opened = Get(c, scope, "opened"), clicked = Get(c, scope, "clicked");
  j["sent"] = sent;
  j["delivered"] = Get(c, scope, "delivered");
  j["opened"] = opened;
  j["clicked"] = clicked;
  j["unsubscribed"] = Get(c, scope, "unsubscribed");
  j["bounced"] = Get(c, scope, "bounced");
  j["open_rate"] = Ratio(opened, sent);
  j["click_rate"] = Ratio(clicked, sent);
}

json TotalsJson(const std::string& journey, const an::Counters& c) {
  const int64_t entered = Get(c, "", an::kEntered), goal = Get(c, "", an::kGoal);
  json j = {{"journey", journey},
            {"entered", entered},
            {"in_step", Get(c, "", an::kInStep)},
            {"exited", Get(c, "", an::kExited)},
            {"goal", goal},
            {"conversion_rate", Ratio(goal, entered)}};
  AddMessageFields(j, c, "");
  const double revenue = static_cast<double>(Get(c, "", an::kRevenue)) / 1e6;
  const double cost = static_cast<double>(Get(c, "", an::kCost)) / 1e6;
  j["revenue"] = revenue;
  j["cost"] = cost;
  j["romi"] = cost > 0 ? json(revenue / cost) : json(nullptr);
  return j;
}

json UpliftJson(const std::string& arm, const std::string& vs, const an::Uplift& u) {
  return {{"arm", arm},
          {"vs", vs},
          {"absolute", u.absolute},
          {"relative", u.relative ? json(*u.relative) : json(nullptr)},
          {"ci95", json::array({u.ci_low, u.ci_high})},
          {"z", u.z},
          {"p_value", u.p_value},
          {"significant", u.significant}};
}

json JourneyDetail(const std::string& name, const an::Counters& c, const journey::Journey* j) {
  json out = {{"journey", name}, {"totals", TotalsJson(name, c)}};
  // Steps in declared order, then any only the counters know (older versions).
  std::vector<std::pair<std::string, const journey::Step*>> steps;
  std::set<std::string> seen;
  std::vector<std::string> arms;  // declared order
  std::set<std::string> holdouts;
  if (j != nullptr) {
    for (const auto& st : j->steps) {
      steps.emplace_back(st.id, &st);
      seen.insert(st.id);
      for (const auto& a : st.arms) {
        arms.push_back(a.name);
        if (a.holdout) holdouts.insert(a.name);
      }
    }
  }
  for (const auto& [scope, metrics] : c) {
    if (scope.rfind("s:", 0) == 0 && seen.insert(scope.substr(2)).second) {
      steps.emplace_back(scope.substr(2), nullptr);
    }
    if (scope.rfind("a:", 0) == 0) {
      const std::string arm = scope.substr(2);
      if (std::find(arms.begin(), arms.end(), arm) == arms.end()) arms.push_back(arm);
      if (Get(c, scope, an::kHoldout) > 0) holdouts.insert(arm);
    }
  }
  const int64_t entered = Get(c, "", an::kEntered);
  json step_list = json::array(), funnel = json::array();
  for (const auto& [id, st] : steps) {
    const std::string scope = "s:" + id;
    const int64_t in = Get(c, scope, an::kEntered);
    json s = {{"step", id},
              {"type", st != nullptr ? json(journey::StepKindName(st->kind)) : json(nullptr)},
              {"channel", st != nullptr && st->kind == journey::StepKind::kSend ? json(st->channel)
                                                                                : json(nullptr)},
              {"entered", in},
              {"in_step", Get(c, scope, an::kInStep)},
              {"exited", Get(c, scope, an::kExited)}};
    AddMessageFields(s, c, scope);
    step_list.push_back(std::move(s));
    funnel.push_back({{"step", id}, {"count", in}, {"rate", Ratio(in, entered)}});
  }
  out["steps"] = std::move(step_list);
  out["funnel"] = std::move(funnel);

  json arm_list = json::array(), uplift = json::array();
  json holdout = nullptr;
  std::string holdout_name;
  std::vector<std::string> tested;
  for (const auto& arm : arms) {
    const std::string scope = "a:" + arm;
    const int64_t n = Get(c, scope, an::kEntered), g = Get(c, scope, an::kGoal);
    if (holdouts.count(arm) > 0) {
      if (holdout.is_null()) {
        holdout = {{"entered", n}, {"goal", g}, {"conversion_rate", Ratio(g, n)}};
        holdout_name = arm;
      }
      continue;
    }
    arm_list.push_back({{"arm", arm},
                        {"entered", n},
                        {"goal", g},
                        {"conversion_rate", Ratio(g, n)},
                        {"revenue", static_cast<double>(Get(c, scope, an::kRevenue)) / 1e6}});
    tested.push_back(arm);
  }
  // Each arm against the holdout; without one, against the first arm.
  auto test = [&](const std::string& arm, const std::string& control, const std::string& vs) {
    const auto u = an::TwoProportionZTest(
        static_cast<uint64_t>(std::max<int64_t>(0, Get(c, "a:" + arm, an::kGoal))),
        static_cast<uint64_t>(std::max<int64_t>(0, Get(c, "a:" + arm, an::kEntered))),
        static_cast<uint64_t>(std::max<int64_t>(0, Get(c, "a:" + control, an::kGoal))),
        static_cast<uint64_t>(std::max<int64_t>(0, Get(c, "a:" + control, an::kEntered))));
    uplift.push_back(UpliftJson(arm, vs, u));
  };
  if (!holdout_name.empty()) {
    for (const auto& arm : tested) test(arm, holdout_name, "holdout");
  } else {
    for (size_t i = 1; i < tested.size(); ++i) test(tested[i], tested[0], tested[0]);
  }
  out["arms"] = std::move(arm_list);
  out["holdout"] = std::move(holdout);
  out["uplift"] = std::move(uplift);
  return out;
}

HttpResponse Storage(const Status& s) { return HttpResponse::Error(500, "storage", s.message()); }

}  // namespace

std::vector<Route> AnalyticsRoutes(AnalyticsContext ctx) {
  std::vector<Route> routes;
  auto catalog = [ctx]() -> std::shared_ptr<const flow::Catalog> {
    return ctx.catalog ? ctx.catalog() : nullptr;
  };
  routes.push_back({"GET", {"v1", "analytics", "journeys"}, [ctx, catalog](const HttpRequest& req) {
                      an::Range range;
                      std::string from, to;
                      if (auto bad = ReadRange(req, ctx, range, from, to)) return *bad;
                      auto counters = an::ReadJourneys(*ctx.store, range);
                      if (!counters.ok()) return Storage(counters.status());
                      // Every loaded journey (zeros when nothing counted yet), then the rest.
                      std::map<std::string, an::Counters> all = std::move(counters).value();
                      if (auto c = catalog()) {
                        for (const auto& [name, j] : c->current()) all[name];
                      }
                      json list = json::array();
                      for (const auto& [name, c] : all) list.push_back(TotalsJson(name, c));
                      return HttpResponse::Json(
                          200,
                          json{{"from", from}, {"to", to}, {"journeys", std::move(list)}}.dump());
                    }});
  routes.push_back(
      {"GET", {"v1", "analytics", "journeys", "*"}, [ctx, catalog](const HttpRequest& req) {
         const std::string& name = req.segments[3];
         an::Range range;
         std::string from, to;
         if (auto bad = ReadRange(req, ctx, range, from, to)) return *bad;
         auto counters = an::ReadJourneys(*ctx.store, range, name);
         if (!counters.ok()) return Storage(counters.status());
         auto c = catalog();
         const journey::Journey* j = c != nullptr ? c->Current(name) : nullptr;
         auto it = counters->find(name);
         if (j == nullptr && it == counters->end()) {
           return HttpResponse::Error(404, "journey_not_found", "no journey named '" + name + "'");
         }
         const an::Counters empty;
         json out = JourneyDetail(name, it == counters->end() ? empty : it->second, j);
         out["from"] = from;
         out["to"] = to;
         return HttpResponse::Json(200, out.dump());
       }});
  routes.push_back(
      {"GET", {"v1", "analytics", "journeys", "*", "paths"}, [ctx](const HttpRequest& req) {
         an::Range range;
         std::string from, to;
         if (auto bad = ReadRange(req, ctx, range, from, to)) return *bad;
         int64_t limit = 0;
         if (!ParseCount(req, "limit", 10, 100, limit)) {
           return HttpResponse::Error(400, "bad_parameter",
                                      "limit must be a whole number from 0 to 100");
         }
         auto paths = an::ReadPaths(*ctx.store, req.segments[3], range, static_cast<size_t>(limit));
         if (!paths.ok()) return Storage(paths.status());
         json list = json::array();
         for (const auto& p : *paths) list.push_back({{"path", p.steps}, {"count", p.count}});
         return HttpResponse::Json(200, json{{"paths", std::move(list)}}.dump());
       }});
  routes.push_back({"GET", {"v1", "analytics", "heatmap"}, [ctx](const HttpRequest& req) {
                      const std::string event = req.Query("event");
                      if (event.empty()) {
                        return HttpResponse::Error(400, "bad_parameter", "event is required");
                      }
                      const std::string tz = req.Query("tz", "UTC");
                      an::Range range;
                      std::string from, to;
                      if (auto bad = ReadRange(req, ctx, range, from, to)) return *bad;
                      auto h = an::ReadHeatmap(*ctx.store, event, range, tz);
                      if (!h.ok()) {
                        return h.status().code() == StatusCode::kInvalidArgument
                                   ? HttpResponse::Error(400, "bad_parameter", h.status().message())
                                   : Storage(h.status());
                      }
                      json cells = json::array();
                      for (const auto& day : h->cells) cells.push_back(day);
                      return HttpResponse::Json(200, json{{"event", event},
                                                          {"tz", tz},
                                                          {"weekdays", kWeekdays},
                                                          {"cells", std::move(cells)},
                                                          {"total", h->total}}
                                                         .dump());
                    }});
  routes.push_back(
      {"GET", {"v1", "analytics", "intervals"}, [ctx](const HttpRequest& req) {
         const std::string from_event = req.Query("from_event"), to_event = req.Query("to_event");
         bool configured = false;
         for (const auto& p : ctx.intervals) configured |= p.from == from_event && p.to == to_event;
         if (!configured) {
           return HttpResponse::Error(404, "not_configured",
                                      "no interval configured from '" + from_event + "' to '" +
                                          to_event +
                                          "' (analytics.intervals in the engine config)");
         }
         an::Range range;
         std::string from, to;
         if (auto bad = ReadRange(req, ctx, range, from, to)) return *bad;
         auto iv = an::ReadIntervals(*ctx.store, from_event, to_event, range);
         if (!iv.ok()) return Storage(iv.status());
         json buckets = json::array();
         for (size_t b = 0; b < iv->bounds.size(); ++b) {
           const double le = iv->bounds[b];
           // The unbounded bucket has no finite bound: JSON null.
           buckets.push_back({{"le_seconds", std::isfinite(le) ? json(le) : json(nullptr)},
                              {"count", iv->counts[b]}});
         }
         auto q = [&](double p) {
           auto v = an::HistogramQuantile(iv->bounds, iv->counts, p);
           return v ? json(*v) : json(nullptr);
         };
         return HttpResponse::Json(200, json{{"from_event", from_event},
                                             {"to_event", to_event},
                                             {"count", iv->count},
                                             {"buckets", std::move(buckets)},
                                             {"p50_seconds", q(0.5)},
                                             {"p90_seconds", q(0.9)}}
                                            .dump());
       }});
  routes.push_back(
      {"GET", {"v1", "analytics", "distribution"}, [ctx](const HttpRequest& req) {
         const std::string kind = req.Query("kind", "lifecycle");
         if (kind != "rfm" && kind != "lifecycle") {
           return HttpResponse::Error(400, "bad_parameter", "kind must be rfm or lifecycle");
         }
         int64_t days = 0;
         if (!ParseCount(req, "days", 30, 366, days)) {
           return HttpResponse::Error(400, "bad_parameter",
                                      "days must be a whole number from 0 to 366");
         }
         json list = json::array();
         for (const auto& [day, counts] : an::ReadDaily(*ctx.store, kind == "rfm", days)) {
           list.push_back({{"day", FormatTimestamp(day * kDayMs).substr(0, 10)},
                           {"counts", counts.empty() ? json::object() : json(counts)}});
         }
         return HttpResponse::Json(200, json{{"kind", kind}, {"days", std::move(list)}}.dump());
       }});
  return routes;
}

}  // namespace cairn::api
