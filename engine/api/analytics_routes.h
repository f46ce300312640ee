// The analytics endpoints (docs/analytics.md, docs/openapi-analytics.yaml):
//   GET /v1/analytics/journeys                 every journey's totals over ?from=&to=
//   GET /v1/analytics/journeys/{id}            totals, steps, funnel, A/B arms, holdout, uplift
//   GET /v1/analytics/journeys/{id}/paths      most frequent step sequences (?limit=, max 100)
//   GET /v1/analytics/heatmap                  ?event= by weekday x hour in ?tz= (IANA, UTC)
//   GET /v1/analytics/intervals                ?from_event=&to_event= histogram, p50, p90
//   GET /v1/analytics/distribution             ?kind=rfm|lifecycle&days=N per day
// `from`/`to`: RFC 3339 or epoch ms; default all time. Everything is read from
// the counters engine/analytics keeps incrementally; no history is scanned.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "analytics/options.h"
#include "api/http_server.h"
#include "cairn/clock.h"
#include "flow/catalog.h"
#include "state/state_store.h"

namespace cairn::api {

struct AnalyticsContext {
  state::StateStore* store = nullptr;                             // must outlive the server
  std::function<std::shared_ptr<const flow::Catalog>()> catalog;  // may be unset
  std::vector<analytics::IntervalPair> intervals;                 // the configured pairs
  std::function<TimestampMs()> now;                               // unset: wall clock
};

std::vector<Route> AnalyticsRoutes(AnalyticsContext ctx);

}  // namespace cairn::api
