// Registers every connector type Cairn ships, by name: smtp, sms_http,
// push_fcm, webhook, kafka. A new connector adds one line here.
#pragma once

#include "cairn/connector.h"

namespace cairn::connectors {

void RegisterBuiltinConnectors(ConnectorRegistry& registry);

}  // namespace cairn::connectors
