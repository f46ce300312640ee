// Backup and restore end to end: the real engine on an embedded broker
// (librdkafka mock cluster), real RocksDB, the HTTP API and the `cairn`
// binary. A backup taken through POST /v1/admin/backup, then an erasure
// through DELETE /v1/customers/{id}: restoring the backup must not bring the
// erased customer back (backup/backup.h).
#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "analytics/counter_merge.h"
#include "api/audit_log.h"
#include "api/engine_api.h"
#include "api/http_server.h"
#include "backup/backup.h"
#include "cairn/big_endian.h"
#include "cairn/murmur2.h"
#include "cairn/time.h"
#include "engine_api_fixture.h"
#include "erasure/erasure.h"
#include "flow/library.h"
#include "kafka/embedded_broker.h"
#include "kafka/producer.h"
#include "labels/label_publisher.h"
#include "profile/profile_store.h"
#include "runtime/engine.h"
#include "state/state_store.h"
#include "test_support.h"
#include "timer/timer_store.h"

namespace cairn {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
constexpr int kPartitions = testing::EngineApiFixture::kPartitions;

constexpr char kProfile[] = R"(traits:
  orders_total: { count: Order Completed }
segments:
  buyers: "traits.orders_total > 0"
)";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int32_t PartitionOf(const std::string& id) { return PartitionForKey(id, kPartitions); }

// What a data dir holds about one customer.
struct Held {
  bool record = false;
  size_t history = 0;
  size_t trace = 0;
  size_t timers = 0;
};

Held HeldFor(state::StateStore& store, const std::string& id) {
  Held h;
  auto c = store.GetCustomer(PartitionOf(id), id);
  h.record = c.ok() && c->has_value();
  const std::string prefix = state::StateStore::CustomerKey(PartitionOf(id), id);
  for (auto* cf : {store.history_cf(), store.trace_cf()}) {
    std::unique_ptr<rocksdb::Iterator> it(store.db()->NewIterator({}, cf));
    size_t n = 0;
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) ++n;
    (cf == store.history_cf() ? h.history : h.trace) = n;
  }
  std::unique_ptr<rocksdb::Iterator> it(store.db()->NewIterator({}, store.timers_cf()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    timer::Timer t;
    if (timer::DecodeTimerKey(it->key().ToStringView(), t).ok() && t.customer_id == id) ++h.timers;
  }
  return h;
}

class BackupRestoreTest : public testing::EngineApiFixture {
 protected:
  void SetUp() override { SetUpEngine("br", testing::kWelcomeJourney, kProfile, "data"); }

  void ConfigureApi(api::EngineApiContext& ctx, api::ServerOptions& server) override {
    ctx.backup_dir = backup::DefaultBackupDir(data_);  // <tmp>/backups
    auto audit = api::AuditLog::Open(dir_.Sub("audit.log"));
    ASSERT_TRUE(audit.ok());
    server.audit = std::move(audit).value();
  }

  void Track(const std::string& user, const std::string& event, const std::string& id,
             TimestampMs ts) {
    const json e = {{"type", "track"},
                    {"userId", user},
                    {"event", event},
                    {"messageId", id},
                    {"timestamp", FormatTimestamp(ts)},
                    {"properties", json::object()}};
    ASSERT_TRUE(producer_->Produce(options_.topics.events, user, e.dump(), {}).ok());
    ASSERT_TRUE(producer_->Flush(10000).ok());
  }

  bool Stored(const std::string& id) {
    return testing::WaitFor(
        [&] {
          auto c = store_->GetCustomer(PartitionOf(id), id);
          return c.ok() && c->has_value();
        },
        std::chrono::seconds(20));
  }
};

TEST_F(BackupRestoreTest, RestoreReappliesErasuresMadeAfterTheBackup) {
  StartEngine();
  const TimestampMs t0 = SystemClock::Instance().NowMs() - 60000;
  const std::string ann = "ann@example.com";
  Track(ann, "Signed Up", "a1", t0);
  Track(ann, "Order Completed", "a2", t0 + 1000);
  Track("bob", "Signed Up", "b1", t0);
  Track("bob", "Order Completed", "b2", t0 + 1000);
  Track("cy", "Signed Up", "c1", t0);
  ASSERT_TRUE(Stored(ann) && Stored("bob") && Stored("cy"));
  ASSERT_TRUE(testing::WaitFor(
      [&] { return HeldFor(*store_, ann).timers > 0 && HeldFor(*store_, "cy").timers > 0; },
      std::chrono::seconds(20)));
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return profile::SummedStats(*store_, options_.topics.events).segments().count("buyers") &&
               profile::SummedStats(*store_, options_.topics.events).segments().at("buyers") == 2;
      },
      std::chrono::seconds(20)));

  // (a) The backup, through the endpoint: 201 with the manifest.
  auto r = testing::HttpCall("POST", http_->address(), "/v1/admin/backup");
  ASSERT_EQ(r.status, 201) << r.body;
  const json manifest = json::parse(r.body);
  const std::string backup_path = manifest["path"];
  EXPECT_EQ(fs::path(backup_path).parent_path(), fs::path(dir_.Sub("backups")));
  EXPECT_TRUE(manifest["name"].get<std::string>().starts_with("cairn-backup-"));
  EXPECT_TRUE(fs::exists(backup_path + "/db/CURRENT"));
  EXPECT_GT(manifest["bytes"].get<uint64_t>(), 0u);
  EXPECT_GT(manifest["sequence"].get<uint64_t>(), 0u);
  EXPECT_EQ(manifest["tombstones"], 0);
  ASSERT_FALSE(manifest["offsets"].empty()) << r.body;
  int64_t offsets = 0;
  for (const auto& o : manifest["offsets"]) {
    if (o["topic"] == options_.topics.events) offsets += o["next_offset"].get<int64_t>();
  }
  EXPECT_GE(offsets, 5);
  auto on_disk = backup::ReadManifest(backup_path);
  ASSERT_TRUE(on_disk.ok()) << on_disk.status().ToString();
  EXPECT_EQ(on_disk->ToJson(), manifest);
  // Audited like any mutating admin call.
  const std::string audit = ReadFile(dir_.Sub("audit.log"));
  EXPECT_NE(audit.find(R"("path":"/v1/admin/backup","status":201)"), std::string::npos) << audit;

  // `cairn backup --api` calls the same endpoint and prints the new path.
  const std::string cli_log = dir_.Sub("cli.log");
  {
    testing::ChildProcess cli({CAIRN_BINARY, "backup", "--api", "http://" + http_->address()},
                              cli_log);
    const int status = cli.Wait(std::chrono::seconds(30));
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadFile(cli_log);
  }
  EXPECT_NE(ReadFile(cli_log).find(dir_.Sub("backups") + "/cairn-backup-"), std::string::npos)
      << ReadFile(cli_log);
  size_t backups = 0;
  for (const auto& e : fs::directory_iterator(dir_.Sub("backups"))) backups += e.is_directory();
  EXPECT_EQ(backups, 2u);

  // (b) After the backup: Ann is erased (the real path), Dan arrives.
  r = testing::HttpCall("DELETE", http_->address(), "/v1/customers/" + ann);
  ASSERT_EQ(r.status, 202) << r.body;
  ASSERT_TRUE(
      testing::WaitFor([&] { return engine_->metrics().erasures == 1; }, std::chrono::seconds(20)));
  Track("dan", "Signed Up", "d1", SystemClock::Instance().NowMs());
  ASSERT_TRUE(Stored("dan"));
  StopEngine();
  EXPECT_FALSE(HeldFor(*store_, ann).record);

  // (c) A restore into the live, open data dir is refused and changes nothing.
  backup::RestoreOptions ro;
  ro.backup = backup_path;
  ro.data = data_;
  ro.replace = true;
  ro.events_topic = options_.topics.events;
  ro.now = SystemClock::Instance().NowMs();
  auto refused = backup::Restore(ro);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("in use"), std::string::npos)
      << refused.status().ToString();
  EXPECT_TRUE(HeldFor(*store_, "dan").record);
  for (const auto& e : fs::directory_iterator(dir_.path())) {
    EXPECT_EQ(e.path().filename().string().find("before-restore"), std::string::npos);
  }

  // The tombstones, exported off the volume by `cairn erasures export`
  // while the store is open (a read-only open takes no lock).
  auto tombstones = backup::ReadTombstones(*store_);
  ASSERT_TRUE(tombstones.ok());
  ASSERT_EQ(tombstones->size(), 1u);
  const std::string exported = dir_.Sub("erasures.jsonl");
  {
    testing::ChildProcess cli(
        {CAIRN_BINARY, "erasures", "export", "--data", data_, "--out", exported}, cli_log);
    const int status = cli.Wait(std::chrono::seconds(30));
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadFile(cli_log);
  }
  auto from_file = backup::ReadTombstoneFile(exported);
  ASSERT_TRUE(from_file.ok()) << from_file.status().ToString();
  EXPECT_EQ(*from_file, *tombstones);

  // Control: the backup restored without the tombstones brings Ann back
  // (so the next check is about the re-application, not the backup).
  ro.data = dir_.Sub("plain");
  ro.replace = false;
  auto plain = backup::Restore(ro);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(plain->customers_erased, 0u);
  {
    auto s = state::StateStore::Open({.dir = ro.data});
    ASSERT_TRUE(s.ok());
    EXPECT_TRUE(HeldFor(**s, ann).record);
    EXPECT_GT(HeldFor(**s, ann).history, 0u);
  }

  // Into a fresh dir, with the exported tombstones: Ann stays erased.
  ro.data = dir_.Sub("fresh");
  ro.erasure_files = {exported};
  auto fresh = backup::Restore(ro);
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  EXPECT_EQ(fresh->backup_at_ms, manifest["created_at_ms"].get<TimestampMs>());
  EXPECT_EQ(fresh->tombstones_read, 1u);
  EXPECT_EQ(fresh->newer_than_backup, 1u);
  EXPECT_EQ(fresh->tombstones_written, 1u);
  EXPECT_EQ(fresh->customers_erased, 1u);
  EXPECT_TRUE(fresh->kept_aside.empty());
  {
    auto opened = state::StateStore::Open({.dir = ro.data});
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    state::StateStore& s = **opened;
    const Held a = HeldFor(s, ann);
    EXPECT_FALSE(a.record);
    EXPECT_EQ(a.history, 0u);
    EXPECT_EQ(a.trace, 0u);
    EXPECT_EQ(a.timers, 0u);
    EXPECT_TRUE(erasure::ReadTombstone(s, options_.erasure_secret, ann).has_value());
    for (const std::string id : {"bob", "cy"}) {
      const Held h = HeldFor(s, id);
      EXPECT_TRUE(h.record) << id;
      EXPECT_GT(h.history, 0u) << id;
      EXPECT_GT(h.timers, 0u) << id;
    }
    EXPECT_FALSE(HeldFor(s, "dan").record);  // after the backup: Kafka replays him
    EXPECT_EQ(profile::SummedStats(s, options_.topics.events).segments().at("buyers"), 1);
  }
  // Restoring again over it needs --replace; the same tombstones then find nothing to do.
  ro.replace = false;
  auto busy = backup::Restore(ro);
  ASSERT_FALSE(busy.ok());
  EXPECT_NE(busy.status().message().find("not empty"), std::string::npos);

  // In place, --replace: the tombstones come from the old data dir itself,
  // which is kept aside, never deleted.
  store_.reset();
  ro.data = data_;
  ro.replace = true;
  ro.erasure_files.clear();
  auto replaced = backup::Restore(ro);
  ASSERT_TRUE(replaced.ok()) << replaced.status().ToString();
  EXPECT_EQ(replaced->tombstones_read, 1u);
  EXPECT_EQ(replaced->customers_erased, 1u);
  ASSERT_FALSE(replaced->kept_aside.empty());
  EXPECT_TRUE(replaced->kept_aside.starts_with(data_ + ".before-restore-"));
  {
    auto old = state::StateStore::Open({.dir = replaced->kept_aside});
    ASSERT_TRUE(old.ok());
    EXPECT_TRUE(HeldFor(**old, "dan").record);
  }
  auto restored = state::StateStore::Open({.dir = data_});
  ASSERT_TRUE(restored.ok());
  EXPECT_FALSE(HeldFor(**restored, ann).record);
  EXPECT_EQ(HeldFor(**restored, ann).history, 0u);
  EXPECT_TRUE(HeldFor(**restored, "bob").record);
  EXPECT_FALSE(HeldFor(**restored, "dan").record);
}

// A read-only open (export, restore) replays the WAL of a store that was
// not flushed. A batch with an analytics counter (a RocksDB Merge) before
// the tombstone once stopped that replay, silently: the read-only handle had
// no merge operator, and the tombstone was missing from the export.
TEST(TombstoneFileTest, AReadOnlyOpenReadsTombstonesWrittenAfterACounter) {
  testing::TempDir dir;
  {
    auto store = state::StateStore::Open({.dir = dir.Sub("db")});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto batch = (*store)->NewBatch();
    (void)batch.raw().Merge((*store)->analytics_cf(), "j/welcome/entered",
                            analytics::EncodeCounter(1));
    ASSERT_TRUE((*store)->Write(batch).ok());
    auto second = (*store)->NewBatch();
    std::string at;
    PutU64BE(at, 1764950400123ULL);
    (void)second.raw().Put((*store)->meta_cf(), "gd/" + std::string(64, 'a'), at);
    ASSERT_TRUE((*store)->Write(second).ok());
    // Open while the store is open (export), then after it closed (restore).
    auto live = backup::ReadTombstonesAt(dir.Sub("db"));
    ASSERT_TRUE(live.ok()) << live.status().ToString();
    EXPECT_EQ(live->size(), 1u);
  }
  auto closed = backup::ReadTombstonesAt(dir.Sub("db"));
  ASSERT_TRUE(closed.ok()) << closed.status().ToString();
  ASSERT_EQ(closed->size(), 1u);
  EXPECT_EQ((*closed)[0].at_ms, 1764950400123);
}

TEST(TombstoneFileTest, RoundTripsAndNamesTheBadLine) {
  testing::TempDir dir;
  const std::vector<backup::Tombstone> list = {{std::string(64, 'a'), 1764950400123},
                                               {std::string(64, '0'), 1}};
  ASSERT_TRUE(backup::WriteTombstoneFile(dir.Sub("t.jsonl"), list).ok());
  auto back = backup::ReadTombstoneFile(dir.Sub("t.jsonl"));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, list);
  EXPECT_NE(ReadFile(dir.Sub("t.jsonl")).find(R"("at":"2025-12-05T16:00:00.123Z")"),
            std::string::npos);
  std::ofstream(dir.Sub("bad.jsonl"))
      << "{\"hash\":\"" << std::string(64, 'b') << "\",\"at\":\"2026-01-01T00:00:00Z\"}\n\n"
      << "{\"hash\":\"xyz\",\"at\":\"2026-01-01T00:00:00Z\"}\n";
  auto bad = backup::ReadTombstoneFile(dir.Sub("bad.jsonl"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("bad.jsonl:3:"), std::string::npos)
      << bad.status().ToString();
}

TEST(BackupMakerTest, OneBackupAtATimeAndAFailedOneLeavesNothing) {
  testing::TempDir dir;
  auto store = state::StateStore::Open({.dir = dir.Sub("data")});
  ASSERT_TRUE(store.ok());
  backup::BackupMaker maker(store->get(), dir.Sub("backups"));
  EXPECT_FALSE(maker.Wait(std::chrono::milliseconds(0)).has_value());  // none started
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  maker.SetBeforeCheckpointForTest([&] {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, std::chrono::seconds(20), [&] { return release; });
  });
  const TimestampMs now = SystemClock::Instance().NowMs();
  auto first = maker.Start(now);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = maker.Start(now);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kAlreadyExists);
  EXPECT_NE(second.status().message().find(first->name), std::string::npos);
  EXPECT_FALSE(maker.Wait(std::chrono::milliseconds(50)).has_value());  // still running
  EXPECT_FALSE(fs::exists(first->path + "/manifest.json"));
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  auto done = maker.Wait(std::chrono::seconds(20));
  ASSERT_TRUE(done.has_value());
  ASSERT_TRUE(done->ok()) << done->status().ToString();
  EXPECT_TRUE(fs::exists(first->path + "/manifest.json"));
  // The same second again: a new name.
  maker.SetBeforeCheckpointForTest(nullptr);
  auto third = maker.Create(now);
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  EXPECT_EQ(third->name, first->name + "-2");
  // A checkpoint that cannot be made (its db/ is taken) removes its directory.
  maker.SetBeforeCheckpointForTest([&] {
    for (const auto& e : fs::directory_iterator(dir.Sub("backups"))) {
      if (!fs::exists(e.path() / "manifest.json")) fs::create_directories(e.path() / "db");
    }
  });
  auto failed = maker.Create(now);
  ASSERT_FALSE(failed.ok());
  EXPECT_FALSE(fs::exists(dir.Sub("backups") + "/" + first->name + "-3"));
}

TEST(RestoreTest, RefusesAMissingBackupAndANonEmptyDirWithoutReplace) {
  testing::TempDir dir;
  backup::RestoreOptions ro;
  ro.backup = dir.Sub("nothing");
  ro.data = dir.Sub("data");
  auto missing = backup::Restore(ro);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  // A bare checkpoint (no manifest) is a backup too.
  {
    auto s = state::StateStore::Open({.dir = dir.Sub("src")});
    ASSERT_TRUE(s.ok());
    backup::BackupMaker maker(s->get(), dir.Sub("backups"));
    auto m = maker.Create(SystemClock::Instance().NowMs());
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    ro.backup = m->path + "/db";
  }
  fs::create_directories(ro.data);
  std::ofstream(ro.data + "/notes.txt") << "not a database";
  auto occupied = backup::Restore(ro);
  ASSERT_FALSE(occupied.ok());
  EXPECT_EQ(occupied.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(fs::exists(ro.data + "/notes.txt"));
  ro.replace = true;
  auto done = backup::Restore(ro);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(done->backup_at_ms, 0);
  EXPECT_TRUE(fs::exists(done->kept_aside + "/notes.txt"));
  EXPECT_TRUE(fs::exists(ro.data + "/CURRENT"));
}

TEST(RestoreTest, KeepsACustomerWhoCameBackAfterTheErasure) {
  // Tombstones the backup lacks, whatever their age: "old" was erased after
  // their first event (erased again), "new" first came after the erasure
  // (a new customer, kept, as the engine keeps them).
  testing::TempDir dir;
  std::string secret;
  std::string backup_path;
  const TimestampMs t0 = 1764950400000;
  {
    auto s = state::StateStore::Open({.dir = dir.Sub("src")});
    ASSERT_TRUE(s.ok());
    auto sec = erasure::LoadSecret(**s, "");
    ASSERT_TRUE(sec.ok());
    secret = *sec;
    auto batch = (*s)->NewBatch();
    for (const auto& [id, first] : std::vector<std::pair<std::string, TimestampMs>>{
             {"old", t0}, {"new", t0 + 5000}, {"other", t0}}) {
      v1::CustomerState c;
      c.set_id(id);
      c.set_first_seen_ms(first);
      c.set_last_seen_ms(first);
      c.set_events_total(1);
      batch.PutCustomer(PartitionOf(id), c);
    }
    ASSERT_TRUE((*s)->Write(batch).ok());
    backup::BackupMaker maker(s->get(), dir.Sub("backups"));
    auto m = maker.Create(t0 + 10000);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    backup_path = m->path;
  }
  auto hash = [&](const std::string& id) { return erasure::TombstoneKey(secret, id).substr(3); };
  const std::string file = dir.Sub("erasures.jsonl");
  ASSERT_TRUE(
      backup::WriteTombstoneFile(file, {{hash("old"), t0 + 1000}, {hash("new"), t0 + 1000}}).ok());
  backup::RestoreOptions ro;
  ro.backup = backup_path;
  ro.data = dir.Sub("data");
  ro.erasure_files = {file};
  auto done = backup::Restore(ro);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(done->tombstones_read, 2u);
  EXPECT_EQ(done->newer_than_backup, 0u);  // both older than the backup, yet missing from it
  EXPECT_EQ(done->tombstones_written, 2u);
  EXPECT_EQ(done->customers_erased, 1u);
  auto s = state::StateStore::Open({.dir = ro.data});
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(HeldFor(**s, "old").record);
  EXPECT_TRUE(HeldFor(**s, "new").record);
  EXPECT_TRUE(HeldFor(**s, "other").record);
  EXPECT_EQ(erasure::ReadTombstone(**s, secret, "old"), t0 + 1000);
  EXPECT_EQ(erasure::ReadTombstone(**s, secret, "new"), t0 + 1000);
}

}  // namespace
}  // namespace cairn
