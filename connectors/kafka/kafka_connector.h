// The kafka connector: publishes the rendered task to a topic for external
// delivery workers (a channel Cairn does not speak itself).
#pragma once

#include <memory>

#include "cairn/connector.h"

namespace cairn::connectors {

std::unique_ptr<ConnectorFactory> NewKafkaFactory();

}  // namespace cairn::connectors
