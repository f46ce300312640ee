// The engine's HTTP endpoints:
//   GET /healthz               the process is alive (never asks Kafka)
//   GET /readyz                RocksDB open, partitions assigned and their lag caught up
//                              (at most ready_max_lag behind; see lag below), else 503
//   /v1/customers/{id}...      profile, journeys, timeline, trace, GDPR erasure
//                              (api/customer_routes.h)
//   /v1/journeys...            list, model, versions, source, validate, deploy,
//                              pause/resume (api/journey_routes.h)
//   GET /v1/status             ingest totals (from the checkpoints), live metrics, campaigns
//   GET /v1/segments, /v1/segments/{name}, /v1/lifecycle  (api/profile_routes.h)
//   GET /v1/analytics/...      journey analytics (api/analytics_routes.h)
//   POST /v1/admin/backup      a RocksDB checkpoint (api/backup_routes.h)
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "analytics/options.h"
#include "api/http_server.h"
#include "dispatch/dispatcher.h"
#include "flow/catalog.h"
#include "labels/label_publisher.h"
#include "runtime/engine.h"
#include "state/state_store.h"

namespace cairn::api {

struct EngineApiContext {
  state::StateStore* store = nullptr;  // must outlive the server
  std::string events_topic = "cairn.events";
  std::function<bool()> ready;                                    // partitions assigned?
  std::function<runtime::EngineMetrics()> metrics;                // live counters
  std::function<std::shared_ptr<const flow::Catalog>()> catalog;  // journeys; may be unset
  // Delivery (unset when nothing is dispatched): lane counters and the ledger.
  std::function<dispatch::DispatchMetrics()> dispatch;
  std::function<std::optional<v1::LedgerEntry>(const std::string& task_id)> ledger;
  // The engine's "now" (event time on the event-time clock); unset: wall clock.
  std::function<TimestampMs()> now;
  // Schedule-triggered journeys (engine/campaign); unset: no "campaigns" section.
  std::function<std::vector<campaign::CampaignStatus>()> campaigns;
  // Messages behind per partition (runtime::Engine::ConsumerLag; -1 = high
  // watermark not known yet, which counts as not caught up). Unset: /readyz
  // looks at the assignment only.
  std::function<std::map<int32_t, int64_t>()> lag;
  int64_t ready_max_lag = 1000;
  // Where PUT /v1/journeys/{id} writes (empty: off) and the hot-reload interval.
  std::string journeys_dir;
  int journeys_reload_ms = 0;
  // GDPR erasure (api/customer_routes.h): the producer of the control event
  // and the secret that signs it; unset: DELETE /v1/customers/{id} answers 503.
  labels::LabelPublisher* control_publisher = nullptr;
  std::string erasure_secret;
  // Conversion-interval pairs configured (analytics.intervals).
  std::vector<analytics::IntervalPair> analytics_intervals;
  // Where POST /v1/admin/backup writes (storage.backup_dir); empty: it answers 503.
  std::string backup_dir;
};

std::vector<Route> EngineRoutes(EngineApiContext ctx);

// The JSON the customer endpoint returns, from a stored record and history;
// with a profile model also its computed traits (valued at `now`), RFM
// scores, lifecycle stage, segments and labels.
std::string CustomerJson(int32_t partition, const v1::CustomerState& state,
                         const std::vector<v1::HistoryEntry>& history,
                         const profile::Model* model = nullptr, TimestampMs now = 0);

// One decision-trace line as the API shows it.
nlohmann::json TraceLineJson(const v1::TraceEntry& t);

// The JSON of GET /v1/customers/{id}/journeys.
std::string CustomerJourneysJson(const v1::CustomerState& state,
                                 const std::vector<v1::TraceEntry>& trace);

}  // namespace cairn::api
