#include "flow/catalog.h"

#include <algorithm>

namespace cairn::flow {
namespace {

const JourneyList& Lookup(const NameIndex& index, std::string_view key) {
  static const JourneyList kEmpty;
  auto it = index.find(key);
  return it == index.end() ? kEmpty : it->second;
}

}  // namespace

std::shared_ptr<const Catalog> Catalog::Build(std::vector<journey::Journey> current,
                                              std::vector<journey::Journey> previous,
                                              uint64_t generation,
                                              std::shared_ptr<const profile::Model> profile) {
  std::shared_ptr<Catalog> c(new Catalog());
  c->generation_ = generation;
  c->profile_ = profile != nullptr ? std::move(profile) : std::make_shared<const profile::Model>();
  for (auto& j : current) {
    auto owned = std::make_unique<journey::Journey>(std::move(j));
    const journey::Journey* p = owned.get();
    c->owned_.push_back(std::move(owned));
    c->current_[p->name] = p;
    c->versions_[{p->name, p->version}] = p;
  }
  for (auto& j : previous) {
    if (c->versions_.count({j.name, j.version}) != 0) continue;
    auto owned = std::make_unique<journey::Journey>(std::move(j));
    c->versions_[{owned->name, owned->version}] = owned.get();
    c->owned_.push_back(std::move(owned));
  }
  for (const auto& [name, j] : c->current_) {
    const auto& t = j->trigger;
    switch (t.kind) {
      case journey::TriggerKind::kEvent:
        c->by_event_[t.event].push_back(j);
        break;
      case journey::TriggerKind::kTraitChanged:  // by the top-level trait an identify sets
        c->by_trait_[t.trait.substr(0, t.trait.find('.'))].push_back(j);
        break;
      case journey::TriggerKind::kAbsence:
        c->absence_by_event_[t.event].push_back(j);
        c->absence_.push_back(j);
        break;
      case journey::TriggerKind::kDate:
        c->date_by_trait_[t.trait].push_back(j);
        c->date_.push_back(j);
        break;
      case journey::TriggerKind::kSchedule:
        break;  // entered by the campaign scanner (customer-profile issue)
    }
  }
  // Look-back needs the events recorded before a wait opens, for every
  // version an instance may still be on.
  for (const auto& [key, j] : c->versions_) {
    for (const auto& step : j->steps) {
      if (step.kind != journey::StepKind::kWaitFor || step.lookback_ms <= 0) continue;
      auto& lb = c->lookback_[step.awaited.event];
      lb = std::max(lb, step.lookback_ms);
      c->max_lookback_ms_ = std::max(c->max_lookback_ms_, step.lookback_ms);
    }
  }
  return c;
}

const journey::Journey* Catalog::Current(std::string_view name) const {
  auto it = current_.find(name);
  return it == current_.end() ? nullptr : it->second;
}

const journey::Journey* Catalog::Version(std::string_view name, uint32_t version) const {
  auto it = versions_.find({std::string(name), version});
  return it == versions_.end() ? nullptr : it->second;
}

const JourneyList& Catalog::ByEvent(std::string_view e) const { return Lookup(by_event_, e); }
const JourneyList& Catalog::ByTrait(std::string_view t) const { return Lookup(by_trait_, t); }
const JourneyList& Catalog::AbsenceOf(std::string_view e) const {
  return Lookup(absence_by_event_, e);
}
const JourneyList& Catalog::DateOn(std::string_view t) const { return Lookup(date_by_trait_, t); }

int64_t Catalog::LookbackFor(std::string_view event_name) const {
  auto it = lookback_.find(event_name);
  return it == lookback_.end() ? 0 : it->second;
}

}  // namespace cairn::flow
