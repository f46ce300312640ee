#include "api/profile_routes.h"

#include <charconv>

#include "cairn/time.h"
#include "profile/profile_store.h"
#include "profile/profiler.h"
#include "profile/values.h"

namespace cairn::api {
namespace {

using nlohmann::json;

constexpr int64_t kDayMs = int64_t{24} * 3600 * 1000;

bool ParseLimit(const HttpRequest& req, const std::string& name, size_t fallback, size_t max,
                size_t& out) {
  const std::string text = req.Query(name, std::to_string(fallback));
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && out <= max;
}

json SegmentJson(const profile::Segment& s, int64_t size) {
  json j = {{"name", s.name}, {"condition", s.when.source}, {"size", size}};
  if (!s.description.empty()) j["description"] = s.description;
  return j;
}

int64_t SizeOf(const v1::ProfileStats& stats, const std::string& name) {
  auto it = stats.segments().find(name);
  return it == stats.segments().end() ? 0 : it->second;
}

}  // namespace

json ProfileJson(const profile::Model& model, const v1::CustomerState& state, TimestampMs now) {
  const auto& p = state.profile();
  json computed = json::object();
  v1::ProfileState scratch;
  const auto& traits = profile::ForReading(model, p, scratch);
  for (size_t i = 0; i < model.traits.size(); ++i) {
    const auto v = profile::ComputedValue(model, i, &traits, now);
    if (!v.is_null()) computed[model.traits[i].name] = json::parse(v.ToJson(), nullptr, false);
  }
  json segments = json::array();
  for (std::string_view s : profile::SegmentNames(p)) segments.push_back(s);
  json out = {{"computed", std::move(computed)}, {"segments", std::move(segments)}};
  if (model.rfm.declared && p.rfm_r() > 0) {
    out["rfm"] = {{"r", p.rfm_r()}, {"f", p.rfm_f()}, {"m", p.rfm_m()}, {"group", p.rfm_group()}};
  }
  if (!p.stage().empty()) {
    out["stage"] = {{"name", p.stage()}, {"since", FormatTimestamp(p.stage_since_ms())}};
  }
  if (p.due_ms() > 0) out["next_recheck"] = FormatTimestamp(p.due_ms());
  return out;
}

std::vector<Route> ProfileRoutes(state::StateStore* store, std::string events_topic,
                                 std::function<std::shared_ptr<const flow::Catalog>()> catalog) {
  std::vector<Route> routes;
  auto model = [catalog]() -> std::shared_ptr<const profile::Model> {
    auto c = catalog ? catalog() : nullptr;
    return c != nullptr ? c->profile_ptr() : std::make_shared<const profile::Model>();
  };
  routes.push_back({"GET", {"v1", "segments"}, [=](const HttpRequest&) {
                      const auto m = model();
                      const auto stats = profile::SummedStats(*store, events_topic);
                      json list = json::array();
                      for (const auto& s : m->segments) {
                        list.push_back(SegmentJson(s, SizeOf(stats, s.name)));
                      }
                      return HttpResponse::Json(200, json{{"segments", std::move(list)}}.dump());
                    }});
  routes.push_back(
      {"GET", {"v1", "segments", "*"}, [=](const HttpRequest& req) {
         const std::string& name = req.segments[2];
         size_t sample = 0;
         if (!ParseLimit(req, "sample", 20, 1000, sample)) {
           return HttpResponse::Error(400, "bad_parameter",
                                      "sample must be a whole number from 0 to 1000");
         }
         const auto m = model();
         const profile::Segment* seg = nullptr;
         for (const auto& s : m->segments) {
           if (s.name == name) seg = &s;
         }
         if (seg == nullptr) {
           return HttpResponse::Error(404, "segment_not_found", "no segment named '" + name + "'");
         }
         json j = SegmentJson(*seg, SizeOf(profile::SummedStats(*store, events_topic), name));
         json members = json::array();
         for (const auto& mbr : profile::SegmentSample(*store, name, sample)) {
           members.push_back(mbr.customer);
         }
         j["sample"] = std::move(members);
         return HttpResponse::Json(200, j.dump());
       }});
  routes.push_back(
      {"GET", {"v1", "lifecycle"}, [=](const HttpRequest& req) {
         size_t days = 0;
         if (!ParseLimit(req, "days", 30, 366, days)) {
           return HttpResponse::Error(400, "bad_parameter",
                                      "days must be a whole number from 0 to 366");
         }
         const auto m = model();
         const auto stats = profile::SummedStats(*store, events_topic);
         json stages = json::array();
         for (const auto& st : m->lifecycle.stages) {
           auto it = stats.stages().find(st);
           stages.push_back(
               {{"stage", st}, {"customers", it == stats.stages().end() ? 0 : it->second}});
         }
         // Days of the stored history, ending at the latest day recorded.
         const auto all = profile::DailyStages(*store, 0, INT32_MAX);
         json history = json::array();
         if (!all.empty() && days > 0) {
           const int64_t last = all.rbegin()->first;
           for (auto it = all.lower_bound(last - static_cast<int64_t>(days) + 1); it != all.end();
                ++it) {
             history.push_back({{"day", FormatTimestamp(it->first * kDayMs).substr(0, 10)},
                                {"stages", it->second}});
           }
         }
         return HttpResponse::Json(
             200, json{{"stages", std::move(stages)}, {"history", std::move(history)}}.dump());
       }});
  return routes;
}

}  // namespace cairn::api
