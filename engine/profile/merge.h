// Folding one customer's computed values into another's (identity merge,
// engine/identity): the result is what the profile would hold had one
// customer seen both event streams.
#pragma once

#include "cairn/clock.h"
#include "cairn/v1/state.pb.h"
#include "profile/model.h"

namespace cairn::profile {

// Computed traits of `from` are folded into `into` trait by trait: count and
// sum add up, min/max take the extreme, first the earlier and last the later
// value, distinct the union (bounded as when folding), window entries merge
// in time order under the entry cap. Rule labels are united. The derived
// parts (RFM, stage, segments, the profile timer) are left as they are: the
// caller re-derives them (Rederive in profiler.h) with the live counts.
// Traits `from` holds under a name the model no longer declares are dropped.
void MergeProfiles(const Model& model, v1::ProfileState& into, const v1::ProfileState& from,
                   TimestampMs now);

}  // namespace cairn::profile
