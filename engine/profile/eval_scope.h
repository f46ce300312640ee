// The expr::Activation journey conditions are evaluated against. Each
// variable (journey/scope.h) is built from the customer record, the event or
// the instance only when a condition reads it, and kept for the rest of the
// walk, so an event that matches nothing costs nothing here.
//
// Not thread-safe; one per walk (one event or timer of one customer).
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cairn/event.h"
#include "cairn/v1/state.pb.h"
#include "expr/expr.h"
#include "journey/model.h"
#include "journey/scope.h"
#include "profile/model.h"

namespace cairn::profile {

// An event as conditions see it: from a live Event, a stored RecentEvent, or
// a synthetic one (absence and date triggers).
struct EventView {
  std::string name;
  std::string type = "track";
  TimestampMs timestamp_ms = 0;
  std::string message_id;
  std::string properties_json = "{}";
  std::string context_json = "{}";
  std::string traits_json = "{}";

  static EventView Of(const Event& e);
  // The compact JSON an instance keeps of its entry event.
  std::string ToEntryJson() const;
  static EventView FromEntryJson(const std::string& json);
};

class EvalScope final : public expr::Activation {
 public:
  EvalScope(const v1::CustomerState& customer, TimestampMs now) : customer_(customer), now_(now) {}

  void SetEvent(const EventView* event) {
    event_ = event;
    values_[journey::kEventSlot].reset();
    if (instance_ == nullptr) values_[journey::kEntrySlot].reset();  // entry is the event then
  }
  void SetInstance(const v1::JourneyInstance* instance) {
    instance_ = instance;
    values_[journey::kEntrySlot].reset();
    values_[journey::kInstanceSlot].reset();
  }
  void SetChange(std::string trait, expr::Value old_value, expr::Value new_value);
  // The profile model: its computed traits (and RFM scores and group) join
  // `traits`; without one, traits are the identify traits only.
  // `aligned`: the caller keeps the record's computed traits laid out for
  // the model (profile::Align; the profile stage does), so they are read in
  // place without checking.
  void SetProfile(const Model* model, bool aligned = false) {
    model_ = model;
    aligned_ = aligned;
    values_[journey::kTraitsSlot].reset();
    scratch_.reset();
  }
  // Only the computed traits marked in `only` (by index) join `traits`; null:
  // all. For a host that evaluates only conditions reading those.
  void SetTraitFilter(const std::vector<bool>* only) {
    only_ = only;
    values_[journey::kTraitsSlot].reset();
  }
  // Traits or labels changed (an update step): rebuild them on next use.
  void InvalidateCustomer() {
    identify_traits_.reset();
    scratch_.reset();
    values_[journey::kTraitsSlot].reset();
    values_[journey::kCustomerSlot].reset();
  }
  // Only `traits` changed (computed values, scores) / only `customer`
  // (labels, stage, segments).
  void InvalidateTraits() {
    values_[journey::kTraitsSlot].reset();
    scratch_.reset();
  }
  void InvalidateCustomerOnly() { values_[journey::kCustomerSlot].reset(); }

  expr::Value Resolve(int slot) const override;
  // traits.<name>: one computed trait (or identify trait) without building
  // the whole traits map, which changes with every folded event.
  bool ResolveField(int slot, std::string_view field, expr::Value* out, bool* found) const override;
  TimestampMs Now() const override { return now_; }

  // The customer's traits as a value (built once).
  const expr::Value& Traits() const;
  // One of them, as traits.<name> reads it, without building the others;
  // Null when there is none.
  expr::Value Trait(std::string_view name) const;

  // Evaluates a condition: empty is true; an error is false with `error` set.
  bool Test(const journey::Condition& condition, std::string* error) const;

 private:
  const v1::CustomerState& customer_;
  TimestampMs now_;
  const EventView* event_ = nullptr;
  const v1::JourneyInstance* instance_ = nullptr;
  const Model* model_ = nullptr;
  const std::vector<bool>* only_ = nullptr;
  bool aligned_ = false;
  // The computed traits, laid out for model_: the record's own when aligned_,
  // else an aligned copy made on first use.
  const v1::ComputedTraits& Computed() const;
  mutable std::unique_ptr<v1::ProfileState> scratch_;
  mutable const v1::ComputedTraits* computed_ = nullptr;
  mutable std::array<std::optional<expr::Value>, 6> values_;
  mutable std::optional<expr::Value> identify_traits_;  // traits_json, parsed once
};

// An event's value (name, type, timestamp, message_id, properties, ...).
expr::Value EventValue(const EventView& e);

// The customer's identify traits joined with the model's computed traits and
// RFM scores at `now` (a computed trait replaces an identify trait of the
// same name). `model` may be null. `only`: the computed traits to include,
// by index (null: all).
expr::Value TraitsValue(const v1::CustomerState& customer, const Model* model, TimestampMs now,
                        const std::vector<bool>* only = nullptr);

}  // namespace cairn::profile
