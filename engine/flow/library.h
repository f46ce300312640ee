// Where the engine's journeys come from: the journey directory (a git
// checkout, or a Kubernetes ConfigMap mounted as files), reloaded while the
// engine runs, plus the older versions in-flight customers are pinned to.
//
//  - Reload() reads every journey file. A file that fails validation is
//    refused (its diagnostics are logged and returned) and the version loaded
//    from it before keeps running. A removed file unloads its journey: no
//    new entries; customers in it finish on their version.
//  - Every version that was ever loaded is stored in RocksDB
//    ("jv/<journey>/<version u32 BE>" -> YAML source), so customers pinned to
//    an old version keep walking it after a restart.
//  - The profile model (computed traits, segments, ...; docs/profiles.md)
//    comes from <dir>/profile/*.yaml and is reloaded the same way: a model
//    with problems is refused and the last good one keeps running.
//  - Operator overrides (overrides.h: pause/resume from the API, "jp/" in
//    RocksDB) are read on every Reload and applied on top of the YAML's
//    `paused`; a changed override gives a new catalog.
//  - Watch() polls the directory (content hashes, every `interval`) on its
//    own thread and calls `on_change` with each new catalog.
//
// Threading: Reload and Watch's thread serialise on a mutex; on_change runs
// on the watcher thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "flow/catalog.h"
#include "flow/overrides.h"
#include "journey/loader.h"
#include "state/state_store.h"

namespace cairn::flow {

class Library {
 public:
  // `store` may be null (simulate, validate): then nothing is persisted.
  Library(std::string dir, state::StateStore* store);
  ~Library();  // stops the watcher
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;

  struct Outcome {
    std::shared_ptr<const Catalog> catalog;  // null when nothing changed
    std::vector<journey::Diagnostic> refused;
    std::vector<std::string> loaded;  // "name v3 (file)" for each new or changed journey
  };
  // Reads the directory now. The first call always gives a catalog.
  Outcome Reload();

  using OnChange = std::function<void(std::shared_ptr<const Catalog>)>;
  void Watch(int interval_ms, OnChange on_change);

 private:
  std::vector<journey::Journey> StoredVersions(const std::map<std::string, uint32_t>& current);
  void Persist(const journey::Journey& j);
  // Reloads <dir>/profile when its files changed; true when a new model loaded.
  bool ReloadProfile(Outcome& out);

  std::string dir_;
  state::StateStore* store_;
  std::mutex mu_;
  std::map<std::string, size_t> hashes_;           // file -> content hash (last read)
  std::map<std::string, journey::Journey> good_;   // file -> last journey that loaded
  std::vector<journey::Journey> retired_;          // versions replaced while running
  size_t profile_hash_ = 0;                        // of the profile files' names and texts
  std::shared_ptr<const profile::Model> profile_;  // the last profile model that loaded
  std::map<std::string, PauseOverride, std::less<>> overrides_;  // applied last
  uint64_t generation_ = 0;
  bool first_ = true;

  std::thread watcher_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
};

}  // namespace cairn::flow
