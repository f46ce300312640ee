// Computed traits, one occurrence at a time: the pure functions that fold an
// event into a customer's computed state, expire a sliding window, and read
// the value conditions see (traits.<name>). Deterministic in their inputs;
// no I/O.
//
// A customer's computed states are one v1::ComputedTraits, laid out by the
// model (TraitLayout, built by Model::Finish): trait i's numbers, entries
// and JSON values sit at known places in a few packed columns, so the record
// is written and read in one piece and an event touches a few cache lines.
// Every function here takes a ComputedTraits that Fits() the model; Align()
// makes one fit (migrating the old per-trait messages, re-laying out a
// record written under another model by name).
//
// Windows are exact: a value read at `now` counts exactly the occurrences
// with event time in (now - window, now], whether or not the expiry timer
// has fired yet (the timer only prunes state and re-derives segments and
// stages). Up to kMaxWindowEntries occurrences are kept one by one; beyond
// that the oldest is merged into the window's head (count, sum, min and max
// stay exact; the head expires with the newest occurrence merged into it;
// distinct drops the oldest instead).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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

// Where a trait of this definition keeps its state (Model::Finish fills
// `num`, its place among the others).
TraitLayout LayoutOf(const ComputedTrait& t);

// Whether `c` is laid out for `m` and self-consistent, so every function
// below reads and writes it in bounds. An empty ComputedTraits fits a model
// without traits only.
bool Fits(const Model& m, const v1::ComputedTraits& c);

// Lays out `p.computed` for `m`: the state of every trait still declared
// with the same definition (matched by name) is kept, the others start
// empty; the old layout (`p.traits`, one message per trait) is moved in;
// an inconsistent one (a damaged record) starts again empty. Returns true
// if it changed anything.
bool Align(const Model& m, v1::ProfileState& p);

// The cheap check for a record the profile stage derived with `m` (its
// generation and fingerprint match): the layout hash Align set and the
// columns' sizes, not every code and offset. Align when it fails.
bool LaidOut(const Model& m, const v1::ProfileState& p);

// `p`'s computed traits laid out for `m`, for reading: `p.computed` itself
// when it fits, else an aligned copy made in `scratch`.
const v1::ComputedTraits& ForReading(const Model& m, const v1::ProfileState& p,
                                     v1::ProfileState& scratch);

// Reads the trait's value out of `event`. nullopt when the event does not
// carry it (a missing property, or a non-number for sum/avg/min/max): such an
// occurrence is not counted.
class PropertyCache;
std::optional<Occurrence> Extract(const ComputedTrait& t, const Event& event, PropertyCache& cache);

// The functions below work on trait i of `m` in `c`, which Fits `m`.

// Adds one occurrence.
void Fold(const Model& m, size_t i, const Occurrence& o, v1::ComputedTraits& c);
// Adds one occurrence to each of several traits (ascending, each once):
// the same as Fold for each, with one pass over the window entries for the
// occurrences that go at the end of their window (events in time order).
struct TraitOccurrence {
  size_t trait = 0;
  Occurrence o;
};
void FoldAll(const Model& m, const std::vector<TraitOccurrence>& os, v1::ComputedTraits& c);
// Drops window entries that have left the window at `now`; sets `*changed`
// when some did. Returns when the next one leaves (0: none left).
TimestampMs Expire(const Model& m, size_t i, TimestampMs now, v1::ComputedTraits& c,
                   bool* changed = nullptr);
// Expire for every windowed trait i with selected[i] != 0, with one pass
// over the window entries: sets changed[i] when some of its entries left.
// Returns when the next of them leaves (0: none left). `selected` and
// `changed` have one flag per trait of `m`.
TimestampMs ExpireAll(const Model& m, const char* selected, TimestampMs now, v1::ComputedTraits& c,
                      char* changed);
// The value conditions see; Null when there is none yet: count and distinct
// are Int (0 when none), sum Double (0.0 when none), avg/min/max Double,
// first/last the property's JSON value; without `of`, min/max/first/last are
// timestamps. `c` null: the customer has none yet.
expr::Value ComputedValue(const Model& m, size_t i, const v1::ComputedTraits* c, TimestampMs now);
// Whether the trait's value is a number (count and distinct Int; sum, avg,
// and min and max of a property Double): what a NumericTest may compare.
bool HasNumber(const ComputedTrait& t);
// A NumericTest of `m` (model.h) over `c` at `now`: the answer
// Program::EvalComparisons (and so EvalBool) gives the condition against
// the same values, or nullopt where that would be nullopt (a trait it
// reaches has no value: avg, min or max of none).
std::optional<bool> EvalNumericTest(const Model& m, const NumericTest& test,
                                    const v1::ComputedTraits& c, TimestampMs now);
// Entries kept one by one (a windowed trait's occurrences; all-time
// distinct: its values).
int Entries(const Model& m, size_t i, const v1::ComputedTraits& c);
// Folds trait i of `from` into trait i of `into` (identity merge): counts
// and sums add up, extremes and first/last compare, distinct values unite,
// window entries merge in time order under the entry cap.
void MergeTrait(const Model& m, size_t i, v1::ComputedTraits& into, const v1::ComputedTraits& from);

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
