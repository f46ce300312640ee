// Campaign runs: journeys with a `schedule` trigger enter every customer of
// their audience when the schedule comes due. The engine owns one Scheduler
// and calls it on its ingest thread, once per loop iteration:
//
//   Step()   for each schedule journey and each owned partition: start a run
//            that is due, then scan a bounded slice of the partition's
//            customers (a RocksDB snapshot taken when the run started or
//            resumed here), keep those the Audience admits, as many as the
//            journey's token bucket (`rate` entries/s per instance) allows.
//   the engine enters each candidate through flow::Runtime::EnterScheduled on
//            its cached record (the same records events fold into) and
//            reports it with Entered().
//   Stage()  puts the changed run records (cursor, counts, next run) into the
//            batch in hand: the cursor is written in the same WriteBatch as
//            the customers it covers, so a crash resumes exactly there.
//
// Run records, one per (journey, partition), in the default column family:
// "cr/" <journey> "/" <partition u32 BE> -> v1::CampaignRun. A cron journey's
// next run is computed from the last one and persisted, so a run that came
// due while the engine was down starts when it is back, once (missed ticks
// collapse into one run). `at` runs once, also if the engine comes back after
// the instant. Paused journeys start no run and scan nothing until resumed.
//
// Threading: everything but status() and metrics() belongs to the ingest
// thread; those two may be called from any thread.
#pragma once

#include <rocksdb/db.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "cairn/clock.h"
#include "cairn/status.h"
#include "cairn/v1/state.pb.h"
#include "campaign/audience.h"
#include "flow/catalog.h"
#include "state/state_store.h"

namespace cairn::campaign {

struct SchedulerOptions {
  size_t max_scan_per_step = 20000;    // profiles evaluated per Step at most (all runs)
  size_t max_entries_per_step = 2000;  // candidates handed out per Step at most
};

// A customer a run admits: enter it, then report with Entered(run, ...).
struct Candidate {
  int32_t partition = 0;
  std::string customer;
  std::string journey;
  TimestampMs run_at_ms = 0;
};

// One schedule journey as /v1/status shows it (this instance's partitions).
struct CampaignStatus {
  std::string journey;
  std::string schedule;         // "at 2026-12-01T08:00:00Z" or "cron 0 9 * * MON (Europe/Berlin)"
  double rate = 0;              // entries/s per instance
  std::string state;            // scheduled | running | paused | done | unassigned
  TimestampMs run_at_ms = 0;    // the current or last run; 0 = none yet
  TimestampMs next_run_ms = 0;  // 0 = none
  uint64_t runs = 0;            // partition runs finished
  uint64_t scanned = 0, entered = 0;  // of the current or last run
  int partitions_running = 0;
};

struct SchedulerMetrics {
  uint64_t runs_started = 0;   // partition runs started by this process
  uint64_t runs_finished = 0;  // partition runs finished by this process
  uint64_t scanned = 0;        // profiles evaluated by this process
  uint64_t candidates = 0;     // admitted by the audience filter
  uint64_t entered = 0;        // entered by the runtime
  uint64_t throttled = 0;      // slices cut short by the rate
};

class Scheduler {
 public:
  // `store` must outlive the Scheduler.
  Scheduler(state::StateStore* store, SchedulerOptions options = {});
  ~Scheduler();

  // Partition ownership (the engine's rebalance callbacks).
  void Assign(int32_t partition);
  void Revoke(int32_t partition);

  // One bounded slice of work. `now(partition)` is the partition's clock
  // (wall or event time); `steady` drives the token buckets. Appends to
  // `out` (cleared first).
  Status Step(const std::shared_ptr<const flow::Catalog>& catalog,
              const std::function<TimestampMs(int32_t)>& now,
              std::chrono::steady_clock::time_point steady, std::vector<Candidate>& out);
  void Entered(const Candidate& candidate, bool entered);
  // Puts every changed run record into `batch`. True when there were any.
  bool Stage(state::StateStore::Batch& batch);
  // Changed run records wait for Stage.
  bool dirty() const { return dirty_; }
  // A run has more to scan and tokens to spend: the engine should not wait
  // for input before the next Step.
  bool busy() const { return busy_; }

  std::vector<CampaignStatus> status() const;
  SchedulerMetrics metrics() const;

  static std::string RunKey(std::string_view journey, int32_t partition);

 private:
  struct PartRun {
    v1::CampaignRun rec;
    bool dirty = false;
    std::unique_ptr<rocksdb::ManagedSnapshot> snapshot;  // of the run in progress
    std::unique_ptr<rocksdb::Iterator> it;               // positioned after rec.cursor
    std::string upper;                                   // iterator bound: the next partition
    rocksdb::Slice upper_slice;
  };
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point at{};
  };
  struct JourneyRuns {
    std::map<int32_t, PartRun> parts;
    Bucket bucket;
    std::unique_ptr<Audience> audience;                // of the run it was built for
    std::shared_ptr<const flow::Catalog> audience_of;  // holds its journey and profile model
    TimestampMs audience_run = 0;
    std::string schedule;  // the trigger as text; a change re-plans the next run
    double rate = 0;
    bool paused = false;
  };

  Result<PartRun*> Load(JourneyRuns& jr, const std::string& journey, int32_t partition);
  // Scans part of one partition's run. Sets `throttled` when the bucket
  // (or the step's entry budget) ran dry before the partition's end.
  Status Scan(JourneyRuns& jr, const std::shared_ptr<const flow::Catalog>& catalog,
              const journey::Journey& j, int32_t partition, PartRun& pr, TimestampMs now,
              size_t& scan_budget, size_t& entry_budget, bool& throttled,
              std::vector<Candidate>& out);
  void Publish();

  state::StateStore* store_;
  SchedulerOptions options_;
  std::set<int32_t> partitions_;
  std::map<std::string, JourneyRuns> runs_;  // by journey
  bool dirty_ = false;
  bool busy_ = false;
  std::string key_scratch_;
  SchedulerMetrics counts_;

  mutable std::mutex mu_;
  std::vector<CampaignStatus> status_;  // guarded by mu_
  SchedulerMetrics metrics_;            // guarded by mu_
};

// The schedule trigger as one line of text (status, change detection).
std::string ScheduleText(const journey::Trigger& trigger);

}  // namespace cairn::campaign
