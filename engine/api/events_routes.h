// The events API (docs/api.md "Events"): Segment-spec events over HTTP for
// apps that are not on Kafka.
//
//   POST /v1/events   one event: {"type":"track","userId":"u1","event":"Order Completed",...}
//   POST /v1/batch    Segment's batch: {"batch":[{...},{...}],"context":{...}}; a top-level
//                     "context" is given to the events that carry none
//
// Every event is checked by the engine's own parser (ingest::EventParser,
// Segment JSON), so a rejection names the same reason the dead-letter topic
// would (missing_id, unknown_type, missing_field, bad_timestamp, too_large,
// too_deep, malformed). The accepted events are produced unchanged to the
// events topic keyed by customer id (userId, else anonymousId).
//
//   200  {"accepted":N,"rejected":[{"index":i,"reason":"missing_id","message":"..."}]}
//        sent only after the broker acknowledged every accepted event
//   400  the body is not JSON / not an object / no "batch" array; for
//        /v1/events an invalid event: {"error":{"code":"invalid_event",...}}
//   413  body larger than kMaxEventsBodyBytes, more than kMaxBatchEvents events
//   503  no producer, or not every event was acknowledged: send it again
//        (events with a messageId are deduplicated by the engine)
//
// Runs on the HttpServer's thread and blocks it until the acknowledgements
// (at most kEventsAckTimeoutMs).
#pragma once

#include <vector>

#include "api/http_server.h"
#include "ingest/event_parser.h"
#include "kafka/event_publisher.h"

namespace cairn::api {

inline constexpr size_t kMaxEventsBodyBytes = 4 * 1024 * 1024;
inline constexpr size_t kMaxBatchEvents = 5000;
inline constexpr int kEventsAckTimeoutMs = 30000;

// `publisher` (may be null: the routes answer 503) and `clock` must outlive
// the server. `parse` should be the engine's ingest options (limits).
std::vector<Route> EventsRoutes(kafka::EventPublisher* publisher, const Clock* clock,
                                ingest::ParseOptions parse = {});

}  // namespace cairn::api
