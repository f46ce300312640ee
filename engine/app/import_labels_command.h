// `cairn import labels FILE.csv|FILE.jsonl` (docs/labels-import.md): reads a
// label file, produces one `Labels Updated` event per customer run of rows
// to the events topic, waits for every acknowledgement, and prints a summary.
//
// Exit codes: 0 every row was good and every event acknowledged; 1 some rows
// were rejected (the rest were produced and acknowledged); 2 nothing was
// imported (unreadable file, bad header, bad config, no broker); 3 a
// delivery failed or was not acknowledged in time (re-run: the import is
// idempotent).
#pragma once

#include <ostream>
#include <string>

namespace cairn::app {

struct ImportLabelsOptions {
  std::string file;
  std::string format;       // "", "csv" or "jsonl"; "" = from the file name
  std::string config_file;  // the engine's config (`cairn run --config`), for brokers and topic
  std::string brokers;      // overrides the config; else kafka.brokers, else the dev broker
  std::string topic;        // overrides topics.events
  int flush_timeout_ms = 120000;
  // Progress on `err`: a bar redrawn in place (at most every 200 ms) when err
  // is a terminal, else a plain line every `progress_interval_ms`.
  bool terminal = false;
  int progress_interval_ms = 5000;
  size_t max_listed_rejections = 20;
};

int ImportLabelsCommand(const ImportLabelsOptions& options, std::ostream& out, std::ostream& err);

}  // namespace cairn::app
