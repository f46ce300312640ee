#include "profile/eval_scope.h"

#include <nlohmann/json.hpp>

#include "profile/profiler.h"
#include "profile/values.h"

namespace cairn::profile {

using expr::Value;

EventView EventView::Of(const Event& e) {
  EventView v;
  v.name = e.name;
  v.type = std::string(EventTypeName(e.type));
  v.timestamp_ms = e.timestamp_ms;
  v.message_id = e.message_id;
  v.properties_json = e.properties_json.empty() ? "{}" : e.properties_json;
  v.context_json = e.context_json.empty() ? "{}" : e.context_json;
  v.traits_json = e.traits_json.empty() ? "{}" : e.traits_json;
  return v;
}

std::string EventView::ToEntryJson() const {
  nlohmann::json j;
  j["name"] = name;
  j["type"] = type;
  j["ts"] = timestamp_ms;
  j["message_id"] = message_id;
  j["properties"] = nlohmann::json::parse(properties_json, nullptr, false);
  if (j["properties"].is_discarded()) j["properties"] = nlohmann::json::object();
  return j.dump();
}

EventView EventView::FromEntryJson(const std::string& json) {
  EventView v;
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (!j.is_object()) return v;
  v.name = j.value("name", "");
  v.type = j.value("type", "track");
  v.timestamp_ms = j.value("ts", int64_t{0});
  v.message_id = j.value("message_id", "");
  if (auto it = j.find("properties"); it != j.end() && it->is_object()) {
    v.properties_json = it->dump();
  }
  return v;
}

Value EventValue(const EventView& e) {
  expr::ValueMap m;
  m.reserve(7);
  m.emplace_back(Value::String("name"), Value::String(e.name));
  m.emplace_back(Value::String("type"), Value::String(e.type));
  m.emplace_back(Value::String("timestamp"), Value::TimestampFromMs(e.timestamp_ms));
  m.emplace_back(Value::String("message_id"), Value::String(e.message_id));
  m.emplace_back(Value::String("properties"), Value::FromJson(e.properties_json));
  m.emplace_back(Value::String("context"), Value::FromJson(e.context_json));
  m.emplace_back(Value::String("traits"), Value::FromJson(e.traits_json));
  return Value::Map(std::move(m));
}

namespace {

Value CustomerValue(const v1::CustomerState& c) {
  expr::ValueMap events;
  events.reserve(static_cast<size_t>(c.events_size()));
  for (const auto& s : c.events()) {
    expr::ValueMap sums;
    for (const auto& [k, v] : s.sums()) sums.emplace_back(Value::String(k), Value::Double(v));
    expr::ValueMap stats;
    stats.emplace_back(Value::String("count"), Value::Int(static_cast<int64_t>(s.count())));
    stats.emplace_back(Value::String("first_at"), Value::TimestampFromMs(s.first_at_ms()));
    stats.emplace_back(Value::String("last_at"), Value::TimestampFromMs(s.last_at_ms()));
    stats.emplace_back(Value::String("sums"), Value::Map(std::move(sums)));
    events.emplace_back(Value::String(s.name()), Value::Map(std::move(stats)));
  }
  expr::ValueList labels;
  for (const auto& l : c.labels()) labels.push_back(Value::String(l));
  expr::ValueMap m;
  m.emplace_back(Value::String("id"), Value::String(c.id()));
  m.emplace_back(Value::String("first_seen"), Value::TimestampFromMs(c.first_seen_ms()));
  m.emplace_back(Value::String("last_seen"), Value::TimestampFromMs(c.last_seen_ms()));
  m.emplace_back(Value::String("events_total"), Value::Int(static_cast<int64_t>(c.events_total())));
  m.emplace_back(Value::String("events"), Value::Map(std::move(events)));
  m.emplace_back(Value::String("labels"), Value::List(std::move(labels)));
  expr::ValueList segments;
  for (std::string_view s : SegmentNames(c.profile()))
    segments.push_back(Value::String(std::string(s)));
  m.emplace_back(Value::String("segments"), Value::List(std::move(segments)));
  m.emplace_back(Value::String("stage"), Value::String(c.profile().stage()));
  return Value::Map(std::move(m));
}

Value InstanceValue(const v1::JourneyInstance& i) {
  uint32_t loops = 0;
  for (const auto& [step, n] : i.loops()) loops += n;
  expr::ValueMap m;
  m.emplace_back(Value::String("journey"), Value::String(i.journey()));
  m.emplace_back(Value::String("version"), Value::Int(i.version()));
  m.emplace_back(Value::String("step"), Value::String(i.step_id()));
  m.emplace_back(Value::String("entered_at"), Value::TimestampFromMs(i.entered_at_ms()));
  m.emplace_back(Value::String("arm"), Value::String(i.arm()));
  m.emplace_back(Value::String("loops"), Value::Int(loops));
  return Value::Map(std::move(m));
}

}  // namespace

void EvalScope::SetChange(std::string trait, Value old_value, Value new_value) {
  expr::ValueMap m;
  m.emplace_back(Value::String("trait"), Value::String(std::move(trait)));
  m.emplace_back(Value::String("old"), std::move(old_value));
  m.emplace_back(Value::String("new"), std::move(new_value));
  values_[journey::kChangeSlot] = Value::Map(std::move(m));
}

Value TraitsValue(const v1::CustomerState& c, const Model* model, TimestampMs now,
                  const std::vector<bool>* only) {
  Value base = c.traits_json().empty() ? Value::Map({}) : Value::FromJson(c.traits_json());
  if (model == nullptr || (model->traits.empty() && !model->rfm.declared)) return base;
  const auto& p = c.profile();
  v1::ProfileState scratch;
  const v1::ComputedTraits& computed = ForReading(*model, p, scratch);
  expr::ValueMap m;
  m.reserve(model->traits.size() + 4 + (base.kind() == expr::Kind::kMap ? base.map().size() : 0));
  if (base.kind() == expr::Kind::kMap) {
    for (const auto& kv : base.map()) {  // computed names replace identify traits
      if (!model->IsComputedName(kv.first.string_value())) m.push_back(kv);
    }
  }
  for (size_t i = 0; i < model->traits.size(); ++i) {
    if (only != nullptr && (i >= only->size() || !(*only)[i])) continue;
    auto v = ComputedValue(*model, i, &computed, now);
    if (!v.is_null()) m.emplace_back(Value::String(model->traits[i].name), std::move(v));
  }
  if (model->rfm.declared && p.rfm_r() > 0) {
    m.emplace_back(Value::String("rfm_r"), Value::Int(p.rfm_r()));
    m.emplace_back(Value::String("rfm_f"), Value::Int(p.rfm_f()));
    m.emplace_back(Value::String("rfm_m"), Value::Int(p.rfm_m()));
    m.emplace_back(Value::String("rfm_group"), Value::String(p.rfm_group()));
  }
  return Value::Map(std::move(m));
}

const Value& EvalScope::Traits() const {
  auto& v = values_[journey::kTraitsSlot];
  if (!v) v = TraitsValue(customer_, model_, now_, only_);
  return *v;
}

Value EvalScope::Trait(std::string_view name) const {
  Value v;
  bool found = false;
  if (ResolveField(journey::kTraitsSlot, name, &v, &found)) return found ? v : Value::Null();
  const Value* f = Traits().Find(name);
  return f != nullptr ? *f : Value::Null();
}

bool EvalScope::ResolveField(int slot, std::string_view field, Value* out, bool* found) const {
  if (slot != journey::kTraitsSlot) return false;
  if (values_[journey::kTraitsSlot]) return false;  // built already: read it
  // The same answer TraitsValue() gives: computed names (traits and RFM
  // scores) hide identify traits of that name.
  *found = false;
  const int code = model_ != nullptr ? model_->ComputedCodeAt(field) : Model::kNotComputed;
  if (code != Model::kNotComputed) {
    const auto& p = customer_.profile();
    const int i = code;
    if (i >= 0) {
      const auto idx = static_cast<size_t>(i);
      if (only_ != nullptr && (idx >= only_->size() || !(*only_)[idx])) return true;
      auto v = ComputedValue(*model_, idx, &Computed(), now_);
      if (v.is_null()) return true;
      *out = std::move(v);
      *found = true;
      return true;
    }
    if (p.rfm_r() <= 0) return true;
    *found = true;
    if (field == "rfm_r") *out = Value::Int(p.rfm_r());
    if (field == "rfm_f") *out = Value::Int(p.rfm_f());
    if (field == "rfm_m") *out = Value::Int(p.rfm_m());
    if (field == "rfm_group") *out = Value::String(p.rfm_group());
    return true;
  }
  if (!identify_traits_) {
    identify_traits_ =
        customer_.traits_json().empty() ? Value::Map({}) : Value::FromJson(customer_.traits_json());
  }
  if (identify_traits_->kind() != expr::Kind::kMap) {
    // Unreadable identify traits: with a profile they are left out; without
    // one the whole value is the answer (and the select's error).
    return model_ != nullptr && (!model_->traits.empty() || model_->rfm.declared);
  }
  const Value* v = identify_traits_->Find(field);
  if (v == nullptr) return true;
  *out = *v;
  *found = true;
  return true;
}

const v1::ComputedTraits& EvalScope::Computed() const {
  const auto& p = customer_.profile();
  if (aligned_) return p.computed();
  if (!scratch_) {
    scratch_ = std::make_unique<v1::ProfileState>();
    computed_ = &ForReading(*model_, p, *scratch_);
  }
  return *computed_;
}

Value EvalScope::Resolve(int slot) const {
  if (slot < 0 || slot >= static_cast<int>(values_.size())) return Value::Null();
  auto& v = values_[static_cast<size_t>(slot)];
  if (v) return *v;
  switch (slot) {
    case journey::kEventSlot:
      v = event_ != nullptr ? EventValue(*event_) : Value::Null();
      break;
    case journey::kEntrySlot:
      // Before entry (who.where) the event that would start the instance is
      // the trigger's: the same as `event`.
      if (instance_ != nullptr) {
        v = EventValue(EventView::FromEntryJson(instance_->entry_json()));
      } else {
        v = event_ != nullptr ? EventValue(*event_) : Value::Null();
      }
      break;
    case journey::kTraitsSlot:
      return Traits();
    case journey::kCustomerSlot:
      v = CustomerValue(customer_);
      break;
    case journey::kInstanceSlot:
      v = instance_ != nullptr ? InstanceValue(*instance_) : Value::Null();
      break;
    default:
      v = Value::Null();
  }
  return *v;
}

bool EvalScope::Test(const journey::Condition& condition, std::string* error) const {
  if (condition.empty()) return true;
  if (auto fast = condition.program.EvalComparisons(*this)) return *fast;
  auto r = condition.program.EvalBool(*this);
  if (!r.ok()) {
    if (error != nullptr) *error = r.status().message();
    return false;
  }
  return r.value();
}

}  // namespace cairn::profile
