// SMS over an HTTP provider API, Twilio's Messages resource as the
// reference shape (connectors/sms_http/README.md): POST a form (or JSON)
// with To, From, Body and StatusCallback, basic auth account:token, the task
// id as Idempotency-Key. Registered as type "sms_http".
#pragma once

#include <memory>

#include "cairn/connector.h"

namespace cairn::connectors {

std::unique_ptr<ConnectorFactory> NewSmsHttpFactory();

}  // namespace cairn::connectors
