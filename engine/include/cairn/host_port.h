// "HOST:PORT" addresses as the command line and config give them.
#pragma once

#include <string>
#include <utility>

#include "cairn/status.h"

namespace cairn {

// Splits "HOST:PORT" ("127.0.0.1:9092", "[::1]:8080", "localhost:0") into a
// host (brackets removed, localhost as 127.0.0.1) and a port.
Result<std::pair<std::string, unsigned short>> SplitHostPort(const std::string& addr);

}  // namespace cairn
