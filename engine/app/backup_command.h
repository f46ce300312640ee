// `cairn backup`, `cairn restore` and `cairn erasures export`
// (docs/operations.md §4; the work is in engine/backup).
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace cairn::app {

struct BackupCommandOptions {
  std::string api = "http://127.0.0.1:8080";  // the engine's admin API
  std::string token_file;                     // a file holding an admin bearer token
};
// POST /v1/admin/backup; prints the backup's path. 0: done; 1: the engine
// answered with an error (409 while another runs); 2: unreachable or bad
// input; 3: started but still running after the engine's wait (the path is
// printed; manifest.json appears there when it is done).
int BackupCommand(const BackupCommandOptions& options, std::ostream& out, std::ostream& err);

struct RestoreCommandOptions {
  std::string backup;
  std::string data;
  bool replace = false;
  std::vector<std::string> erasures;  // tombstone exports
  std::string config_file;            // for tracking.key_file and topics.events
};
// Restores with the engine stopped; prints a summary. 0: done; 1: refused
// or failed.
int RestoreCommand(const RestoreCommandOptions& options, std::ostream& out, std::ostream& err);

// Writes the tombstones of DATA (a data dir, or a backup directory) to OUT
// as JSON lines. 0: done; 1: failed.
int ErasuresExportCommand(const std::string& data, const std::string& out_file, std::ostream& out,
                          std::ostream& err);

}  // namespace cairn::app
