// The engine's configuration: defaults, then the YAML file, then flags.
// docs/configuration.md lists every key. An unknown key or a value of the
// wrong type is an error naming file:line:col.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "api/listeners.h"
#include "cairn/status.h"
#include "dispatch/config_fields.h"
#include "runtime/engine.h"
#include "state/state_store.h"

namespace cairn::app {

struct Config {
  runtime::EngineOptions engine;                  // kafka.*, topics.*, ingest.*, state.*
  state::StoreOptions store;                      // storage.*
  std::string embedded_kafka = "127.0.0.1:9092";  // used when engine.brokers is empty
  int embedded_partitions = 16;
  api::HttpConfig http;  // http.*: the public and admin listeners (docs/api.md)
  std::string log_level = "info";
  bool log_json = false;  // log_format: json (JSON lines) | text (default)
  // ready_max_lag: /readyz answers 200 only while every partition with
  // a known position is at most this many messages behind.
  int64_t ready_max_lag = 1000;
  std::string journeys_dir;  // journeys.dir: the journey files; empty = no journeys
  int journeys_reload_ms =
      2000;  // journeys.reload_ms: how often the directory is re-read (0 = never)

  // Delivery (docs/connectors.md). channels: channel -> connector instance;
  // connectors: each instance's section, validated by its factory at start.
  std::map<std::string, std::string> channels;
  std::vector<std::pair<std::string, std::shared_ptr<dispatch::YamlConfigFields>>> connectors;
  std::string templates_dir;      // dispatch.templates_dir; "" = <journeys.dir>/templates
  bool dispatch_sync = true;      // dispatch.sync_ledger: fsync every ledger write
  std::string tracking_base_url;  // tracking.base_url; "" = http(s)://<http.public_listen>
  std::string tracking_key_file;  // tracking.key_file: the link-signing secret
  std::string backup_dir;         // storage.backup_dir; "" = <storage.data_dir>/../backups
};

// Reads `path` over `config` (keys absent from the file keep their value).
Status LoadConfigFile(const std::string& path, Config& config);

// Same, from YAML text; `name` is used in error messages in place of a path.
Status LoadConfigText(const std::string& text, const std::string& name, Config& config);

}  // namespace cairn::app
