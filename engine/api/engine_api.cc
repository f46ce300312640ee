#include "api/engine_api.h"

#include <charconv>
#include <chrono>
#include <nlohmann/json.hpp>

#include "api/analytics_routes.h"
#include "api/backup_routes.h"
#include "api/customer_routes.h"
#include "api/journey_routes.h"
#include "api/profile_routes.h"
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

TimestampMs Now(const EngineApiContext& ctx) {
  if (ctx.now) return ctx.now();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string CustomerJson(int32_t partition, const v1::CustomerState& state,
                         const std::vector<v1::HistoryEntry>& history, const profile::Model* model,
                         TimestampMs now) {
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
              {"labels", state.labels()},
              {"recent", std::move(recent)}};
  if (model != nullptr && !model->empty()) out["profile"] = ProfileJson(*model, state, now);
  return out.dump();
}

nlohmann::json TraceLineJson(const v1::TraceEntry& t) {
  json l = {{"at", FormatTimestamp(t.at_ms())},
            {"journey", t.journey()},
            {"version", t.version()},
            {"action", t.action()}};
  if (t.instance() != 0) l["instance"] = t.instance();
  if (!t.step().empty()) l["step"] = t.step();
  if (!t.channel().empty()) l["channel"] = t.channel();
  if (!t.template_name().empty()) l["template"] = t.template_name();
  if (!t.reason().empty()) l["reason"] = t.reason();
  if (!t.task_id().empty()) l["task_id"] = t.task_id();
  return l;
}

std::string CustomerJourneysJson(const v1::CustomerState& state,
                                 const std::vector<v1::TraceEntry>& trace) {
  json instances = json::array();
  for (const auto& i : state.instances()) {
    json j = {{"journey", i.journey()},
              {"version", i.version()},
              {"instance", i.id()},
              {"status", i.done() ? "exited" : (i.held() ? "held" : "active")},
              {"step", i.step_id()},
              {"entered_at", FormatTimestamp(i.entered_at_ms())},
              {"step_since", FormatTimestamp(i.step_since_ms())},
              {"expires_at", FormatTimestamp(i.expires_at_ms())},
              {"entry_event", ParseObject(i.entry_json())}};
    if (i.wait_due_ms() > 0 && !i.done()) j["waiting_until"] = FormatTimestamp(i.wait_due_ms());
    if (!i.arm().empty()) j["arm"] = i.arm();
    if (i.goal_deadline_ms() > 0) {
      j["goal"] = {{"reached", i.goal_reached()},
                   {"window_ends", FormatTimestamp(i.goal_deadline_ms())}};
    }
    instances.push_back(std::move(j));
  }
  json entries = json::array();
  for (const auto& e : state.journey_entries()) {
    entries.push_back({{"journey", e.journey()},
                       {"entries", e.entries()},
                       {"last_entered_at", FormatTimestamp(e.last_entered_ms())}});
  }
  json armed = json::array();
  for (const auto& a : state.armed()) {
    if (a.tag() == 0) continue;  // fired; waits for the event to occur again
    armed.push_back({{"journey", a.journey()}, {"due", FormatTimestamp(a.due_ms())}});
  }
  json lines = json::array();
  for (const auto& t : trace) lines.push_back(TraceLineJson(t));
  json labels = json::array();
  for (const auto& l : state.labels()) labels.push_back(l);
  json out = {{"id", state.id()},
              {"instances", std::move(instances)},
              {"entries", std::move(entries)},
              {"armed_triggers", std::move(armed)},
              {"labels", std::move(labels)},
              {"trace", std::move(lines)}};
  return out.dump();
}

namespace {

// The "campaigns" section of /v1/status: each schedule journey's runs on
// this instance, and the process's counters.
json CampaignsJson(const std::vector<campaign::CampaignStatus>& list,
                   const campaign::SchedulerMetrics& m) {
  json runs = json::array();
  for (const auto& c : list) {
    runs.push_back({{"journey", c.journey},
                    {"schedule", c.schedule},
                    {"state", c.state},
                    {"rate", c.rate},
                    {"run_at", c.run_at_ms > 0 ? FormatTimestamp(c.run_at_ms) : ""},
                    {"next_run", c.next_run_ms > 0 ? FormatTimestamp(c.next_run_ms) : ""},
                    {"scanned", c.scanned},
                    {"entered", c.entered},
                    {"partition_runs", c.runs},
                    {"partitions_running", c.partitions_running}});
  }
  json process = {{"runs_started", m.runs_started}, {"runs_finished", m.runs_finished},
                  {"scanned", m.scanned},           {"candidates", m.candidates},
                  {"entered", m.entered},           {"throttled", m.throttled}};
  return {{"runs", std::move(runs)}, {"process", std::move(process)}};
}

json DispatchJson(const dispatch::DispatchMetrics& m) {
  json lanes = json::array();
  for (const auto& l : m.lanes) {
    lanes.push_back({{"connector", l.connector},
                     {"type", l.type},
                     {"queued", l.queued},
                     {"in_flight", l.in_flight},
                     {"oldest_queued_ms", l.oldest_queued_ms},
                     {"attempts", l.attempts},
                     {"sent", l.sent},
                     {"failed", l.failed},
                     {"bounced", l.bounced},
                     {"suppressed", l.suppressed},
                     {"unknown", l.unknown},
                     {"retries", l.retries},
                     {"p99_send_ms", l.p99_send_ms}});
  }
  return {{"lanes", lanes},
          {"spilled_partitions", m.spilled_partitions},
          {"ledger_writes", m.recorded},
          {"skipped_ended", m.skipped_ended},
          {"outcomes_published", m.outcomes_published},
          {"outcomes_unacked", m.outcomes_unacked}};
}

json LedgerJson(const v1::LedgerEntry& e) {
  static constexpr const char* kStates[] = {"queued",  "sent",       "failed",
                                            "bounced", "suppressed", "unknown"};
  json attempts = json::array();
  for (const auto& a : e.attempts()) {
    json j = {{"at", FormatTimestamp(a.at_ms())},
              {"connector", a.connector()},
              {"result", a.result()},
              {"code", a.code()},
              {"duration_ms", a.duration_ms()}};
    if (!a.provider_id().empty()) j["provider_id"] = a.provider_id();
    if (!a.detail().empty()) j["detail"] = a.detail();
    attempts.push_back(std::move(j));
  }
  const int state = static_cast<int>(e.state());
  json out = {{"task_id", e.task_id()}, {"customer_id", e.customer_id()},
              {"journey", e.journey()}, {"step", e.step()},
              {"channel", e.channel()}, {"state", state >= 0 && state < 6 ? kStates[state] : "?"},
              {"attempts", attempts},   {"updated_at", FormatTimestamp(e.updated_ms())}};
  if (!e.reason().empty()) out["reason"] = e.reason();
  if (!e.provider_id().empty()) out["provider_id"] = e.provider_id();
  if (e.next_attempt_ms() > 0) out["next_attempt_at"] = FormatTimestamp(e.next_attempt_ms());
  return out;
}

}  // namespace

std::vector<Route> EngineRoutes(EngineApiContext ctx) {
  std::vector<Route> routes;
  // The probes answer without a token (kubelet has none); they hold no data.
  routes.push_back(
      {"GET",
       {"healthz"},
       [](const HttpRequest&) { return HttpResponse::Json(200, R"({"status":"ok"})"); },
       Exposure::kAdmin,
       Access::kOpen});
  routes.push_back({"GET",
                    {"readyz"},
                    [ctx](const HttpRequest&) {
                      const bool ready = ctx.store != nullptr && ctx.ready && ctx.ready();
                      if (!ready) {
                        return HttpResponse::Error(503, "not_ready", "no partitions assigned yet");
                      }
                      if (ctx.lag) {
                        for (const auto& [partition, lag] : ctx.lag()) {
                          if (lag < 0 || lag > ctx.ready_max_lag) {
                            return HttpResponse::Error(
                                503, "catching_up",
                                "partition " + std::to_string(partition) +
                                    (lag < 0 ? ": high watermark not known yet"
                                             : " is " + std::to_string(lag) + " messages behind"));
                          }
                        }
                      }
                      return HttpResponse::Json(200, R"({"status":"ready"})");
                    },
                    Exposure::kAdmin,
                    Access::kOpen});
  routes.push_back({"GET", {"v1", "status"}, [ctx](const HttpRequest&) {
                      json parts = json::array();
                      uint64_t events = 0, dups = 0, dead = 0, customers = 0, skipped = 0,
                               forwarded = 0, merged = 0;
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
                        forwarded += cp.forwarded();
                        merged += cp.merged_away();
                      }
                      json out = {{"events", events},           {"duplicates", dups},
                                  {"dead_letters", dead},       {"customers", customers - merged},
                                  {"offsets_skipped", skipped}, {"partitions", parts}};
                      out["identity"] = {{"merged_away", merged}, {"forwarded", forwarded}};
                      if (ctx.metrics) {
                        auto m = ctx.metrics();
                        out["process"] = {{"messages", m.messages},
                                          {"events", m.events},
                                          {"batches", m.batches},
                                          {"timers_fired", m.timers_fired},
                                          {"outbox_published", m.tasks_published},
                                          {"outbox_unacked", m.outbox_unacked},
                                          {"identity_records", m.identity_records},
                                          {"forwarded", m.forwarded},
                                          {"merged_away", m.merged_away},
                                          {"p99_batch_ms", m.p99_batch_ms},
                                          {"assigned_partitions", m.assigned_partitions},
                                          {"erasures", m.erasures},
                                          {"erased_dropped", m.erased_dropped},
                                          {"controls_refused", m.controls_refused}};
                        out["governance"] = m.governance;
                      }
                      if (ctx.dispatch) out["dispatch"] = DispatchJson(ctx.dispatch());
                      if (ctx.campaigns) {
                        out["campaigns"] = CampaignsJson(
                            ctx.campaigns(),
                            ctx.metrics ? ctx.metrics().campaigns : campaign::SchedulerMetrics{});
                      }
                      return HttpResponse::Json(200, out.dump());
                    }});
  routes.push_back({"GET", {"v1", "tasks", "*"}, [ctx](const HttpRequest& req) {
                      if (!ctx.ledger) {
                        return HttpResponse::Error(404, "not_found", "nothing is dispatched here");
                      }
                      auto e = ctx.ledger(req.segments[2]);
                      if (!e) {
                        return HttpResponse::Error(404, "not_found",
                                                   "no delivery attempt recorded for this task");
                      }
                      return HttpResponse::Json(200, LedgerJson(*e).dump());
                    }});
  for (auto& r : ProfileRoutes(ctx.store, ctx.events_topic, ctx.catalog)) {
    routes.push_back(std::move(r));
  }
  CustomerRoutesContext customers;
  customers.store = ctx.store;
  customers.events_topic = ctx.events_topic;
  customers.catalog = ctx.catalog;
  customers.now = ctx.now;
  customers.publisher = ctx.control_publisher;
  customers.erasure_secret = ctx.erasure_secret;
  for (auto& r : CustomerRoutes(std::move(customers))) routes.push_back(std::move(r));
  for (auto& r :
       JourneyRoutes({ctx.store, ctx.catalog, ctx.journeys_dir, ctx.journeys_reload_ms})) {
    routes.push_back(std::move(r));
  }
  for (auto& r : AnalyticsRoutes({ctx.store, ctx.catalog, ctx.analytics_intervals, ctx.now})) {
    routes.push_back(std::move(r));
  }
  for (auto& r : BackupRoutes(ctx.store, ctx.backup_dir)) routes.push_back(std::move(r));
  return routes;
}

}  // namespace cairn::api
