#include "profile/merge.h"

#include <algorithm>

#include "profile/values.h"

namespace cairn::profile {

void MergeProfiles(const Model& model, v1::ProfileState& into, const v1::ProfileState& from,
                   TimestampMs now) {
  AlignTraits(model, into);
  for (size_t i = 0; i < model.traits.size(); ++i) {
    const ComputedTrait& t = model.traits[i];
    const v1::ComputedState* other = FindComputed(from, t.name, i);
    if (other == nullptr) continue;
    MergeComputed(t, *into.mutable_traits(static_cast<int>(i)), *other, now);
  }
  auto* rule = into.mutable_rule_labels();
  for (const auto& l : from.rule_labels()) {
    if (std::binary_search(rule->begin(), rule->end(), l)) continue;
    rule->Add(std::string(l));
    for (int k = rule->size() - 1; k > 0 && rule->Get(k - 1) > rule->Get(k); --k) {
      rule->SwapElements(k, k - 1);
    }
  }
}

void MergeLabels(google::protobuf::RepeatedPtrField<std::string>& into,
                 const google::protobuf::RepeatedPtrField<std::string>& from) {
  for (const auto& l : from) {
    if (std::find(into.begin(), into.end(), l) == into.end()) into.Add(std::string(l));
  }
}

}  // namespace cairn::profile
