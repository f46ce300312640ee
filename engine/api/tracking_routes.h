// The HTTP endpoints recipients and providers reach (docs/templates.md):
//   GET  /t/o/{token}                  open pixel: a 1x1 GIF, emits Message Opened
//   GET  /t/c/{token}                  click: 302 to the signed target, emits Message Clicked
//   GET  /u/{token}                    unsubscribe page (a button; changes nothing)
//   POST /u/{token}                    unsubscribe (the page's form, or RFC 8058
//                                      One-Click): emits Unsubscribed durably
//   POST /hooks/sms/{connector}?t=...  Twilio-style status callback: Message
//                                      Delivered / Failed / Bounced
//
// Every token is checked with Tracker::Verify and must be of the endpoint's
// kind; a forged, tampered or wrong-kind token gets a 4xx and emits nothing.
// Events are dispatch::OutcomeEventJson, keyed by the customer in the token.
// Opens and clicks are one event per occurrence (the messageId carries the
// time); unsubscribes and provider statuses are deterministic per task, so a
// retried request is dropped by the engine's messageId dedup window.
//
// Handlers run on the HttpServer's thread. POST /u blocks that thread until
// the sink confirms (durable emit); every other emit only enqueues.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "api/http_server.h"
#include "cairn/clock.h"
#include "dispatch/outcome.h"
#include "dispatch/tracking.h"

namespace cairn::api {

// `tracker`, `sink` and `clock` must outlive the server. `sms_connectors`:
// the names a status callback may name; any other gets 404.
std::vector<Route> TrackingRoutes(const dispatch::Tracker* tracker, dispatch::OutcomeSink* sink,
                                  const Clock* clock, std::set<std::string> sms_connectors = {});

// The 1x1 transparent GIF the open pixel serves (43 bytes).
const std::string& TransparentGif();

// Twilio error codes that mean the number cannot receive messages: a
// failure with one of them is a `Message Bounced`, not a `Message Failed`.
bool IsSmsBounceCode(std::string_view error_code);

// application/x-www-form-urlencoded -> pairs ('+' is a space, %XX decoded).
std::vector<std::pair<std::string, std::string>> ParseFormBody(std::string_view body);

}  // namespace cairn::api
