#include "campaign/scheduler.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "cairn/time.h"
#include "campaign/cron.h"

namespace cairn::campaign {
namespace {

void PutU32BE(std::string& out, uint32_t v) {
  out.push_back(static_cast<char>(v >> 24));
  out.push_back(static_cast<char>(v >> 16));
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

std::string U32BE(uint32_t v) {
  std::string s;
  PutU32BE(s, v);
  return s;
}

// The first run of a journey planned at `now`: `at` as is (also when already
// past: it runs once, as soon as it can), else the cron's next fire time.
std::optional<TimestampMs> FirstRun(const journey::Trigger& t, TimestampMs now) {
  if (t.at) return *t.at;
  return NextRun(t, now);
}

}  // namespace

std::string ScheduleText(const journey::Trigger& t) {
  if (t.at) return "at " + FormatTimestamp(*t.at);
  return fmt::format("cron {} ({})", t.cron, t.timezone.empty() ? "UTC" : t.timezone);
}

std::string Scheduler::RunKey(std::string_view journey, int32_t partition) {
  std::string k = "cr/";
  k.append(journey);
  k.push_back('/');
  PutU32BE(k, static_cast<uint32_t>(partition));
  return k;
}

Scheduler::Scheduler(state::StateStore* store, SchedulerOptions options)
    : store_(store), options_(options) {}

Scheduler::~Scheduler() = default;

void Scheduler::Assign(int32_t partition) { partitions_.insert(partition); }

void Scheduler::Revoke(int32_t partition) {
  partitions_.erase(partition);
  for (auto& [name, jr] : runs_) jr.parts.erase(partition);
}

Result<Scheduler::PartRun*> Scheduler::Load(JourneyRuns& jr, const std::string& journey,
                                            int32_t partition) {
  auto it = jr.parts.find(partition);
  if (it != jr.parts.end()) return &it->second;
  PartRun& pr = jr.parts[partition];
  std::string value;
  auto s = store_->db()->Get(rocksdb::ReadOptions(), store_->meta_cf(), RunKey(journey, partition),
                             &value);
  if (s.ok()) {
    if (!pr.rec.ParseFromString(value)) {
      jr.parts.erase(partition);
      return DataLoss("campaign run record of " + journey + " does not parse");
    }
  } else if (!s.IsNotFound()) {
    jr.parts.erase(partition);
    return Unavailable("campaign run record: " + s.ToString());
  }
  pr.rec.set_journey(journey);
  return &pr;
}

Status Scheduler::Step(const std::shared_ptr<const flow::Catalog>& catalog,
                       const std::function<TimestampMs(int32_t)>& now,
                       std::chrono::steady_clock::time_point steady, std::vector<Candidate>& out) {
  out.clear();
  busy_ = false;
  size_t scan_budget = options_.max_scan_per_step;
  size_t entry_budget = options_.max_entries_per_step;
  // Journeys no longer loaded (or no longer scheduled) stop here; their
  // records stay in RocksDB for a reload.
  for (auto it = runs_.begin(); it != runs_.end();) {
    const journey::Journey* j = catalog->Current(it->first);
    if (j == nullptr || j->trigger.kind != journey::TriggerKind::kSchedule) {
      it = runs_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [name, j] : catalog->current()) {
    if (j->trigger.kind != journey::TriggerKind::kSchedule) continue;
    JourneyRuns& jr = runs_[name];
    jr.schedule = ScheduleText(j->trigger);
    jr.rate = j->trigger.rate;
    jr.paused = j->paused;
    // The bucket holds a tenth of a second of entries: no one-second window
    // sees more than 1.1 x rate, however long the run waited.
    const double cap = std::max(1.0, jr.rate / 10);
    if (jr.bucket.at == std::chrono::steady_clock::time_point{}) {
      jr.bucket.tokens = cap;
    } else {
      const double dt = std::chrono::duration<double>(steady - jr.bucket.at).count();
      jr.bucket.tokens = std::min(cap, jr.bucket.tokens + std::max(0.0, dt) * jr.rate);
    }
    jr.bucket.at = steady;
    for (int32_t p : partitions_) {
      const TimestampMs t = now(p);
      auto loaded = Load(jr, name, p);
      if (!loaded.ok()) return loaded.status();
      PartRun& pr = **loaded;
      auto& rec = pr.rec;
      if (rec.schedule() != jr.schedule && !rec.active()) {
        // First sight of this journey here, or its schedule changed. A cron
        // needs a clock: on event time, a partition that has seen no event
        // yet plans later.
        if (t <= 0 && !j->trigger.at) continue;
        rec.set_schedule(jr.schedule);
        rec.set_next_run_ms(FirstRun(j->trigger, t).value_or(0));
        pr.dirty = dirty_ = true;
      }
      if (jr.paused) continue;
      if (!rec.active() && rec.next_run_ms() > 0 && t >= rec.next_run_ms()) {
        const TimestampMs run_at = rec.next_run_ms();
        rec.set_run_at_ms(run_at);
        rec.set_active(true);
        rec.clear_cursor();
        rec.set_scanned(0);
        rec.set_entered(0);
        rec.set_started_ms(t);
        rec.set_finished_ms(0);
        // Ticks missed while the engine was down collapse into this run.
        rec.set_next_run_ms(j->trigger.at ? 0
                                          : NextRun(j->trigger, std::max(t, run_at)).value_or(0));
        pr.it.reset();
        pr.snapshot.reset();
        pr.dirty = dirty_ = true;
        counts_.runs_started++;
        spdlog::info("campaign {}: run of {} starts on partition {}", name, FormatTimestamp(run_at),
                     p);
      }
      if (!rec.active()) continue;
      bool throttled = false;
      CAIRN_RETURN_IF_ERROR(
          Scan(jr, catalog, *j, p, pr, t, scan_budget, entry_budget, throttled, out));
      if (throttled) break;  // the bucket is dry for this journey
    }
  }
  Publish();
  return Status::Ok();
}

Status Scheduler::Scan(JourneyRuns& jr, const std::shared_ptr<const flow::Catalog>& catalog,
                       const journey::Journey& j, int32_t partition, PartRun& pr, TimestampMs now,
                       size_t& scan_budget, size_t& entry_budget, bool& throttled,
                       std::vector<Candidate>& out) {
  auto& rec = pr.rec;
  if (!jr.audience || jr.audience_of != catalog || jr.audience_run != rec.run_at_ms()) {
    jr.audience = std::make_unique<Audience>(j, rec.run_at_ms(), &catalog->profile());
    jr.audience_of = catalog;
    jr.audience_run = rec.run_at_ms();
  }
  if (!pr.it) {
    // The run's view of the partition: a snapshot taken when it started
    // here, or when it resumed after a restart.
    pr.snapshot = std::make_unique<rocksdb::ManagedSnapshot>(store_->db());
    rocksdb::ReadOptions ro;
    ro.snapshot = pr.snapshot->snapshot();
    ro.fill_cache = false;  // a full scan must not push hot customers out
    pr.upper = U32BE(static_cast<uint32_t>(partition) + 1);
    pr.upper_slice = rocksdb::Slice(pr.upper);
    ro.iterate_upper_bound = &pr.upper_slice;
    pr.it.reset(store_->db()->NewIterator(ro, store_->customers_cf()));
    if (rec.cursor().empty()) {
      pr.it->Seek(U32BE(static_cast<uint32_t>(partition)));
    } else {
      pr.it->Seek(rec.cursor());
      if (pr.it->Valid() && pr.it->key() == rocksdb::Slice(rec.cursor())) pr.it->Next();
    }
  }
  const Audience& audience = *jr.audience;
  auto& it = *pr.it;
  for (; it.Valid(); it.Next()) {
    if (scan_budget == 0) {
      busy_ = true;
      return Status::Ok();
    }
    const rocksdb::Slice key = it.key();
    if (key.size() < 8) continue;
    const rocksdb::Slice value = it.value();
    if (audience.Matches(std::string_view(value.data(), value.size()), now)) {
      if (jr.bucket.tokens < 1 || entry_budget == 0) {
        throttled = true;
        counts_.throttled++;
        if (entry_budget == 0) busy_ = true;
        return Status::Ok();
      }
      jr.bucket.tokens -= 1;
      --entry_budget;
      Candidate c;
      c.partition = partition;
      c.customer.assign(key.data() + 8, key.size() - 8);
      c.journey = j.name;
      c.run_at_ms = rec.run_at_ms();
      out.push_back(std::move(c));
      counts_.candidates++;
    }
    rec.set_cursor(key.data(), key.size());
    rec.set_scanned(rec.scanned() + 1);
    counts_.scanned++;
    --scan_budget;
    pr.dirty = dirty_ = true;
  }
  if (!it.status().ok()) return Unavailable("campaign scan: " + it.status().ToString());
  rec.set_active(false);
  rec.set_finished_ms(now);
  rec.set_runs(rec.runs() + 1);
  pr.it.reset();
  pr.snapshot.reset();
  pr.dirty = dirty_ = true;
  counts_.runs_finished++;
  spdlog::info("campaign {}: run of {} done on partition {}: {} profiles scanned", j.name,
               FormatTimestamp(rec.run_at_ms()), partition, rec.scanned());
  return Status::Ok();
}

void Scheduler::Entered(const Candidate& c, bool entered) {
  if (!entered) return;
  counts_.entered++;
  auto jr = runs_.find(c.journey);
  if (jr == runs_.end()) return;
  auto pr = jr->second.parts.find(c.partition);
  if (pr == jr->second.parts.end()) return;
  pr->second.rec.set_entered(pr->second.rec.entered() + 1);
  pr->second.dirty = dirty_ = true;
}

bool Scheduler::Stage(state::StateStore::Batch& batch) {
  if (!dirty_) return false;
  for (auto& [name, jr] : runs_) {
    for (auto& [p, pr] : jr.parts) {
      if (!pr.dirty) continue;
      (void)batch.raw().Put(store_->meta_cf(), RunKey(name, p), pr.rec.SerializeAsString());
      pr.dirty = false;
    }
  }
  dirty_ = false;
  Publish();
  return true;
}

void Scheduler::Publish() {
  std::vector<CampaignStatus> list;
  for (const auto& [name, jr] : runs_) {
    CampaignStatus s;
    s.journey = name;
    s.schedule = jr.schedule;
    s.rate = jr.rate;
    for (const auto& [p, pr] : jr.parts) s.run_at_ms = std::max(s.run_at_ms, pr.rec.run_at_ms());
    for (const auto& [p, pr] : jr.parts) {
      const auto& r = pr.rec;
      if (r.next_run_ms() > 0 && (s.next_run_ms == 0 || r.next_run_ms() < s.next_run_ms)) {
        s.next_run_ms = r.next_run_ms();
      }
      s.runs += r.runs();
      if (r.active()) s.partitions_running++;
      if (r.run_at_ms() == s.run_at_ms && s.run_at_ms > 0) {
        s.scanned += r.scanned();
        s.entered += r.entered();
      }
    }
    s.state = jr.parts.empty()           ? "unassigned"
              : jr.paused                ? "paused"
              : s.partitions_running > 0 ? "running"
              : s.next_run_ms > 0        ? "scheduled"
                                         : "done";
    list.push_back(std::move(s));
  }
  std::lock_guard lock(mu_);
  status_ = std::move(list);
  metrics_ = counts_;
}

std::vector<CampaignStatus> Scheduler::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

SchedulerMetrics Scheduler::metrics() const {
  std::lock_guard lock(mu_);
  return metrics_;
}

}  // namespace cairn::campaign
