#include "api/labels_routes.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>

namespace cairn::api {
namespace {

using nlohmann::json;

HttpResponse Batch(labels::LabelPublisher* publisher, const HttpRequest& req) {
  if (publisher == nullptr) {
    return HttpResponse::Error(503, "unavailable", "no Kafka producer for labels");
  }
  if (req.body.size() > kMaxBatchBytes) {
    return HttpResponse::Error(413, "too_large", "body larger than 5 MiB");
  }
  json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return HttpResponse::Error(400, "bad_request", "body is not JSON");
  if (!body.is_object() || !body.contains("rows") || !body["rows"].is_array()) {
    return HttpResponse::Error(400, "bad_request", "body must be {\"rows\": [...]}");
  }
  const json& rows = body["rows"];
  if (rows.size() > kMaxBatchRows) {
    return HttpResponse::Error(413, "too_large", "more than 10000 rows");
  }
  json rejected = json::array();
  std::vector<labels::LabelRow> events;
  labels::RowCombiner combiner;
  size_t accepted = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    auto row = labels::RowFromJson(rows[i]);
    if (auto* bad = std::get_if<labels::Rejection>(&row)) {
      rejected.push_back({{"index", i}, {"reason", bad->reason + ": " + bad->message}});
      continue;
    }
    ++accepted;
    if (auto done = combiner.Add(std::get<labels::LabelRow>(std::move(row)))) {
      events.push_back(std::move(*done));
    }
  }
  if (auto done = combiner.Finish()) events.push_back(std::move(*done));
  if (auto s = publisher->Publish(events, "api", kAckTimeoutMs); !s.ok()) {
    return HttpResponse::Error(503, "unavailable",
                               "not every event was acknowledged (" + s.message() +
                                   "); the batch is idempotent, send it again");
  }
  json out = {{"accepted", accepted}, {"events", events.size()}, {"rejected", std::move(rejected)}};
  return HttpResponse::Json(200, out.dump());
}

}  // namespace

std::vector<Route> LabelRoutes(labels::LabelPublisher* publisher) {
  return {{"POST", {"v1", "labels:batch"}, [publisher](const HttpRequest& req) {
             return Batch(publisher, req);
           }}};
}

}  // namespace cairn::api
