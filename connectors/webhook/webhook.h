// Webhooks (connectors/webhook/README.md): POST a JSON body (the rendered
// `body`, else the task as JSON) to a configured URL, signed Stripe-style:
//   X-Cairn-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
// One connector instance per endpoint; a journey step names the instance.
// Registered as type "webhook".
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "cairn/connector.h"

namespace cairn::connectors {

std::unique_ptr<ConnectorFactory> NewWebhookFactory();

// The X-Cairn-Signature value for `body` sent at `unix_seconds`:
// "t=<unix_seconds>,v1=<lower-case hex HMAC-SHA256(secret, "<t>.<body>")>".
std::string WebhookSignature(std::string_view secret, int64_t unix_seconds, std::string_view body);

}  // namespace cairn::connectors
