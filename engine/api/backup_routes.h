// POST /v1/admin/backup (admin listener, scope admin, audited like every
// mutating call): a RocksDB checkpoint of the running engine into a new
// directory under the backup dir (backup/backup.h), made on its own thread.
// The handler waits up to `wait` for it (the server has one thread: a longer
// wait would hold the probes): 201 with the manifest when done, else 202
// {"status":"running","name","path"} and the manifest appears there when
// done. A call while one runs answers 409 `backup_running`; no backup dir
// or store configured: 503 `backup_unavailable`; a failure: 500
// `backup_failed` (the partial directory is removed). docs/api.md.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "api/http_server.h"
#include "state/state_store.h"

namespace cairn::api {

// `store` must outlive the server. `backup_dir` empty: the route answers 503.
std::vector<Route> BackupRoutes(state::StateStore* store, std::string backup_dir,
                                std::chrono::milliseconds wait = std::chrono::seconds(2));

}  // namespace cairn::api
