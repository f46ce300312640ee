// POST /v1/labels:batch (docs/labels-import.md): labels for many customers in
// one request, validated by the same code as `cairn import labels`.
//
//   request  {"rows":[{"customer_id":"u1","add":["vip"],"remove":["churned"]},
//                     {"customer_id":"u2","label":"gold"}, ...]}
//   200      {"accepted":N,"events":E,"rejected":[{"index":i,"reason":"code: message"}]}
//            sent only after the broker acknowledged every event
//   400      the body is not JSON or has no "rows" array
//   413      more than kMaxBatchRows rows or kMaxBatchBytes bytes
//   503      no producer, or not every event was acknowledged (the batch is
//            idempotent: send it again)
//
// Runs on the HttpServer's thread and blocks it until the acknowledgements
// (at most kAckTimeoutMs).
#pragma once

#include <cstddef>
#include <vector>

#include "api/http_server.h"
#include "labels/label_publisher.h"

namespace cairn::api {

inline constexpr size_t kMaxBatchRows = 10000;
inline constexpr size_t kMaxBatchBytes = 5 * 1024 * 1024;
inline constexpr int kAckTimeoutMs = 30000;

// `publisher` may be null (the route then answers 503); it must outlive the
// server.
std::vector<Route> LabelRoutes(labels::LabelPublisher* publisher);

}  // namespace cairn::api
