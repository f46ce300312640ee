// The engine's configuration: defaults, then the YAML file, then flags.
// docs/configuration.md lists every key. An unknown key or a value of the
// wrong type is an error naming file:line:col.
#pragma once

#include <string>

#include "cairn/status.h"
#include "runtime/engine.h"
#include "state/state_store.h"

namespace cairn::app {

struct Config {
  runtime::EngineOptions engine;                  // kafka.*, topics.*, ingest.*, state.*
  state::StoreOptions store;                      // storage.*
  std::string embedded_kafka = "127.0.0.1:9092";  // used when engine.brokers is empty
  int embedded_partitions = 16;
  std::string http = "127.0.0.1:8080";
  std::string log_level = "info";
  std::string journeys_dir;  // journeys.dir: the journey files; empty = no journeys
  int journeys_reload_ms =
      2000;  // journeys.reload_ms: how often the directory is re-read (0 = never)
};

// Reads `path` over `config` (keys absent from the file keep their value).
Status LoadConfigFile(const std::string& path, Config& config);

// Same, from YAML text; `name` is used in error messages in place of a path.
Status LoadConfigText(const std::string& text, const std::string& name, Config& config);

}  // namespace cairn::app
