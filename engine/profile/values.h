// Computed traits, one occurrence at a time: the pure functions that fold an
// event into a customer's v1::ComputedState, expire a sliding window, and
// read the value conditions see (traits.<name>). Deterministic in their
// inputs; no I/O.
//
// Windows are exact: a value read at `now` counts exactly the occurrences
// with event time in (now - window, now], whether or not the expiry timer
// has fired yet (the timer only prunes state and re-derives segments and
// stages). Up to kMaxWindowEntries occurrences are kept one by one; beyond
// that the two oldest are merged (count, sum, min and max stay exact; the
// merged pair expires with the newer of the two; distinct drops the oldest).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "cairn/event.h"
#include "cairn/v1/state.pb.h"
#include "expr/expr.h"
#include "profile/model.h"

namespace cairn::profile {

inline constexpr int kMaxWindowEntries = 1024;
inline constexpr int kMaxDistinct = 10000;  // all-time distinct: exact up to this many values

// One occurrence of a trait's event, with the value it aggregates.
struct Occurrence {
  TimestampMs at_ms = 0;
  double number = 0;  // sum/avg/min/max: the property (or the time, without `of`)
  std::string json;   // first/last: the value as JSON text
  uint64_t hash = 0;  // distinct: the value's hash
};

// Reads the trait's value out of `event`. nullopt when the event does not
// carry it (a missing property, or a non-number for sum/avg/min/max): such an
// occurrence is not counted. `properties` is the event's parsed properties,
// parsed by the caller at most once per event (null until needed: pass a
// slot the function fills).
class PropertyCache;
std::optional<Occurrence> Extract(const ComputedTrait& t, const Event& event, PropertyCache& cache);

// Adds one occurrence.
void Fold(const ComputedTrait& t, const Occurrence& o, v1::ComputedState& s);
// Adds the window entries of `from` to those of `into` in time order,
// keeping the running totals and the entry cap (identity merge).
void MergeWindow(const ComputedTrait& t, v1::ComputedState& into, const v1::ComputedState& from);
// Drops window entries that have left the window at `now`. Returns when the
// next one leaves (0: none left).
TimestampMs Expire(const ComputedTrait& t, TimestampMs now, v1::ComputedState& s);
// The value conditions see; Null when there is none yet (has() is false):
// count and distinct are Int (0 when none), sum Double (0.0 when none),
// avg/min/max Double, first/last the property's JSON value; without `of`,
// min/max/first/last are timestamps.
expr::Value ComputedValue(const ComputedTrait& t, const v1::ComputedState* s, TimestampMs now);

// Puts a customer's computed states in model order (index i holds trait i),
// keeping the states of traits still declared and dropping the others;
// returns true if it had to.
bool AlignTraits(const Model& m, v1::ProfileState& p);

// The customer's state of computed trait `name`, declared at `index` in the
// model: the state at that index when the record is aligned with the model
// (the profile stage keeps it so), else found by name; null when none.
const v1::ComputedState* FindComputed(const v1::ProfileState& p, std::string_view name,
                                      size_t index);

// The event's properties, parsed once per event on first use.
class PropertyCache {
 public:
  explicit PropertyCache(const Event& event) : event_(event) {}
  // The value at `path` as JSON text; nullopt when missing.
  std::optional<std::string> JsonAt(const std::vector<std::string>& path);
  std::optional<double> NumberAt(const std::vector<std::string>& path);

 private:
  const void* Node(const std::vector<std::string>& path);
  const Event& event_;
  std::shared_ptr<void> parsed_;  // nlohmann::json, kept opaque here
};

}  // namespace cairn::profile
