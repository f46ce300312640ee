// The email connector: one message per SMTP transaction through libcurl,
// with the task id as the Message-ID. Config keys, headers and how replies
// are classified: connectors/smtp/README.md.
//
// A connector keeps its connection open between sends and is used by one
// dispatch worker at a time (see cairn/connector.h).
#pragma once

#include <memory>

#include "cairn/connector.h"

namespace cairn::connectors {

// The factory of type "smtp".
std::unique_ptr<cairn::ConnectorFactory> NewSmtpFactory();

}  // namespace cairn::connectors
