// Push notifications through an FCM HTTP v1-style API
// (connectors/push_fcm/README.md): one POST to
// {base_url}/v1/projects/{project}/messages:send per device token, bearer
// access token read from a file, HTTP/2 when the server speaks it.
// Registered as type "push_fcm".
#pragma once

#include <memory>

#include "cairn/connector.h"

namespace cairn::connectors {

std::unique_ptr<ConnectorFactory> NewPushFcmFactory();

}  // namespace cairn::connectors
