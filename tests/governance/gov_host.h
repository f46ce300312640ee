// A host for the journey runtime with governance, on a fake WALL clock that
// can jump: timers fire once the clock reaches their due time (late, at the
// clock's reading, after a forward jump; not again after a backward one),
// events happen at the clock's reading. Tasks, trace lines and customer
// records are kept in memory. Not thread-safe; one per test.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "cairn/v1/state.pb.h"
#include "cairn/v1/task.pb.h"
#include "flow/catalog.h"
#include "flow/runtime.h"
#include "governance/policy.h"
#include "ingest/event_parser.h"
#include "state/customer_state.h"

namespace cairn::governance::testing {

inline constexpr int64_t kMinute = 60 * 1000;
inline constexpr int64_t kHour = 60 * kMinute;
inline constexpr int64_t kDay = 24 * kHour;

TimestampMs T(std::string_view rfc3339);

class GovHost final : public flow::Effects {
 public:
  GovHost() = default;

  // Loads the profile file `profile_yaml` (as if at `profile_path`: a
  // suppression file is read relative to it) and the journeys; fails the
  // test on any diagnostic.
  void Install(std::string_view profile_yaml, const std::vector<std::string>& journeys,
               const std::string& profile_path = "/nonexistent/profile/governance.yaml");

  // The clock.
  TimestampMs now() const { return now_; }
  void SetNow(TimestampMs t) { now_ = t; }  // only before anything happened
  // Fires the timers due at or before t, each at max(its due, the clock);
  // then the clock reads max(clock, t).
  void AdvanceTo(TimestampMs t);
  // The wall clock jumps by `delta` (either sign); overdue timers fire.
  void Jump(int64_t delta);

  // Events at the clock's reading (overdue timers fire first).
  void Track(const std::string& user, const std::string& event,
             const std::string& properties_json = "{}");
  void Identify(const std::string& user, const std::string& traits_json);

  const std::vector<v1::Task>& tasks() const { return tasks_; }
  const std::vector<v1::TraceEntry>& trace() const { return trace_; }
  // "<journey>#<instance> <step> <action>: <reason>" of one customer,
  // only the given actions (space separated; empty: all).
  std::vector<std::string> Lines(std::string_view customer, std::string_view actions = {}) const;
  v1::CustomerState& customer(const std::string& id) { return customers_[id]; }
  const governance::Policy& policy() const { return catalog_->profile().governance; }
  flow::Runtime& runtime() { return runtime_; }
  size_t pending_timers() const { return timers_.size(); }

  // Effects
  void AddTimer(const timer::Timer& timer) override;
  void Publish(const v1::OutboxRecord& record) override { outbox_.push_back(record); }
  void Record(const v1::TraceEntry& entry) override { trace_.push_back(entry); }
  void Dispatch(const v1::Task& task) override { tasks_.push_back(task); }

 private:
  void Event(const std::string& segment_json);
  using Key = std::tuple<TimestampMs, std::string, uint64_t>;
  flow::Runtime runtime_;
  std::shared_ptr<const flow::Catalog> catalog_;
  state::StateOptions state_options_;
  ingest::EventParser parser_;
  uint64_t generation_ = 0;
  uint64_t made_up_ids_ = 0;
  TimestampMs now_ = 0;
  std::map<std::string, v1::CustomerState> customers_;
  std::map<Key, timer::Timer> timers_;
  std::vector<v1::OutboxRecord> outbox_;
  std::vector<v1::TraceEntry> trace_;
  std::vector<v1::Task> tasks_;
};

}  // namespace cairn::governance::testing
