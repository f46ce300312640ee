// Backup and restore of the engine's RocksDB (docs/operations.md §4).
//
// A backup is a directory <backup dir>/cairn-backup-<UTC yyyymmddThhmmssZ>/
//   db/            a rocksdb::Checkpoint of the live store (hard links of the
//                  SST files when on the same filesystem, copies otherwise;
//                  memtables are flushed first, so it holds every write made
//                  before the call)
//   manifest.json  {"name","created_at","created_at_ms","sequence","bytes",
//                   "tombstones","offsets":[{"topic","partition","next_offset"}]}
//                  offsets: the per-partition checkpoint records of the copy
//                  (the input the copy holds; the engine resumes there).
// The manifest is written last (temp file + rename): a directory without one
// is an unfinished backup.
//
// Erasure tombstones (engine/erasure: default CF "gd/" hex SHA-256(secret
// "\0" id) -> erasure time, u64 BE ms) can be exported as JSON lines, one
// per tombstone:
//   {"hash":"<64 hex digits>","at":"2026-12-05T17:02:11.123Z"}
// so an operator can keep the erasure list off the volume.
//
// Restore (the engine stopped): copies a backup's db/ into the data dir and
// re-applies every tombstone the backup does not already hold (from the old
// data dir and/or tombstone files): each customer record of the restored DB
// whose id hashes (with the erasure secret) to such a tombstone, and whose
// first event is not newer than the erasure, is erased with erasure::Erase
// (record, history, trace, timers, segment memberships and live counts,
// ledger PII) and every tombstone is written, so replayed old events stay
// dropped.
//
// Thread-safety: BackupMaker's methods may be called from any thread (one
// backup at a time, on its own worker thread; RocksDB checkpoints are safe
// against concurrent writes).
// The free functions keep no state.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cairn/clock.h"
#include "cairn/status.h"
#include "state/state_store.h"

namespace cairn::backup {

inline constexpr std::string_view kManifestFile = "manifest.json";
inline constexpr std::string_view kDbDir = "db";
inline constexpr std::string_view kNamePrefix = "cairn-backup-";

struct PartitionOffset {
  std::string topic;
  int32_t partition = 0;
  int64_t next_offset = 0;
};

struct Manifest {
  std::string name;  // cairn-backup-20261205T170211Z
  std::string path;  // the backup directory (absolute)
  TimestampMs created_at_ms = 0;
  uint64_t sequence = 0;    // a RocksDB sequence number the copy holds
  uint64_t bytes = 0;       // the files of db/
  uint64_t tombstones = 0;  // erasure tombstones in the copy
  std::vector<PartitionOffset> offsets;

  nlohmann::json ToJson() const;
};

// `<data dir>/../backups` (the data dir made absolute first).
std::string DefaultBackupDir(const std::string& data_dir);

// Reads <dir>/manifest.json. A missing or malformed file is an error.
Result<Manifest> ReadManifest(const std::string& dir);

class BackupMaker {
 public:
  // `store` must outlive this object; `dir` is created when missing.
  BackupMaker(state::StateStore* store, std::string dir);
  ~BackupMaker();  // waits for a running backup
  BackupMaker(const BackupMaker&) = delete;
  BackupMaker& operator=(const BackupMaker&) = delete;

  // Creates the new backup directory stamped `now` and starts the
  // checkpoint and manifest on a worker thread; returns the directory
  // (name and path set). kAlreadyExists (naming the running one) while a
  // backup runs. A failed backup removes its directory.
  Result<Manifest> Start(TimestampMs now);
  // The latest backup's result once it finished, waiting up to `timeout`;
  // nullopt while it still runs (or when none was started).
  std::optional<Result<Manifest>> Wait(std::chrono::milliseconds timeout);
  // Start, then wait for the end.
  Result<Manifest> Create(TimestampMs now);

  // Tests only: called on the worker before the checkpoint.
  void SetBeforeCheckpointForTest(std::function<void()> fn) { before_checkpoint_ = std::move(fn); }

  const std::string& dir() const { return dir_; }

 private:
  Result<Manifest> Run(Manifest m);
  state::StateStore* store_;
  std::string dir_;
  std::function<void()> before_checkpoint_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool running_ = false;                  // guarded by mu_
  Manifest current_;                      // the running or latest one (name, path)
  std::optional<Result<Manifest>> last_;  // the latest finished one
  std::thread worker_;
};

struct Tombstone {
  std::string hash;  // 64 lower-case hex digits (the key without "gd/")
  TimestampMs at_ms = 0;
  bool operator==(const Tombstone&) const = default;
};

// Every tombstone of an open store, in key order.
Result<std::vector<Tombstone>> ReadTombstones(state::StateStore& store);
// The same from a RocksDB directory opened read-only (no lock taken, so a
// running engine's directory or a backup's db/ are fine).
Result<std::vector<Tombstone>> ReadTombstonesAt(const std::string& db_dir);

// Writes `tombstones` as JSON lines to `path` (temp file, fsync, rename).
Status WriteTombstoneFile(const std::string& path, const std::vector<Tombstone>& tombstones);
// Reads a file WriteTombstoneFile wrote. Blank lines are skipped; a bad line
// is an InvalidArgument naming path:line.
Result<std::vector<Tombstone>> ReadTombstoneFile(const std::string& path);

struct RestoreOptions {
  std::string backup;    // a backup directory (with manifest.json and db/), or a bare checkpoint
  std::string data;      // the data dir to restore into
  bool replace = false;  // a non-empty data dir is moved aside to <data>.before-restore-<ts>
  std::vector<std::string> erasure_files;  // tombstone exports to re-apply too
  // The erasure secret's source: the tracking key file when set (as `cairn
  // run`), else the "gd/!secret" of the old data dir, else the backup's.
  std::string key_file;
  std::string events_topic = "cairn.events";  // whose checkpoints hold the live counts
  TimestampMs now = 0;                        // names the kept-aside dir
};

struct RestoreSummary {
  TimestampMs backup_at_ms = 0;  // 0: a bare checkpoint without a manifest
  std::string kept_aside;        // the old data dir's new name ("" when none)
  uint64_t tombstones_read = 0;  // distinct ones, from the old data dir and files
  uint64_t newer_than_backup = 0;
  uint64_t tombstones_written = 0;  // those the restored DB did not hold yet
  uint64_t customers_erased = 0;
};

// Refuses (FailedPrecondition) a data dir whose RocksDB is open elsewhere
// (its LOCK is held) and a non-empty data dir without `replace`; never
// deletes the old data dir.
Result<RestoreSummary> Restore(const RestoreOptions& options);

}  // namespace cairn::backup
