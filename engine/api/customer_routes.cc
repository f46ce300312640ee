#include "api/customer_routes.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <limits>
#include <nlohmann/json.hpp>

#include "api/engine_api.h"
#include "cairn/event.h"
#include "cairn/murmur2.h"
#include "cairn/time.h"
#include "erasure/erasure.h"

namespace cairn::api {
namespace {

using nlohmann::json;

constexpr size_t kRingReadAll = std::numeric_limits<size_t>::max();

TimestampMs Now(const CustomerRoutesContext& ctx) {
  if (ctx.now) return ctx.now();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A whole number in [0, max], or nullopt.
std::optional<size_t> ParseCount(const std::string& text, size_t max) {
  size_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v > max) return std::nullopt;
  return v;
}

json ParseObject(const std::string& text) {
  if (text.empty()) return json::object();
  auto j = json::parse(text, nullptr, false);
  return j.is_discarded() ? json::object() : j;
}

// 404 for an unknown customer: `erased` when a tombstone says so.
HttpResponse Missing(const CustomerRoutesContext& ctx, const std::string& id) {
  if (!ctx.erasure_secret.empty()) {
    if (auto at = erasure::ReadTombstone(*ctx.store, ctx.erasure_secret, id)) {
      return HttpResponse::Error(404, "erased",
                                 "this customer was erased (GDPR) at " + FormatTimestamp(*at));
    }
  }
  return HttpResponse::Error(404, "customer_not_found", "no customer with id '" + id + "'");
}

// An id merged into another customer (engine/identity): a permanent
// redirect to the survivor, with a body that says so.
HttpResponse MergedInto(const v1::CustomerState& pointer, std::string_view suffix = "") {
  const std::string& to = pointer.identity().forwarded_to();
  auto r = HttpResponse::Json(308, json{{"id", pointer.id()}, {"merged_into", to}}.dump());
  std::string path = "/v1/customers/";
  for (unsigned char c : to) {  // percent-encode all but RFC 3986 unreserved characters
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      path += static_cast<char>(c);
    } else {
      path += fmt::format("%{:02X}", c);
    }
  }
  r.headers.emplace_back("Location", path + std::string(suffix));
  return r;
}

// One timeline item: its time (for ordering) and its JSON.
struct Item {
  TimestampMs at = 0;
  int order = 0;  // at equal times, newest first: milestones, decisions, then events
  uint64_t seq = 0;
  json body;
};

HttpResponse Timeline(const CustomerRoutesContext& ctx, const HttpRequest& req) {
  const std::string& id = req.segments[2];
  auto limit = ParseCount(req.Query("limit", "50"), 1000);
  if (!limit || *limit == 0) {
    return HttpResponse::Error(400, "bad_parameter", "limit must be a whole number from 1 to 1000");
  }
  TimestampMs before = std::numeric_limits<TimestampMs>::max();
  if (const std::string b = req.Query("before"); !b.empty()) {
    int64_t ms = 0;
    const auto [end, ec] = std::from_chars(b.data(), b.data() + b.size(), ms);
    if (ec == std::errc() && end == b.data() + b.size()) {
      before = ms;
    } else if (auto t = ParseTimestamp(b)) {
      before = *t;
    } else {
      return HttpResponse::Error(400, "bad_parameter",
                                 "before must be an RFC 3339 time or milliseconds since the epoch");
    }
  }
  auto found = FindCustomer(*ctx.store, ctx.events_topic, id);
  if (!found || found->second.identity().node()) return Missing(ctx, id);
  if (!found->second.identity().forwarded_to().empty()) {
    return MergedInto(found->second, "/timeline");
  }
  auto history = ctx.store->History(found->first, id, kRingReadAll);
  if (!history.ok()) return HttpResponse::Error(500, "storage", history.status().message());
  auto trace = ctx.store->Trace(found->first, id, kRingReadAll);
  if (!trace.ok()) return HttpResponse::Error(500, "storage", trace.status().message());

  std::vector<Item> items;
  for (const auto& h : *history) {
    json e = {{"type", "event"},
              {"at", FormatTimestamp(h.timestamp_ms())},
              {"event", h.name()},
              {"event_type", std::string(EventTypeName(static_cast<EventType>(h.type())))}};
    if (!h.message_id().empty()) e["messageId"] = h.message_id();
    if (!h.properties_json().empty()) e["properties"] = ParseObject(h.properties_json());
    items.push_back({h.timestamp_ms(), 0, h.seq(), std::move(e)});
  }
  for (const auto& t : *trace) {
    json d = TraceLineJson(t);
    d["type"] = "decision";
    items.push_back({t.at_ms(), 1, t.seq(), std::move(d)});
  }
  // Journey instance milestones the trace ring may have lost: where each
  // open instance is now and what it waits for.
  for (const auto& i : found->second.instances()) {
    if (i.done()) continue;
    json m = {{"type", "decision"},
              {"action", i.held() ? "held" : "in_step"},
              {"milestone", true},
              {"at", FormatTimestamp(i.step_since_ms())},
              {"journey", i.journey()},
              {"version", i.version()},
              {"instance", i.id()},
              {"step", i.step_id()},
              {"entered_at", FormatTimestamp(i.entered_at_ms())}};
    if (i.wait_due_ms() > 0) m["waiting_until"] = FormatTimestamp(i.wait_due_ms());
    items.push_back({i.step_since_ms(), 2, i.id(), std::move(m)});
  }
  std::erase_if(items, [&](const Item& it) { return it.at >= before; });
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    if (a.at != b.at) return a.at > b.at;
    if (a.order != b.order) return a.order > b.order;
    return a.seq > b.seq;
  });
  const bool more = items.size() > *limit;
  if (more) items.resize(*limit);
  json list = json::array();
  for (auto& it : items) list.push_back(std::move(it.body));
  json out = {{"id", id}, {"partition", found->first}, {"items", std::move(list)}};
  if (more) out["next_before"] = FormatTimestamp(items.back().at);
  out["kept"] = {{"events", history->size()}, {"decisions", trace->size()}};
  return HttpResponse::Json(200, out.dump());
}

HttpResponse Trace(const CustomerRoutesContext& ctx, const HttpRequest& req) {
  const std::string& id = req.segments[2];
  auto limit = ParseCount(req.Query("limit", "100"), 1000);
  if (!limit) {
    return HttpResponse::Error(400, "bad_parameter", "limit must be a whole number from 0 to 1000");
  }
  const std::string journey = req.Query("journey");
  auto found = FindCustomer(*ctx.store, ctx.events_topic, id);
  if (!found || found->second.identity().node()) return Missing(ctx, id);
  if (!found->second.identity().forwarded_to().empty()) return MergedInto(found->second, "/trace");
  auto trace = ctx.store->Trace(found->first, id, kRingReadAll);
  if (!trace.ok()) return HttpResponse::Error(500, "storage", trace.status().message());
  json lines = json::array();
  for (const auto& t : *trace) {
    if (lines.size() >= *limit) break;
    if (!journey.empty() && t.journey() != journey) continue;
    lines.push_back(TraceLineJson(t));
  }
  json out = {{"id", id}, {"trace", std::move(lines)}};
  if (!journey.empty()) out["journey"] = journey;
  return HttpResponse::Json(200, out.dump());
}

HttpResponse Erase(const CustomerRoutesContext& ctx, const HttpRequest& req) {
  const std::string& id = req.segments[2];
  if (ctx.publisher == nullptr || ctx.erasure_secret.empty()) {
    return HttpResponse::Error(503, "unavailable", "erasure is not available on this engine");
  }
  if (id.empty() || id.size() > 1024) {
    return HttpResponse::Error(400, "bad_parameter", "a customer id is 1 to 1024 bytes");
  }
  // No "found" check: the customer may live on another instance's partitions.
  erasure::Request request{id, erasure::NewErasureId(), ctx.clock->NowMs()};
  const erasure::Message m = erasure::ControlMessage(ctx.erasure_secret, request);
  if (auto s = ctx.publisher->PublishRecord(m.key, m.payload, m.headers, kErasureAckTimeoutMs);
      !s.ok()) {
    return HttpResponse::Error(503, "unavailable",
                               "the erasure was not acknowledged by the broker (" + s.message() +
                                   "); send the request again");
  }
  spdlog::info("erasure {} requested", request.erasure_id);  // no customer id in logs
  json out = {{"erasure_id", request.erasure_id},
              {"status", "accepted"},
              {"erased_at", FormatTimestamp(request.at_ms)},
              {"message",
               "the engine that owns this customer erases them when it reads the request; "
               "GET /v1/customers/{id} then answers 404 erased"}};
  HttpResponse r = HttpResponse::Json(202, out.dump());
  r.headers.emplace_back("Location", req.path);
  return r;
}

}  // namespace

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

std::vector<Route> CustomerRoutes(CustomerRoutesContext ctx) {
  std::vector<Route> routes;
  routes.push_back({"GET", {"v1", "customers", "*"}, [ctx](const HttpRequest& req) {
                      const std::string& id = req.segments[2];
                      auto limit = ParseCount(req.Query("history", "20"), 1000);
                      if (!limit) {
                        return HttpResponse::Error(400, "bad_parameter",
                                                   "history must be a whole number from 0 to 1000");
                      }
                      auto found = FindCustomer(*ctx.store, ctx.events_topic, id);
                      if (!found || found->second.identity().node()) return Missing(ctx, id);
                      if (!found->second.identity().forwarded_to().empty()) {
                        return MergedInto(found->second);
                      }
                      auto history = ctx.store->History(found->first, id, *limit);
                      if (!history.ok()) {
                        return HttpResponse::Error(500, "storage", history.status().message());
                      }
                      auto catalog = ctx.catalog ? ctx.catalog() : nullptr;
                      return HttpResponse::Json(
                          200, CustomerJson(found->first, found->second, *history,
                                            catalog != nullptr ? &catalog->profile() : nullptr,
                                            Now(ctx)));
                    }});
  routes.push_back({"GET", {"v1", "customers", "*", "journeys"}, [ctx](const HttpRequest& req) {
                      const std::string& id = req.segments[2];
                      auto limit = ParseCount(req.Query("trace", "100"), 1000);
                      if (!limit) {
                        return HttpResponse::Error(400, "bad_parameter",
                                                   "trace must be a whole number from 0 to 1000");
                      }
                      auto found = FindCustomer(*ctx.store, ctx.events_topic, id);
                      if (!found || found->second.identity().node()) return Missing(ctx, id);
                      if (!found->second.identity().forwarded_to().empty()) {
                        return MergedInto(found->second, "/journeys");
                      }
                      auto trace = ctx.store->Trace(found->first, id, *limit);
                      if (!trace.ok())
                        return HttpResponse::Error(500, "storage", trace.status().message());
                      return HttpResponse::Json(200, CustomerJourneysJson(found->second, *trace));
                    }});
  routes.push_back({"GET", {"v1", "customers", "*", "timeline"}, [ctx](const HttpRequest& req) {
                      return Timeline(ctx, req);
                    }});
  routes.push_back({"GET", {"v1", "customers", "*", "trace"}, [ctx](const HttpRequest& req) {
                      return Trace(ctx, req);
                    }});
  routes.push_back({"DELETE", {"v1", "customers", "*"}, [ctx](const HttpRequest& req) {
                      return Erase(ctx, req);
                    }});
  return routes;
}

}  // namespace cairn::api
