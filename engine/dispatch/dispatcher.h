// The dispatcher: turns the journeys' send tasks into messages through the
// channel connectors, effectively once.
//
//   engine thread   Stage()  a task into the batch in hand: a "q" row in the
//                            dispatch CF, in the same WriteBatch as the decision
//                   Seal()   the batch went to the writer
//                   Submit() it is durable (WAL synced): its tasks go to the lanes
//   lanes           one per connector instance: a bounded queue, retries by due
//                   time, a token bucket, `concurrency` worker threads each with
//                   its own Connector
//   worker          ledger check (ended? never again) -> consent and address
//                   from the customer's current state -> render -> Send
//   recorder thread every attempt into the ledger ("l" rows); a task that
//                   ended loses its "q" row in the same write; outcome events
//                   (Message Sent/Failed/Bounced) are staged in an outbox in that
//                   write and produced to the events topic once it is durable
//
// Crash anywhere: the "q" row stays until the ledger says the task ended, so
// a restart sends it again (same task id = same idempotency key); a task the
// ledger says ended is never sent again. The one window that can repeat a
// message to a peer without idempotency (SMTP) is "accepted, not yet
// recorded"; the Message-ID (from the task id) tells such duplicates apart.
//
// A slow or dead provider fills only its own lane; tasks beyond the lane's
// bound stay in RocksDB ("spilled") and are loaded again when it drains. The
// ingest thread never waits for a lane.
//
// Key layout (dispatch CF):
//   "q" <partition u32 BE><seq u64 BE>  -> v1::DispatchItem
//   "l" <task_id>                       -> v1::LedgerEntry
//   "o" <partition u32 BE><seq u64 BE>  -> v1::OutboxRecord (outcome events)
#pragma once

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cairn/clock.h"
#include "cairn/connector.h"
#include "cairn/status.h"
#include "cairn/v1/state.pb.h"
#include "dispatch/templates.h"
#include "dispatch/tracking.h"
#include "kafka/producer.h"
#include "state/state_store.h"

namespace cairn::dispatch {

// One connector instance and how the dispatcher drives it.
struct LaneOptions {
  std::string connector;  // instance name (the key under `connectors:`)
  std::string type;       // factory type
  ConnectorMaker make;
  int concurrency = 4;    // worker threads = connections
  double rate_per_s = 0;  // token bucket; 0 = unlimited
  double burst = 0;       // bucket size; 0 = max(1, rate_per_s)
  int max_attempts = 8;   // then the task ends FAILED (or UNKNOWN)
  int64_t initial_backoff_ms = 1000;
  int64_t max_backoff_ms = 300'000;
  size_t queue_limit = 10'000;  // tasks held in memory; the rest wait in RocksDB
  std::string recipient_trait;  // trait with the address ("" = the channel's default)
};

struct DispatcherOptions {
  std::map<std::string, std::string> channels;  // channel -> connector instance
  std::vector<LaneOptions> lanes;
  std::string events_topic = "cairn.events";
  kafka::ProducerOptions producer;   // for outcome events
  bool sync = true;                  // fsync every ledger write
  const Tracker* tracker = nullptr;  // null: no tracking links
  // Outcome events carry the decision's time (the task's created_at) instead
  // of the wall clock: for an engine on event time (replays, the demo), so
  // the outcomes do not jump its clock to now.
  bool outcomes_at_decision_time = false;
  std::shared_ptr<const TemplateSet> templates;
};

struct LaneMetrics {
  std::string connector, type;
  uint64_t queued = 0;     // in memory, waiting (ready or backing off)
  uint64_t in_flight = 0;  // being sent now
  uint64_t attempts = 0, sent = 0, failed = 0, bounced = 0, suppressed = 0, unknown = 0,
           retries = 0;
  int64_t oldest_queued_ms = 0;  // age of the oldest task waiting (backpressure)
  double p99_send_ms = 0;        // over the last 1024 sends
  // Ended tasks by the journey step's channel, in the order of kEndResults.
  std::map<std::string, std::array<uint64_t, 5>> ended_by_channel;
};

// The results a send task ends with (LaneMetrics counters and metric labels).
inline constexpr std::array<const char*, 5> kEndResults = {"sent", "failed", "bounced",
                                                           "suppressed", "unknown"};

struct DispatchMetrics {
  std::vector<LaneMetrics> lanes;
  uint64_t submitted = 0;           // tasks handed over by the engine since start
  uint64_t ended = 0;               // tasks that reached an end (any state but QUEUED)
  uint64_t recorded = 0;            // ledger writes
  uint64_t outcomes_published = 0;  // outcome events produced
  uint64_t outcomes_unacked = 0;
  uint64_t skipped_ended = 0;  // tasks found ended in the ledger (not sent again)
  // Partitions whose queue holds tasks a full lane could not take: they wait
  // in RocksDB only (backpressure from a slow provider).
  uint64_t spilled_partitions = 0;
};

class Dispatcher {
 public:
  // `store` and `clock` (wall clock: attempt times, backoff) outlive it.
  static Result<std::unique_ptr<Dispatcher>> Create(DispatcherOptions options,
                                                    state::StateStore* store, const Clock* clock);
  ~Dispatcher();  // Stop()
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // --- engine thread ---
  // Whether some connector serves the task's channel.
  bool Handles(const v1::Task& task) const;
  void Stage(state::StateStore::Batch& batch, int32_t partition, const v1::Task& task);
  void Seal();
  // Whether a write waits for Submit (the engine then syncs the WAL first).
  bool HasSealed() const { return !sealed_.empty(); }
  bool HasStaged() const { return !staged_.empty(); }
  void Submit();
  // On assign: resume the partition's queue and outcome outbox.
  Status Assign(int32_t partition);
  void Revoke(int32_t partition);

  // --- any thread ---
  void SetTemplates(std::shared_ptr<const TemplateSet> templates);
  DispatchMetrics metrics() const;
  // The ledger entry of a task, if any.
  std::optional<v1::LedgerEntry> Ledger(const std::string& task_id) const;
  // Fails once outcome events can no longer be delivered or the ledger
  // cannot be written (the process should exit; a restart resumes).
  Status health() const;
  // Stops the workers (a send in progress finishes and is recorded), writes
  // what is left, and waits up to `flush_ms` for outcome events to be acked.
  void Stop(int flush_ms = 5000);

  static std::string QueueKey(int32_t partition, uint64_t seq);
  static std::string LedgerKey(std::string_view task_id);

 private:
  struct Impl;
  explicit Dispatcher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  // Engine-thread state.
  struct Staged {
    int32_t partition;
    uint64_t seq;
    v1::Task task;
  };
  std::vector<Staged> staged_, sealed_;
  std::map<int32_t, uint64_t> next_seq_;
};

}  // namespace cairn::dispatch
