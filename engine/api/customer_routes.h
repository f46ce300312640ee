// The customers endpoints (docs/api-journeys-customers.md):
//   GET    /v1/customers/{id}            profile, traits, labels, segments, stage,
//                                        recent events (?history=N); 404 customer_not_found,
//                                        or 404 `erased` after a GDPR erasure
//   GET    /v1/customers/{id}/journeys   instances, entries, armed triggers, decision trace
//   GET    /v1/customers/{id}/timeline   events and decisions merged, newest first
//                                        (?limit=1..1000, default 50; ?before=RFC 3339 or ms)
//   GET    /v1/customers/{id}/trace      the decision trace (?journey=, ?limit=)
//   DELETE /v1/customers/{id}            GDPR erasure: a signed control event to the
//                                        events topic (engine/erasure), 202 + erasure id
//                                        once the broker acknowledged it
//
// Handlers run on the HttpServer's thread and only read RocksDB; the
// erasure itself happens on the ingest thread that owns the customer.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/http_server.h"
#include "cairn/clock.h"
#include "flow/catalog.h"
#include "labels/label_publisher.h"
#include "state/state_store.h"

namespace cairn::api {

inline constexpr int kErasureAckTimeoutMs = 30000;

struct CustomerRoutesContext {
  state::StateStore* store = nullptr;  // must outlive the server
  std::string events_topic = "cairn.events";
  std::function<std::shared_ptr<const flow::Catalog>()> catalog;  // may be unset
  std::function<TimestampMs()> now;  // the engine's "now" for computed traits; unset: wall
  // Produces the erasure control event (keyed by the customer id to the
  // events topic); null: DELETE answers 503.
  labels::LabelPublisher* publisher = nullptr;
  // engine/erasure's secret: signs control events, salts tombstones. Empty:
  // DELETE answers 503 and GET does not look for tombstones.
  std::string erasure_secret;
  const Clock* clock = &SystemClock::Instance();  // the erasure time
};

std::vector<Route> CustomerRoutes(CustomerRoutesContext ctx);

// The partition holding `id` in `store` and its record: first the partition
// the murmur2 partitioner picks, then every partition with a checkpoint.
std::optional<std::pair<int32_t, v1::CustomerState>> FindCustomer(state::StateStore& store,
                                                                  const std::string& topic,
                                                                  const std::string& id);

}  // namespace cairn::api
