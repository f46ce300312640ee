// An in-memory host for flow::Runtime on a fake clock: the tests' stand-in
// for the engine. Events fold into customer records with state::Apply and go
// to Runtime::OnEvent at their own time; timers wait in a sorted map and fire
// one at a time, each at its own due time (timers added while firing
// included); outbox records and decision-trace lines are kept in vectors.
//
// Not thread-safe; one per test.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "cairn/event.h"
#include "cairn/v1/state.pb.h"
#include "flow/catalog.h"
#include "flow/runtime.h"
#include "ingest/event_parser.h"
#include "journey/model.h"
#include "state/customer_state.h"
#include "timer/timer_store.h"

namespace cairn::flow::testing {

// "2026-03-01T10:00:00Z" -> ms; fails the test on a bad timestamp.
TimestampMs T(std::string_view rfc3339);
// The inverse, without ".000" when the milliseconds are zero.
std::string Iso(TimestampMs ms);

inline constexpr int64_t kMinute = 60 * 1000;
inline constexpr int64_t kHour = 60 * kMinute;
inline constexpr int64_t kDay = 24 * kHour;

// Loads a journey from YAML text; fails the test (and returns an empty
// journey) when the loader reports anything.
journey::Journey Load(std::string_view yaml);

class Host final : public Effects {
 public:
  explicit Host(RuntimeOptions options = {});

  // Installs a catalog of `current` journeys (plus `previous` versions for
  // pinned instances) with the next generation: a hot reload.
  void Install(std::vector<journey::Journey> current, std::vector<journey::Journey> previous = {});
  void Install(std::vector<std::string> current_yaml, std::vector<std::string> previous_yaml = {});
  // The profile model (engine/profile) the next Install() carries; YAML text
  // of one profile file; fails the test when it does not load.
  void SetProfile(std::string_view profile_yaml);
  // The partition's live profile counts (segments, stages, RFM groups).
  const v1::ProfileStats& profile_stats() const { return profile_stats_; }
  void set_rfm_quantiles(const profile::RfmThresholds* t) { rfm_quantiles_ = t; }

  // Fires the timers due before `at`, then folds the event into its customer
  // and hands it to the runtime at `at` (the event's time). Segment JSON;
  // a messageId is made up when it has none; `timestamp` is replaced by `at`.
  void Event(std::string_view segment_json, TimestampMs at);
  void Event(cairn::Event event, TimestampMs at);
  // Shorthands for Segment JSON.
  void Track(const std::string& user, const std::string& event, TimestampMs at,
             const std::string& properties_json = "{}");
  void Identify(const std::string& user, const std::string& traits_json, TimestampMs at);

  // Fires every timer due at or before `t` in due order, each at its own due
  // time; then the clock reads `t`.
  void AdvanceTo(TimestampMs t);
  // false: Event() does not fire the timers due before the event first (an
  // engine whose timer pass lags behind its events).
  void set_fire_timers_before_events(bool fire) { fire_before_events_ = fire; }

  // ---- what happened

  const std::vector<v1::TraceEntry>& trace() const { return trace_; }
  const std::vector<v1::OutboxRecord>& outbox() const { return outbox_; }
  // Trace lines as text, "<time> <journey>#<instance> <step> <action>: <reason>"
  // (instance, step and reason left out when empty), optionally of one customer.
  std::vector<std::string> Lines(std::string_view customer = {}) const;
  // Only the lines whose action is one of `actions` (space separated).
  std::vector<std::string> Lines(std::string_view customer, std::string_view actions) const;
  // The outbox records on the tasks topic, as parsed JSON text, of one customer.
  std::vector<std::string> Tasks(std::string_view customer = {}) const;
  // Every task id in the outbox, in order.
  std::vector<std::string> TaskIds() const;
  void ClearRecords() {
    trace_.clear();
    outbox_.clear();
  }

  v1::CustomerState& customer(const std::string& id) { return customers_[id]; }
  bool has_customer(const std::string& id) const { return customers_.count(id) != 0; }
  // The customer's live (not done) instance of `journey`, or nullptr.
  const v1::JourneyInstance* Active(const std::string& id, std::string_view journey);
  size_t pending_timers() const { return timers_.size(); }
  // Due times of the customer's pending timers, ascending.
  std::vector<TimestampMs> TimersOf(const std::string& id) const;
  TimestampMs now() const { return now_; }
  Runtime& runtime() { return runtime_; }
  const state::StateOptions& state_options() const { return state_options_; }

  // Effects
  void AddTimer(const timer::Timer& timer) override;
  void Publish(const v1::OutboxRecord& record) override;
  void Record(const v1::TraceEntry& entry) override;

 private:
  using Key = std::tuple<TimestampMs, std::string, uint64_t>;  // the TimerStore key order

  Runtime runtime_;
  state::StateOptions state_options_;
  ingest::EventParser parser_;
  uint64_t generation_ = 0;
  uint64_t made_up_ids_ = 0;
  bool fire_before_events_ = true;
  TimestampMs now_ = 0;
  std::map<std::string, v1::CustomerState> customers_;
  std::shared_ptr<const profile::Model> profile_;
  v1::ProfileStats profile_stats_;
  const profile::RfmThresholds* rfm_quantiles_ = nullptr;
  std::map<Key, timer::Timer> timers_;
  std::vector<v1::OutboxRecord> outbox_;
  std::vector<v1::TraceEntry> trace_;
};

}  // namespace cairn::flow::testing
