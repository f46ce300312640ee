// The journeys endpoints (docs/api-journeys-customers.md):
//   GET  /v1/journeys                       every current journey: id, live version,
//                                           status (live|paused), trigger, steps, file
//   GET  /v1/journeys/{id}                  the model (steps, edges) as JSON; ?version=N
//   GET  /v1/journeys/{id}/versions         the versions stored in RocksDB (jv/)
//   GET  /v1/journeys/{id}/versions/{v}/source   that version's YAML (text/yaml)
//   POST /v1/journeys:validate              YAML body -> {ok, diagnostics:[{line,col,message}]}
//   PUT  /v1/journeys/{id}                  YAML body: validated, written atomically to
//                                           the journeys directory, answered once hot
//                                           reload runs it (200) or with 202 + where to poll
//   POST /v1/journeys/{id}:pause, :resume   operator override in RocksDB (flow/overrides.h)
//
// Handlers run on the HttpServer's thread; they read the catalog and RocksDB
// and never write customer state. PUT and pause/resume block that thread
// until the reload took the change, at most kDeployWaitMs.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/http_server.h"
#include "cairn/clock.h"
#include "flow/catalog.h"
#include "state/state_store.h"

namespace cairn::api {

inline constexpr size_t kMaxJourneyBytes = 1024 * 1024;
inline constexpr int kDeployWaitMs = 10000;

struct JourneyRoutesContext {
  state::StateStore* store = nullptr;  // may be null: no versions, no overrides
  std::function<std::shared_ptr<const flow::Catalog>()> catalog;  // may be unset
  // Where PUT writes journeys; empty = deploying through the API is off.
  std::string journeys_dir;
  // The Library's watch interval; 0 = no hot reload (PUT answers 202).
  int reload_ms = 0;
  // Wall clock for the override's timestamp; unset = system clock.
  std::function<TimestampMs()> now;
};

std::vector<Route> JourneyRoutes(JourneyRoutesContext ctx);

// The JSON of one journey in GET /v1/journeys.
nlohmann::json JourneySummaryJson(const journey::Journey& j);
// The model of GET /v1/journeys/{id}: steps with their kinds and
// parameters, and the edges between them.
nlohmann::json JourneyModelJson(const journey::Journey& j);
// {ok, diagnostics:[{line,col,message}]} for a YAML text; never throws.
nlohmann::json ValidateJourneyJson(std::string_view yaml, const std::string& file);

}  // namespace cairn::api
