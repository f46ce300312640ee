#include "api/events_routes.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>

namespace cairn::api {
namespace {

using nlohmann::json;

struct Context {
  kafka::EventPublisher* publisher;
  const Clock* clock;
  ingest::ParseOptions parse;
};

struct Checked {
  std::optional<kafka::OutRecord> record;
  std::string reason;  // when rejected: a DeadLetterReasonName
  std::string message;
};

// One event through the engine's parser, as the consumer would see it.
Checked Check(const Context& ctx, ingest::EventParser& parser, const json& event) {
  Checked out;
  if (!event.is_object()) {
    out.reason = ingest::DeadLetterReasonName(ingest::DeadLetterReason::kMalformed);
    out.message = "an event is a JSON object";
    return out;
  }
  std::string value = event.dump(-1, ' ', false, json::error_handler_t::replace);
  ingest::RawMessage raw;
  raw.payload = value;
  raw.headers = {{"content-type", "application/json"}};
  raw.broker_timestamp_ms = ctx.clock->NowMs();
  Event parsed;
  if (auto err = parser.Parse(raw, parsed)) {
    out.reason = ingest::DeadLetterReasonName(err->reason);
    out.message = err->detail;
    return out;
  }
  out.record = kafka::OutRecord{
      parsed.customer_id(), std::move(value), {{"content-type", "application/json"}}};
  return out;
}

HttpResponse Publish(const Context& ctx, const std::vector<kafka::OutRecord>& records,
                     json rejected) {
  if (!records.empty()) {
    if (auto s = ctx.publisher->Publish(records, kEventsAckTimeoutMs); !s.ok()) {
      return HttpResponse::Error(
          503, "unavailable",
          "not every event was acknowledged by Kafka (" + s.message() + "); send them again");
    }
  }
  json out = {{"accepted", records.size()}, {"rejected", std::move(rejected)}};
  return HttpResponse::Json(200, out.dump(-1, ' ', false, json::error_handler_t::replace));
}

std::optional<HttpResponse> Precheck(const Context& ctx, const HttpRequest& req, json& body) {
  if (ctx.publisher == nullptr) {
    return HttpResponse::Error(503, "unavailable", "no Kafka producer for events");
  }
  if (req.body.size() > kMaxEventsBodyBytes) {
    return HttpResponse::Error(413, "too_large", "body larger than 4 MiB");
  }
  body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return HttpResponse::Error(400, "bad_request", "body is not JSON");
  if (!body.is_object()) return HttpResponse::Error(400, "bad_request", "body is not an object");
  return std::nullopt;
}

HttpResponse OnEvent(const Context& ctx, const HttpRequest& req) {
  json body;
  if (auto bad = Precheck(ctx, req, body)) return std::move(*bad);
  ingest::EventParser parser(ctx.parse);
  Checked c = Check(ctx, parser, body);
  if (!c.record) {
    json err = {{"error",
                 {{"code", "invalid_event"},
                  {"reason", c.reason},
                  {"message", c.reason + ": " + c.message}}}};
    return HttpResponse::Json(400, err.dump(-1, ' ', false, json::error_handler_t::replace));
  }
  return Publish(ctx, {std::move(*c.record)}, json::array());
}

HttpResponse OnBatch(const Context& ctx, const HttpRequest& req) {
  json body;
  if (auto bad = Precheck(ctx, req, body)) return std::move(*bad);
  auto it = body.find("batch");
  if (it == body.end() || !it->is_array()) {
    return HttpResponse::Error(400, "bad_request", "body must be {\"batch\": [...]}");
  }
  if (it->empty()) return HttpResponse::Error(400, "bad_request", "the batch is empty");
  if (it->size() > kMaxBatchEvents) {
    return HttpResponse::Error(413, "too_large", "more than 5000 events in one batch");
  }
  const json* context = nullptr;
  if (auto c = body.find("context"); c != body.end() && c->is_object()) context = &*c;
  ingest::EventParser parser(ctx.parse);
  std::vector<kafka::OutRecord> records;
  json rejected = json::array();
  for (size_t i = 0; i < it->size(); ++i) {
    json& event = (*it)[i];
    if (context != nullptr && event.is_object() && !event.contains("context")) {
      event["context"] = *context;
    }
    Checked c = Check(ctx, parser, event);
    if (c.record) {
      records.push_back(std::move(*c.record));
    } else {
      rejected.push_back({{"index", i}, {"reason", c.reason}, {"message", c.message}});
    }
  }
  return Publish(ctx, records, std::move(rejected));
}

}  // namespace

std::vector<Route> EventsRoutes(kafka::EventPublisher* publisher, const Clock* clock,
                                ingest::ParseOptions parse) {
  auto ctx = std::make_shared<const Context>(Context{publisher, clock, parse});
  return {
      {"POST", {"v1", "events"}, [ctx](const HttpRequest& req) { return OnEvent(*ctx, req); }},
      {"POST", {"v1", "batch"}, [ctx](const HttpRequest& req) { return OnBatch(*ctx, req); }},
  };
}

}  // namespace cairn::api
