// `cairn simulate`: the journey runtime (flow::Runtime, the same code the
// engine runs) driven by an event file on virtual event time.
//
// Events are taken in timestamp order. Before each event, every timer due at
// or before its time fires, at its own due time; after the last event the
// clock fast-forwards through the pending waits up to a horizon (by default
// the longest absence window plus the longest max_lifetime of the loaded
// journeys). Events a journey emits are fed back in, at the time they were
// emitted. State folds with state::Apply; timers live in a real RocksDB
// (TimerStore) in a scratch directory.
//
// Threading: one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "flow/catalog.h"
#include "flow/runtime.h"
#include "ingest/event_parser.h"
#include "state/customer_state.h"
#include "state/state_store.h"
#include "timer/timer_store.h"

namespace cairn::flow {

struct SimulatorOptions {
  std::string data_dir;  // scratch RocksDB for the timers; created, not removed
  state::StateOptions state;
  int64_t horizon_ms = -1;  // after the last event; -1 = derived from the journeys
};

// Per journey and step: how often each action happened.
using StepCounts = std::map<std::string, std::map<std::string, std::map<std::string, uint64_t>>>;

class Simulator final : private Effects {
 public:
  static Result<std::unique_ptr<Simulator>> Create(std::shared_ptr<const Catalog> catalog,
                                                   const SimulatorOptions& options);
  ~Simulator() override;

  // Called for every action, in time order.
  void OnAction(std::function<void(const v1::TraceEntry&)> fn) { on_action_ = std::move(fn); }

  // Queues one Segment JSON event (or a profile line {"userId","traits"}:
  // an identify at the time of the first event). `where` names it in errors.
  Status AddEvent(std::string_view json, const std::string& where);
  Status AddProfile(std::string_view json, const std::string& where);

  // Runs everything queued, then fast-forwards timers to the horizon.
  Status Run();

  const StepCounts& counts() const { return counts_; }
  uint64_t events() const { return events_; }
  uint64_t timers_fired() const { return timers_fired_; }
  const Runtime& runtime() const { return runtime_; }
  // The customer records as they ended.
  const std::unordered_map<std::string, v1::CustomerState>& customers() const { return customers_; }

 private:
  Simulator(std::shared_ptr<const Catalog> catalog, const SimulatorOptions& options);
  Status FireUntil(TimestampMs t);
  Status Process(const Event& e);
  Status Write();
  void AddTimer(const timer::Timer& timer) override;
  void Publish(const v1::OutboxRecord& record) override;
  void Record(const v1::TraceEntry& entry) override;

  SimulatorOptions options_;
  std::shared_ptr<const Catalog> catalog_;
  Runtime runtime_;
  std::unique_ptr<state::StateStore> store_;
  std::unique_ptr<timer::TimerStore> timers_;
  std::unique_ptr<state::StateStore::Batch> batch_;
  ingest::EventParser parser_;
  std::unordered_map<std::string, v1::CustomerState> customers_;
  struct Queued {
    Event event;
    uint64_t order;
    bool profile = false;
  };
  std::vector<Queued> queue_;
  std::vector<Event> emitted_;  // fed back in after the current event/timer
  std::function<void(const v1::TraceEntry&)> on_action_;
  StepCounts counts_;
  uint64_t events_ = 0, timers_fired_ = 0, order_ = 0;
};

}  // namespace cairn::flow
