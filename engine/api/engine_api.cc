#include "api/engine_api.h"

#include <charconv>
#include <nlohmann/json.hpp>

#include "cairn/murmur2.h"
#include "cairn/time.h"

namespace cairn::api {
namespace {

using nlohmann::json;

json ParseObject(const std::string& text) {
  if (text.empty()) return json::object();
  auto j = json::parse(text, nullptr, false);
  return j.is_discarded() ? json::object() : j;
}

// Finds the partition holding `id`: first the one the murmur2 partitioner
// picks, then every partition this store has a checkpoint for (the apps'
// producers may partition differently).
std::optional<std::pair<int32_t, v1::CustomerState>> FindCustomer(state::StateStore& store,
                                                                  const std::string& topic,
                                                                  const std::string& id) {
  auto checkpoints = store.Checkpoints(topic);
  std::vector<int32_t> order;
  if (!checkpoints.empty()) {
    order.push_back(PartitionForKey(id, checkpoints.back().first + 1));
  }
  for (const auto& [p, cp] : checkpoints) {
    if (order.empty() || p != order.front()) order.push_back(p);
  }
  for (int32_t p : order) {
    auto found = store.GetCustomer(p, id);
    if (found.ok() && found->has_value()) return std::make_pair(p, std::move(**found));
  }
  return std::nullopt;
}

}  // namespace

std::string CustomerJson(int32_t partition, const v1::CustomerState& state,
                         const std::vector<v1::HistoryEntry>& history) {
  json events = json::object();
  for (const auto& s : state.events()) {
    json e = {{"count", s.count()},
              {"first_at", FormatTimestamp(s.first_at_ms())},
              {"last_at", FormatTimestamp(s.last_at_ms())}};
    if (!s.sums().empty()) {
      json sums = json::object();
      for (const auto& [k, v] : s.sums()) sums[k] = v;
      e["sums"] = std::move(sums);
    }
    events[s.name()] = std::move(e);
  }
  json recent = json::array();
  for (const auto& h : history) {
    json e = {{"event", h.name()},
              {"type", std::string(EventTypeName(static_cast<EventType>(h.type())))},
              {"timestamp", FormatTimestamp(h.timestamp_ms())}};
    if (!h.message_id().empty()) e["messageId"] = h.message_id();
    if (!h.properties_json().empty()) e["properties"] = ParseObject(h.properties_json());
    recent.push_back(std::move(e));
  }
  json out = {{"id", state.id()},
              {"partition", partition},
              {"traits", ParseObject(state.traits_json())},
              {"first_seen", FormatTimestamp(state.first_seen_ms())},
              {"last_seen", FormatTimestamp(state.last_seen_ms())},
              {"events_total", state.events_total()},
              {"events", std::move(events)},
              {"recent", std::move(recent)}};
  return out.dump();
}

std::vector<Route> EngineRoutes(EngineApiContext ctx) {
  std::vector<Route> routes;
  routes.push_back({"GET", {"healthz"}, [](const HttpRequest&) {
                      return HttpResponse::Json(200, R"({"status":"ok"})");
                    }});
  routes.push_back({"GET", {"readyz"}, [ctx](const HttpRequest&) {
                      const bool ready = ctx.store != nullptr && ctx.ready && ctx.ready();
                      return ready ? HttpResponse::Json(200, R"({"status":"ready"})")
                                   : HttpResponse::Error(503, "not_ready",
                                                         "no partitions assigned yet");
                    }});
  routes.push_back(
      {"GET", {"v1", "customers", "*"}, [ctx](const HttpRequest& req) {
         const std::string& id = req.segments[2];
         const std::string history_text = req.Query("history", "20");
         size_t limit = 0;
         const auto [end, ec] =
             std::from_chars(history_text.data(), history_text.data() + history_text.size(), limit);
         if (ec != std::errc() || end != history_text.data() + history_text.size() ||
             limit > 1000) {
           return HttpResponse::Error(400, "bad_parameter",
                                      "history must be a whole number from 0 to 1000");
         }
         auto found = FindCustomer(*ctx.store, ctx.events_topic, id);
         if (!found) {
           return HttpResponse::Error(404, "customer_not_found",
                                      "no customer with id '" + id + "'");
         }
         auto history = ctx.store->History(found->first, id, limit);
         if (!history.ok()) {
           return HttpResponse::Error(500, "storage", history.status().message());
         }
         return HttpResponse::Json(200, CustomerJson(found->first, found->second, *history));
       }});
  routes.push_back({"GET", {"v1", "status"}, [ctx](const HttpRequest&) {
                      json parts = json::array();
                      uint64_t events = 0, dups = 0, dead = 0, customers = 0, skipped = 0;
                      for (const auto& [p, cp] : ctx.store->Checkpoints(ctx.events_topic)) {
                        parts.push_back({{"partition", p},
                                         {"next_offset", cp.next_offset()},
                                         {"events", cp.events()},
                                         {"duplicates", cp.duplicates()},
                                         {"dead_letters", cp.dead_letters()},
                                         {"customers", cp.customers()},
                                         {"offsets_skipped", cp.offsets_skipped()}});
                        events += cp.events();
                        dups += cp.duplicates();
                        dead += cp.dead_letters();
                        customers += cp.customers();
                        skipped += cp.offsets_skipped();
                      }
                      json out = {{"events", events},           {"duplicates", dups},
                                  {"dead_letters", dead},       {"customers", customers},
                                  {"offsets_skipped", skipped}, {"partitions", parts}};
                      if (ctx.metrics) {
                        auto m = ctx.metrics();
                        out["process"] = {{"messages", m.messages},
                                          {"events", m.events},
                                          {"batches", m.batches},
                                          {"p99_batch_ms", m.p99_batch_ms},
                                          {"assigned_partitions", m.assigned_partitions}};
                      }
                      return HttpResponse::Json(200, out.dump());
                    }});
  return routes;
}

}  // namespace cairn::api
