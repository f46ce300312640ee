// Log output of the engine: spdlog's default logger, as text (the default)
// or as JSON lines for log shippers (`log_format: json`, `--log-json`):
//   {"ts":"2026-12-05T13:07:29.123Z","level":"info","logger":"cairn","msg":"..."}
// one object per line, UTC timestamps, `msg` JSON-escaped.
//
// Engine log calls at info level and above never carry customer ids,
// e-mail addresses or phone numbers (debug may, for local investigation).
#pragma once

#include <spdlog/formatter.h>

#include <memory>
#include <string>

namespace cairn::app {

// Sets the level ("info", ...) and the format of the default logger. Call
// before other threads log.
void ConfigureLogging(const std::string& level, bool json);

// The JSON-lines formatter ConfigureLogging installs (tests format with it).
std::unique_ptr<spdlog::formatter> JsonLogFormatter();

}  // namespace cairn::app
