#include "campaign/audience.h"

#include <algorithm>

#include "flow/runtime.h"
#include "journey/scope.h"

namespace cairn::campaign {
namespace {

bool Varint(const char*& p, const char* end, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    const auto b = static_cast<uint8_t>(*p++);
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

}  // namespace

profile::EventView CampaignEvent(std::string_view journey, TimestampMs run_at_ms) {
  return flow::CampaignStartedEvent(journey, run_at_ms);
}

bool ReadTraitsJson(std::string_view record, std::string_view& traits) {
  traits = {};
  const char* p = record.data();
  const char* end = p + record.size();
  while (p < end) {
    uint64_t tag = 0;
    if (!Varint(p, end, tag)) return false;
    const uint32_t field = static_cast<uint32_t>(tag >> 3);
    switch (tag & 7) {
      case 0: {  // varint
        uint64_t v = 0;
        if (!Varint(p, end, v)) return false;
        break;
      }
      case 1:  // 64-bit
        if (end - p < 8) return false;
        p += 8;
        break;
      case 2: {  // length-delimited
        uint64_t n = 0;
        if (!Varint(p, end, n) || n > static_cast<uint64_t>(end - p)) return false;
        if (field == 2) traits = std::string_view(p, n);  // the last one wins, as in protobuf
        p += n;
        break;
      }
      case 5:  // 32-bit
        if (end - p < 4) return false;
        p += 4;
        break;
      default:
        return false;
    }
  }
  return true;
}

namespace {

// The variables of a traits-only condition: the projected traits and the
// campaign's entry event (as `event` and `entry`).
class TraitsActivation final : public expr::Activation {
 public:
  TraitsActivation(const expr::Value& traits, const expr::Value& event, TimestampMs now)
      : traits_(traits), event_(event), now_(now) {}
  expr::Value Resolve(int slot) const override {
    switch (slot) {
      case journey::kTraitsSlot:
        return traits_;
      case journey::kEventSlot:
      case journey::kEntrySlot:
        return event_;
      default:
        return expr::Value::Null();
    }
  }
  TimestampMs Now() const override { return now_; }

 private:
  const expr::Value& traits_;
  const expr::Value& event_;
  TimestampMs now_;
};

}  // namespace

Audience::Audience(const journey::Journey& journey, TimestampMs run_at_ms,
                   const profile::Model* model)
    : journey_(journey),
      model_(model != nullptr && !model->empty() ? model : nullptr),
      event_(CampaignEvent(journey.name, run_at_ms)),
      event_value_(profile::EventValue(event_)) {
  if (!journey.audience.empty()) {
    for (int slot : journey.audience.program.used_slots()) {
      if (slot == journey::kCustomerSlot || slot == journey::kInstanceSlot) full_ = true;
      if (slot == journey::kTraitsSlot) traits_ = true;
    }
  }
  if (!journey.consent.empty()) traits_ = true;
  if (traits_ && model_ != nullptr) full_ = true;  // computed traits join `traits`
  if (traits_ && !full_) {
    project_ = journey.audience.empty() ||
               journey.audience.program.SelectedFields(journey::kTraitsSlot, &trait_fields_);
    if (!journey.consent.empty()) trait_fields_.push_back("consent");
    std::sort(trait_fields_.begin(), trait_fields_.end());
    trait_fields_.erase(std::unique(trait_fields_.begin(), trait_fields_.end()),
                        trait_fields_.end());
    for (const auto& f : trait_fields_) trait_keys_.push_back(expr::Value::String(f));
  }
}

bool Audience::Consents(const expr::Value& traits) const {
  if (journey_.consent.empty()) return true;
  // Any channel the journey may use is allowed (as the runtime's entry check).
  const expr::Value* consent = traits.Find("consent");
  for (const auto& [channel, mode] : journey_.consent) {
    const expr::Value* v = consent != nullptr ? consent->Find(channel) : nullptr;
    const bool is_bool = v != nullptr && v->kind() == expr::Kind::kBool;
    if (mode == journey::ConsentMode::kExplicit ? is_bool && v->bool_value()
                                                : !(is_bool && !v->bool_value())) {
      return true;
    }
  }
  return false;
}

bool Audience::Matches(std::string_view record, TimestampMs now, std::string* error) const {
  if (!full_) {
    // The fast path: the traits field alone, only the traits named.
    std::string_view traits_json;
    if (traits_ && !ReadTraitsJson(record, traits_json)) {
      if (error != nullptr) *error = "customer record does not parse";
      return false;
    }
    expr::Value traits;
    if (!traits_ || traits_json.empty()) {
      traits = expr::Value::Map({});
    } else if (project_) {
      traits = expr::Value::FromJsonFields(traits_json, trait_keys_);
    } else {
      traits = expr::Value::FromJson(traits_json);
    }
    if (!journey_.audience.empty()) {
      TraitsActivation activation(traits, event_value_, now);
      auto r = journey_.audience.program.EvalBool(activation);
      if (!r.ok()) {
        if (error != nullptr) *error = r.status().message();
        return false;
      }
      if (!r.value()) return false;
    }
    return Consents(traits);
  }
  thread_local v1::CustomerState customer;
  if (!customer.ParseFromArray(record.data(), static_cast<int>(record.size()))) {
    if (error != nullptr) *error = "customer record does not parse";
    return false;
  }
  profile::EvalScope scope(customer, now);
  scope.SetProfile(model_);
  scope.SetEvent(&event_);
  if (!scope.Test(journey_.audience, error)) return false;
  return Consents(scope.Traits());
}

}  // namespace cairn::campaign
