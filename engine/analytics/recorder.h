// The write side of journey analytics: turns the engine's decision trace and
// the events it applies into counter deltas, and merges them into the batch's
// WriteBatch (column family `analytics`, keys.h) once per key per batch.
// Because the deltas ride in the same atomic write as the state change that
// caused them, a replayed batch (crash, rebalance) counts nothing twice.
//
// Threading: the ingest thread only. The engine calls, per runtime call:
//   OnEvent (an event applied to state) or Begin (a timer, a campaign entry),
//   then OnTrace for each trace line of the walk; and Stage before each write.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "analytics/options.h"
#include "cairn/event.h"
#include "cairn/status.h"
#include "cairn/v1/state.pb.h"
#include "flow/catalog.h"
#include "state/state_store.h"

namespace cairn::analytics {

// Bucket upper bounds (seconds) of the conversion-interval histogram: powers
// of two from 1 s to 2^25 s (~388 days); the last bucket is unbounded.
inline constexpr int kIntervalBuckets = 27;
double IntervalBucketBound(int bucket);  // +inf for the last one
int IntervalBucketOf(double seconds);

// Metric names of the 'j' keys.
inline constexpr const char* kEntered = "entered";
inline constexpr const char* kExited = "exited";
inline constexpr const char* kGoal = "goal";
inline constexpr const char* kInStep = "in_step";  // running (kRunningHour)
inline constexpr const char* kSent = "sent";
inline constexpr const char* kSkipped = "skipped";
inline constexpr const char* kRevenue = "revenue_micros";  // currency * 1e6
inline constexpr const char* kCost = "cost_micros";
inline constexpr const char* kHoldout = "holdout";  // an arm: entries that were held out
inline constexpr int kMaxPath = 12;                 // steps of a path counted at most
inline constexpr char kPathSeparator = '\x1f';      // between the steps of a 'p' key

class Recorder {
 public:
  explicit Recorder(Options options = {});

  // Reads the event names counted so far (the heatmap's name bound).
  Status Load(state::StateStore& store);

  // Before a runtime call on `customer` of `partition`: remembers where its
  // instances are (to see step moves). `event`: the event in hand, or null.
  void Begin(int32_t partition, const v1::CustomerState& customer, const Event* event,
             const flow::Catalog* catalog);
  // An event applied to `customer`'s state (not a duplicate): heatmap,
  // message outcomes, conversion intervals. Then Begin(.., &event, catalog).
  void OnEvent(int32_t partition, const Event& event, const v1::CustomerState& customer,
               const flow::Catalog* catalog);
  // One decision-trace line of the walk started by Begin/OnEvent. Appends a
  // step the instance opens to its analytics_path (the first kMaxPath).
  void OnTrace(const v1::TraceEntry& entry, v1::CustomerState& customer);

  // Merges the deltas gathered since the last Stage into `batch`; clears them.
  void Stage(state::StateStore::Batch& batch, rocksdb::ColumnFamilyHandle* cf);

  const Options& options() const { return options_; }
  size_t pending_keys() const { return deltas_.size(); }

 private:
  void Add(char kind, const std::vector<std::string_view>& fields, uint32_t hour, int64_t delta);
  void AddJourney(const std::string& journey, std::string_view scope, const char* metric,
                  uint32_t hour, int64_t delta = 1);
  // The step the instance was at, "" when none; and moves it.
  std::string& LastStep(const std::string& journey, uint64_t instance);
  static v1::JourneyInstance* Find(v1::CustomerState& customer, const std::string& journey,
                                   uint64_t instance);
  double CouponCost(const v1::TraceEntry& entry);
  double Revenue() const;

  Options options_;
  int32_t partition_ = 0;
  const Event* event_ = nullptr;
  const flow::Catalog* catalog_ = nullptr;
  const flow::Catalog* coupon_catalog_ = nullptr;  // the catalog coupon_costs_ was read from
  std::unordered_map<std::string, double> coupon_costs_;
  // The walk in hand: instances' steps before it ((journey, id) -> step).
  std::map<std::pair<std::string, uint64_t>, std::string> before_;
  std::map<std::pair<std::string, uint64_t>, std::string> moved_;
  std::unordered_set<std::string> credited_;         // journeys the event's revenue went to
  std::unordered_set<std::string> names_;            // event names counted under 'e'
  std::unordered_map<std::string, int64_t> deltas_;  // full key -> delta
  std::string key_scratch_;
};

}  // namespace cairn::analytics
