#include "profile/merge.h"

#include <algorithm>

#include "profile/values.h"

namespace cairn::profile {

void MergeProfiles(const Model& model, v1::ProfileState& into, const v1::ProfileState& from,
                   TimestampMs now) {
  Align(model, into);
  v1::ProfileState scratch;
  const v1::ComputedTraits& f = ForReading(model, from, scratch);
  v1::ComputedTraits& c = *into.mutable_computed();
  for (size_t i = 0; i < model.traits.size(); ++i) {
    MergeTrait(model, i, c, f);
    (void)Expire(model, i, now, c);  // what left the window of either is gone
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
