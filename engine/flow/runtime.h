// The journey runtime: walks customers through journeys.
//
// The host (the engine in `cairn run`, the simulator in `cairn simulate`)
// calls OnEvent after an event was folded into the customer's state, and
// OnTimer when one of the customer's timers is due. The runtime changes the
// customer record in place (instances, entry records, armed triggers,
// labels, traits) and hands every other effect to the host's Effects: new
// timers, messages for the outbox (tasks, emitted events) and decision-trace
// lines. The host puts all of it into the batch in hand, so one event's
// whole effect lands in one WriteBatch.
//
// Time is the Context's `now`: wall clock in run, event time in simulate.
// Every decision is deterministic in (customer record, event or timer, now,
// catalog), so replaying an input after a crash repeats the same task ids.
//
// Threading: one host thread calls OnEvent/OnTimer; SetCatalog may be called
// from any thread (the swap is atomic; a walk keeps the catalog it started with).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "cairn/event.h"
#include "cairn/v1/state.pb.h"
#include "flow/catalog.h"
#include "governance/governor.h"
#include "profile/eval_scope.h"
#include "profile/profiler.h"
#include "timer/timer_store.h"

namespace cairn::flow {

struct RuntimeOptions {
  std::string tasks_topic = "cairn.tasks";
  std::string events_topic = "cairn.events";
  bool tasks_protobuf = false;      // cairn.v1.Task bytes instead of JSON
  int64_t hold_recheck_ms = 60000;  // paused journeys: look at held customers this often
  size_t max_steps_per_walk =
      256;                      // guards against a runaway walk (validated journeys stay far below)
  size_t lookback_keep = 32;    // recent events kept per customer for wait_for look-back
  uint32_t max_instances = 64;  // per customer, all journeys
};

// What the runtime asks of its host: the profile stage's Sink (timers,
// messages for the broker, decision-trace lines, segment members), plus sends.
class Effects : public profile::Sink {
 public:
  // A send task (also published to the tasks topic): queued for the
  // channel connectors when the engine dispatches itself. Default: nothing.
  virtual void Dispatch(const v1::Task& /*task*/) {}
};

struct Context {
  int32_t partition = 0;
  TimestampMs now = 0;
  Effects* effects = nullptr;
  // The profile stage's per-partition counts (null: not kept) and RFM
  // quantile thresholds (null: not computed yet).
  v1::ProfileStats* profile_stats = nullptr;
  const profile::RfmThresholds* rfm_quantiles = nullptr;
};

struct RuntimeCounters {
  std::atomic<uint64_t> entered{0}, sends{0}, exits{0}, timers_fired{0}, stale_timers{0}, goals{0},
      eval_errors{0};
  governance::Counters governance;  // deferred / skipped sends by reason
};

// The entry event of a campaign run: `Campaign Started` with properties
// {journey, run_at} and a message id naming the run.
profile::EventView CampaignStartedEvent(std::string_view journey, TimestampMs run_at_ms);

// The task as JSON (the default form on the tasks topic; the webhook body).
std::string TaskJson(const v1::Task& task);

class Runtime {
 public:
  explicit Runtime(RuntimeOptions options = {});

  void SetCatalog(std::shared_ptr<const Catalog> catalog);
  std::shared_ptr<const Catalog> catalog() const;

  // `event` has been applied to `customer` (not a duplicate).
  // `old_traits_json`: for identify events, the traits before the merge.
  void OnEvent(const Context& ctx, v1::CustomerState& customer, const Event& event,
               const std::string* old_traits_json);
  // One of the customer's timers is due (stale ones are recognised and ignored).
  void OnTimer(const Context& ctx, v1::CustomerState& customer, const timer::Timer& timer);
  // Identity merge (engine/identity). `customer` has just folded in the
  // record `from` (identity::Fold); `moved` are the indices of the instances
  // it took over. Merges the computed profile values and re-derives the
  // profile, re-arms the moved instances' timers and the absence/date triggers.
  void OnMerged(const Context& ctx, v1::CustomerState& customer, const v1::CustomerState& from,
                const std::vector<int>& moved);
  // `customer` is about to become a forward pointer: the profile stage lets
  // go of it (live counts, segment member index).
  void OnMergedAway(const Context& ctx, v1::CustomerState& customer);
  // A campaign run (engine/campaign) of the schedule-triggered journey
  // `journey`, scheduled at `run_at_ms`, reached this customer: the entry
  // path of every trigger (paused, entry rules, who, consent, trace) with
  // the synthetic event `Campaign Started` {journey, run_at}. The customer's
  // JourneyEntries.last_run_ms notes the run, and a customer already noted
  // for this run (a replay) is left alone. True when an instance started.
  bool EnterScheduled(const Context& ctx, v1::CustomerState& customer, const std::string& journey,
                      TimestampMs run_at_ms);

  const RuntimeCounters& counters() const { return counters_; }
  const RuntimeOptions& options() const { return options_; }

  // The task id of a send: deterministic in its inputs; 32 hex digits.
  static std::string TaskId(std::string_view journey, uint32_t version, std::string_view customer,
                            uint64_t instance, std::string_view step, uint32_t iteration);
  // The split bucket 0..99 of a customer in a journey's split step (stable).
  static uint32_t SplitBucket(std::string_view customer, std::string_view journey,
                              std::string_view step);

 private:
  friend class Walk;
  RuntimeOptions options_;
  std::shared_ptr<const Catalog> catalog_;  // guarded by atomic load/store
  RuntimeCounters counters_;
};

}  // namespace cairn::flow
