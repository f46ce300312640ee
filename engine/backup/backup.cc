#include "backup/backup.h"

#include <fcntl.h>
#include <rocksdb/env.h>
#include <rocksdb/utilities/checkpoint.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "cairn/big_endian.h"
#include "cairn/time.h"
#include "erasure/erasure.h"
#include "timer/timer_store.h"

namespace cairn::backup {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::string_view kTombstonePrefix = "gd/";
constexpr std::string_view kSecretKey = "gd/!secret";
constexpr std::string_view kCheckpointPrefix = "cp/";
constexpr size_t kHashHexDigits = 64;

// "20261205T170211Z"
std::string CompactUtc(TimestampMs ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

bool IsHash(std::string_view s) {
  if (s.size() != kHashHexDigits) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  return Unavailable(std::string(what) + ": " + s.ToString());
}

// A RocksDB directory opened read-only with every column family, each with
// the options its WAL records need (StateStore::ReaderOptions).
class ReadOnlyDb {
 public:
  static Result<std::unique_ptr<ReadOnlyDb>> Open(const std::string& dir) {
    std::vector<std::string> names;
    auto s = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &names);
    if (!s.ok()) return FromRocks(s, "open " + dir);
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const auto& n : names) cfs.emplace_back(n, state::StateStore::ReaderOptions(n));
    auto out = std::unique_ptr<ReadOnlyDb>(new ReadOnlyDb());
    rocksdb::DB* raw = nullptr;
    s = rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), dir, cfs, &out->handles_, &raw);
    if (!s.ok()) return FromRocks(s, "open " + dir);
    out->db_.reset(raw);
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == rocksdb::kDefaultColumnFamilyName) out->default_ = out->handles_[i];
    }
    if (out->default_ == nullptr) return Internal("open " + dir + ": no default column family");
    return out;
  }
  ~ReadOnlyDb() {
    for (auto* h : handles_) (void)db_->DestroyColumnFamilyHandle(h);
  }
  rocksdb::DB* db() const { return db_.get(); }
  rocksdb::ColumnFamilyHandle* meta() const { return default_; }

 private:
  ReadOnlyDb() = default;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* default_ = nullptr;
};

Result<std::vector<Tombstone>> ScanTombstones(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) {
  std::vector<Tombstone> out;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf));
  for (it->Seek(rocksdb::Slice(kTombstonePrefix.data(), kTombstonePrefix.size()));
       it->Valid() && it->key().starts_with(rocksdb::Slice(kTombstonePrefix.data(), 3));
       it->Next()) {
    const std::string_view hash = it->key().ToStringView().substr(kTombstonePrefix.size());
    if (!IsHash(hash) || it->value().size() != 8) continue;  // gd/!secret, or foreign
    out.push_back({std::string(hash), static_cast<TimestampMs>(GetU64BE(it->value().data()))});
  }
  if (!it->status().ok()) return FromRocks(it->status(), "read tombstones");
  return out;
}

std::vector<PartitionOffset> ScanOffsets(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) {
  std::vector<PartitionOffset> out;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf));
  const rocksdb::Slice prefix(kCheckpointPrefix.data(), kCheckpointPrefix.size());
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const std::string_view key = it->key().ToStringView();
    if (key.size() < prefix.size() + 6 || key[key.size() - 5] != '/') continue;
    v1::PartitionCheckpoint cp;
    if (!cp.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) continue;
    out.push_back({std::string(key.substr(prefix.size(), key.size() - 5 - prefix.size())),
                   static_cast<int32_t>(GetU32BE(key.data() + key.size() - 4)), cp.next_offset()});
  }
  return out;
}

std::optional<std::string> ReadSecret(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) {
  std::string value;
  if (!db->Get(rocksdb::ReadOptions(), cf, kSecretKey, &value).ok() || value.empty()) {
    return std::nullopt;
  }
  return value;
}

uint64_t DirBytes(const fs::path& dir) {
  uint64_t bytes = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file(ec)) bytes += it->file_size(ec);
  }
  return bytes;
}

Status WriteFileSynced(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Unavailable("cannot write " + tmp.string());
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) {
      ::close(fd);
      return Unavailable("cannot write " + tmp.string());
    }
    done += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) return Unavailable("cannot fsync " + tmp.string());
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Unavailable("cannot rename " + tmp.string() + ": " + ec.message());
  return Status::Ok();
}

fs::path Absolute(const std::string& p) {
  fs::path out = fs::absolute(fs::path(p)).lexically_normal();
  if (!out.has_filename() && out.has_parent_path()) out = out.parent_path();  // "a/b/" -> "a/b"
  return out;
}

bool IsRocksDbDir(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "CURRENT", ec);
}

}  // namespace

json Manifest::ToJson() const {
  json offs = json::array();
  for (const auto& o : offsets) {
    offs.push_back(
        {{"topic", o.topic}, {"partition", o.partition}, {"next_offset", o.next_offset}});
  }
  return {{"name", name},
          {"path", path},
          {"created_at", FormatTimestamp(created_at_ms)},
          {"created_at_ms", created_at_ms},
          {"sequence", sequence},
          {"bytes", bytes},
          {"tombstones", tombstones},
          {"offsets", std::move(offs)}};
}

std::string DefaultBackupDir(const std::string& data_dir) {
  return (Absolute(data_dir).parent_path() / "backups").string();
}

Result<Manifest> ReadManifest(const std::string& dir) {
  const fs::path path = fs::path(dir) / kManifestFile;
  std::ifstream in(path);
  if (!in) return NotFound("no " + path.string());
  const json j = json::parse(in, nullptr, false);
  if (!j.is_object() || !j.contains("created_at_ms") || !j["created_at_ms"].is_number_integer()) {
    return InvalidArgument(path.string() + ": not a backup manifest");
  }
  Manifest m;
  m.name = j.value("name", "");
  m.path = Absolute(dir).string();
  m.created_at_ms = j["created_at_ms"].get<TimestampMs>();
  m.sequence = j.value("sequence", uint64_t{0});
  m.bytes = j.value("bytes", uint64_t{0});
  m.tombstones = j.value("tombstones", uint64_t{0});
  if (j.contains("offsets") && j["offsets"].is_array()) {
    for (const auto& o : j["offsets"]) {
      if (!o.is_object()) continue;
      m.offsets.push_back(
          {o.value("topic", ""), o.value("partition", 0), o.value("next_offset", int64_t{0})});
    }
  }
  return m;
}

BackupMaker::BackupMaker(state::StateStore* store, std::string dir)
    : store_(store), dir_(std::move(dir)) {}

BackupMaker::~BackupMaker() {
  if (worker_.joinable()) worker_.join();
}

Result<Manifest> BackupMaker::Start(TimestampMs now) {
  std::unique_lock<std::mutex> lock(mu_);
  if (running_) {
    return Status(StatusCode::kAlreadyExists, "a backup is already running: " + current_.name +
                                                  " (started " +
                                                  FormatTimestamp(current_.created_at_ms) + ")");
  }
  if (store_ == nullptr || dir_.empty()) return FailedPrecondition("no state store to back up");
  const fs::path parent = Absolute(dir_);
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) return Unavailable("cannot create " + parent.string() + ": " + ec.message());
  // A new directory: the name, or the name with -2, -3... within one second.
  Manifest m;
  const std::string base = std::string(kNamePrefix) + CompactUtc(now);
  for (int i = 1;; ++i) {
    if (i > 100) return Unavailable("too many backups named " + base);
    m.name = i == 1 ? base : base + "-" + std::to_string(i);
    if (fs::create_directory(parent / m.name, ec)) break;
    if (ec) return Unavailable("cannot create " + (parent / m.name).string() + ": " + ec.message());
  }
  m.path = (parent / m.name).string();
  m.created_at_ms = now;
  if (worker_.joinable()) worker_.join();  // the previous one has finished
  running_ = true;
  current_ = m;
  last_.reset();
  worker_ = std::thread([this, m] {
    auto result = Run(m);
    std::lock_guard<std::mutex> done(mu_);
    last_ = std::move(result);
    running_ = false;
    cv_.notify_all();
  });
  return m;
}

std::optional<Result<Manifest>> BackupMaker::Wait(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [this] { return !running_; });
  if (running_) return std::nullopt;
  return last_;
}

Result<Manifest> BackupMaker::Create(TimestampMs now) {
  auto started = Start(now);
  if (!started.ok()) return started.status();
  for (;;) {
    if (auto r = Wait(std::chrono::hours(1))) return *r;
  }
}

Result<Manifest> BackupMaker::Run(Manifest m) {
  const fs::path root = m.path;
  auto fail = [&root](Status s) {
    std::error_code ignored;
    fs::remove_all(root, ignored);
    return s;
  };
  if (before_checkpoint_) before_checkpoint_();
  rocksdb::Checkpoint* raw = nullptr;
  auto s = rocksdb::Checkpoint::Create(store_->db(), &raw);
  if (!s.ok()) return fail(FromRocks(s, "checkpoint"));
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  const fs::path db = root / kDbDir;
  s = checkpoint->CreateCheckpoint(db.string(), 0, &m.sequence);
  if (!s.ok()) return fail(FromRocks(s, "checkpoint into " + db.string()));
  {
    auto copy = ReadOnlyDb::Open(db.string());
    if (!copy.ok()) return fail(copy.status());
    m.offsets = ScanOffsets((*copy)->db(), (*copy)->meta());
    auto tombstones = ScanTombstones((*copy)->db(), (*copy)->meta());
    if (!tombstones.ok()) return fail(tombstones.status());
    m.tombstones = tombstones->size();
  }
  m.bytes = DirBytes(db);
  if (auto w = WriteFileSynced(root / kManifestFile, m.ToJson().dump(2) + "\n"); !w.ok()) {
    return fail(w);
  }
  return m;
}

Result<std::vector<Tombstone>> ReadTombstones(state::StateStore& store) {
  return ScanTombstones(store.db(), store.meta_cf());
}

Result<std::vector<Tombstone>> ReadTombstonesAt(const std::string& db_dir) {
  auto db = ReadOnlyDb::Open(db_dir);
  if (!db.ok()) return db.status();
  return ScanTombstones((*db)->db(), (*db)->meta());
}

Status WriteTombstoneFile(const std::string& path, const std::vector<Tombstone>& tombstones) {
  std::string text;
  for (const auto& t : tombstones) {
    text += json{{"hash", t.hash}, {"at", FormatTimestamp(t.at_ms)}}.dump();
    text += '\n';
  }
  return WriteFileSynced(path, text);
}

Result<std::vector<Tombstone>> ReadTombstoneFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return InvalidArgument("cannot read " + path);
  std::vector<Tombstone> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(n) + ": ";
    const json j = json::parse(line, nullptr, false);
    if (!j.is_object() || !j.contains("hash") || !j["hash"].is_string() || !j.contains("at") ||
        !j["at"].is_string()) {
      return InvalidArgument(where + R"(expected {"hash":"<64 hex>","at":"<RFC 3339>"})");
    }
    const std::string hash = j["hash"].get<std::string>();
    if (!IsHash(hash)) return InvalidArgument(where + "hash is not 64 lower-case hex digits");
    const auto at = ParseTimestamp(j["at"].get<std::string>());
    if (!at) return InvalidArgument(where + "at is not an RFC 3339 time");
    out.push_back({hash, *at});
  }
  return out;
}

Result<RestoreSummary> Restore(const RestoreOptions& options) {
  RestoreSummary summary;
  if (options.backup.empty() || options.data.empty()) {
    return InvalidArgument("restore needs a backup and a data dir");
  }
  const fs::path backup_root = Absolute(options.backup);
  const fs::path data = Absolute(options.data);
  std::error_code ec;

  // The backup: <dir>/db with a manifest, or a bare checkpoint.
  fs::path backup_db;
  if (IsRocksDbDir(backup_root / kDbDir)) {
    backup_db = backup_root / kDbDir;
    auto m = ReadManifest(backup_root.string());
    if (!m.ok()) return m.status();
    summary.backup_at_ms = m->created_at_ms;
  } else if (IsRocksDbDir(backup_root)) {
    backup_db = backup_root;
  } else {
    return NotFound(backup_root.string() + " is not a backup (no db/CURRENT)");
  }
  if (data == backup_root || data == backup_db) {
    return InvalidArgument("the data dir is the backup itself");
  }

  // The old data dir: in use? empty? its tombstones and secret.
  std::map<std::string, TimestampMs> tombstones;
  auto add = [&tombstones](const std::vector<Tombstone>& list) {
    for (const auto& t : list) {
      auto [it, fresh] = tombstones.emplace(t.hash, t.at_ms);
      if (!fresh) it->second = std::max(it->second, t.at_ms);
    }
  };
  if (fs::exists(data, ec) && !fs::is_directory(data, ec)) {
    return FailedPrecondition(data.string() + " exists and is not a directory");
  }
  const bool occupied = fs::exists(data, ec) && !fs::is_empty(data, ec);
  std::optional<std::string> old_secret;
  rocksdb::FileLock* lock = nullptr;
  auto unlock = [&lock] {
    if (lock != nullptr) (void)rocksdb::Env::Default()->UnlockFile(lock);
    lock = nullptr;
  };
  if (occupied && IsRocksDbDir(data)) {
    // RocksDB's own lock (it also knows the DBs this process holds open).
    auto s = rocksdb::Env::Default()->LockFile((data / "LOCK").string(), &lock);
    if (!s.ok()) {
      return FailedPrecondition(data.string() +
                                " is in use (its RocksDB LOCK is held): stop the engine first (" +
                                s.ToString() + ")");
    }
    auto db = ReadOnlyDb::Open(data.string());
    if (!db.ok()) {
      unlock();
      return db.status().WithContext("read the current data dir");
    }
    auto list = ScanTombstones((*db)->db(), (*db)->meta());
    if (!list.ok()) {
      unlock();
      return list.status();
    }
    add(*list);
    old_secret = ReadSecret((*db)->db(), (*db)->meta());
  }
  if (occupied && !options.replace) {
    unlock();
    return FailedPrecondition(data.string() +
                              " is not empty: pass --replace to move it aside (it is kept as " +
                              data.filename().string() + ".before-restore-<time>)");
  }
  for (const auto& f : options.erasure_files) {
    auto list = ReadTombstoneFile(f);
    if (!list.ok()) {
      unlock();
      return list.status();
    }
    add(*list);
  }
  summary.tombstones_read = tombstones.size();
  for (const auto& [hash, at] : tombstones) {
    if (at > summary.backup_at_ms) ++summary.newer_than_backup;
  }
  // The secret the tombstones were made with.
  std::optional<std::string> backup_secret;
  {
    auto db = ReadOnlyDb::Open(backup_db.string());
    if (!db.ok()) {
      unlock();
      return db.status().WithContext("read the backup");
    }
    backup_secret = ReadSecret((*db)->db(), (*db)->meta());
  }
  if (options.key_file.empty() && old_secret && backup_secret && *old_secret != *backup_secret) {
    unlock();
    return FailedPrecondition(
        "the backup's erasure secret (gd/!secret) differs from the data dir's: this backup is "
        "from another installation");
  }

  // Copy in (a sibling first, then renames: the data dir is never half-copied).
  const std::string stamp = CompactUtc(options.now);
  const fs::path staging = data.parent_path() / (data.filename().string() + ".restoring-" + stamp);
  fs::remove_all(staging, ec);
  fs::create_directories(data.parent_path(), ec);
  fs::copy(backup_db, staging, fs::copy_options::recursive, ec);
  if (ec) {
    unlock();
    fs::remove_all(staging, ec);
    return Unavailable("copy " + backup_db.string() + ": " + ec.message());
  }
  fs::remove(staging / "LOCK", ec);
  if (occupied) {
    fs::path aside = data.parent_path() / (data.filename().string() + ".before-restore-" + stamp);
    for (int i = 2; fs::exists(aside, ec) && i < 100; ++i) {
      aside = data.parent_path() /
              (data.filename().string() + ".before-restore-" + stamp + "-" + std::to_string(i));
    }
    fs::rename(data, aside, ec);
    unlock();
    if (ec) return Unavailable("move " + data.string() + " aside: " + ec.message());
    summary.kept_aside = aside.string();
  } else if (fs::exists(data, ec)) {
    fs::remove(data, ec);  // an empty directory
  }
  unlock();
  fs::rename(staging, data, ec);
  if (ec) return Unavailable("move the copy into " + data.string() + ": " + ec.message());

  // Re-apply the erasures the backup does not hold.
  auto opened = state::StateStore::Open({.dir = data.string()});
  if (!opened.ok()) return opened.status().WithContext("open the restored data dir");
  state::StateStore& store = **opened;
  std::string secret;
  if (!options.key_file.empty()) {
    auto s = erasure::LoadSecret(store, options.key_file);
    if (!s.ok()) return s.status();
    secret = *s;
  } else if (old_secret) {
    secret = *old_secret;
    if (!backup_secret) {  // the engine keeps using the secret the tombstones were made with
      rocksdb::WriteOptions wo;
      wo.sync = true;
      auto s = store.db()->Put(wo, store.meta_cf(), kSecretKey, secret);
      if (!s.ok()) return FromRocks(s, "write the erasure secret");
    }
  } else if (backup_secret) {
    secret = *backup_secret;
  }
  auto held = ReadTombstones(store);
  if (!held.ok()) return held.status();
  std::map<std::string, TimestampMs> have;
  for (const auto& t : *held) have[t.hash] = t.at_ms;
  std::map<std::string, TimestampMs> pending;
  for (const auto& [hash, at] : tombstones) {
    auto it = have.find(hash);
    if (it == have.end() || it->second < at) pending[hash] = at;
  }
  if (pending.empty()) return summary;
  if (secret.empty()) {
    return FailedPrecondition(
        "no erasure secret to match the tombstones with: pass --config naming "
        "tracking.key_file (the restored data is in place; run the restore again with it)");
  }
  struct Match {
    int32_t partition;
    v1::CustomerState record;
    TimestampMs at;
  };
  std::vector<Match> matches;
  auto scan = store.ScanCustomers([&](int32_t partition, const v1::CustomerState& record) {
    const std::string key = erasure::TombstoneKey(secret, record.id());
    auto it = pending.find(key.substr(kTombstonePrefix.size()));
    // A first event newer than the erasure started a new customer (as the engine does).
    if (it != pending.end() && record.first_seen_ms() <= it->second) {
      matches.push_back({partition, record, it->second});
    }
    return true;
  });
  if (!scan.ok()) return scan;
  timer::TimerStore timers(&store);
  for (auto& m : matches) {
    auto batch = store.NewBatch();
    auto cp = store.GetCheckpoint(options.events_topic, m.partition);
    erasure::Request request{m.record.id(), "restore", m.at};
    const v1::CustomerState* record = m.record.events_total() > 0 ? &m.record : nullptr;
    auto r = erasure::Erase(batch, store, timers, m.partition, request, record,
                            cp ? cp->mutable_profile() : nullptr, secret);
    if (!r.ok()) return r.status().WithContext("erase again");
    if (cp) batch.PutCheckpoint(options.events_topic, m.partition, *cp);
    if (auto w = store.Write(batch); !w.ok()) return w;
    ++summary.customers_erased;
  }
  // Every tombstone, matched or not: old events replayed for them stay dropped.
  auto batch = store.NewBatch();
  for (const auto& [hash, at] : pending) {
    std::string value;
    PutU64BE(value, static_cast<uint64_t>(at));
    (void)batch.raw().Put(store.meta_cf(), std::string(kTombstonePrefix) + hash, value);
  }
  if (auto w = store.Write(batch); !w.ok()) return w;
  summary.tombstones_written = pending.size();
  if (auto f = store.db()->FlushWAL(true); !f.ok()) return FromRocks(f, "sync");
  return summary;
}

}  // namespace cairn::backup
