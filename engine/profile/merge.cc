#include "profile/merge.h"

#include <algorithm>

#include "profile/values.h"

namespace cairn::profile {
namespace {

void MergeAllTime(const ComputedTrait& t, v1::ComputedState& s, const v1::ComputedState& o) {
  if (o.count() == 0) return;
  const bool had = s.count() > 0;
  s.set_count(s.count() + o.count());
  s.set_sum(s.sum() + o.sum());
  if (!had || o.min() < s.min()) s.set_min(o.min());
  if (!had || o.max() > s.max()) s.set_max(o.max());
  if (!had || o.first_at_ms() < s.first_at_ms()) {
    s.set_first_at_ms(o.first_at_ms());
    s.set_first_json(o.first_json());
  }
  if (!had || o.last_at_ms() >= s.last_at_ms()) {
    s.set_last_at_ms(o.last_at_ms());
    s.set_last_json(o.last_json());
  }
  if (t.aggregate == Aggregate::kDistinct && o.distinct_size() > 0) {
    std::vector<uint64_t> u;
    u.reserve(static_cast<size_t>(s.distinct_size() + o.distinct_size()));
    std::set_union(s.distinct().begin(), s.distinct().end(), o.distinct().begin(),
                   o.distinct().end(), std::back_inserter(u));
    if (u.size() > static_cast<size_t>(kMaxDistinct)) u.resize(kMaxDistinct);
    s.mutable_distinct()->Assign(u.begin(), u.end());
  }
}

}  // namespace

void MergeProfiles(const Model& model, v1::ProfileState& into, const v1::ProfileState& from,
                   TimestampMs now) {
  for (size_t i = 0; i < model.traits.size(); ++i) {
    const ComputedTrait& t = model.traits[i];
    const v1::ComputedState* o = FindComputed(from, t.name, i);
    if (o == nullptr) continue;
    v1::ComputedState* s = nullptr;
    if (static_cast<size_t>(into.traits_size()) > i &&
        into.traits(static_cast<int>(i)).name() == t.name) {
      s = into.mutable_traits(static_cast<int>(i));
    } else {
      for (auto& c : *into.mutable_traits()) {
        if (c.name() == t.name) s = &c;
      }
      if (s == nullptr) {
        s = into.add_traits();
        s->set_name(t.name);
      }
    }
    if (t.window_ms <= 0) {
      MergeAllTime(t, *s, *o);
      continue;
    }
    MergeWindow(t, *s, *o);
    (void)Expire(t, now, *s);  // what left the window of either is gone
  }
  into.set_window_due_ms(0);  // the next derivation looks at every window
  for (const auto& l : from.rule_labels()) {
    auto* list = into.mutable_rule_labels();
    auto it = std::lower_bound(list->begin(), list->end(), l);
    if (it != list->end() && *it == l) continue;
    const auto pos = it - list->begin();
    list->Add(std::string(l));
    for (auto k = list->size() - 1; k > pos; --k) list->SwapElements(k, k - 1);
  }
}

void MergeLabels(google::protobuf::RepeatedPtrField<std::string>& into,
                 const google::protobuf::RepeatedPtrField<std::string>& from) {
  for (const auto& l : from) {
    if (std::find(into.begin(), into.end(), l) == into.end()) into.Add(std::string(l));
  }
}

}  // namespace cairn::profile
