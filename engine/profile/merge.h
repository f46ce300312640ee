// Identity merge of computed state: folds one customer's profile into
// another's exactly as if the surviving customer had seen the union of both
// event streams (the merged customer's events arriving after its own on equal
// event times). Pure; no I/O.
#pragma once

#include "cairn/event.h"
#include "cairn/v1/state.pb.h"
#include "profile/model.h"

namespace cairn::profile {

// Folds `from`'s computed traits into `into`'s (`into` is put in model
// order; states of traits the model no longer declares are dropped, as the
// profile stage does):
//   count, sum: added; min, max: the smaller / larger; first: the earlier
//   (on equal times `into`'s); last: the later (on equal times `from`'s);
//   avg: from the merged sum and count; distinct: the union of the value
//   hashes (all-time: bounded at kMaxDistinct, `into`'s kept first).
//   Windows: the entries of both in event-time order (`into`'s first on
//   equal times), pruned at `now`, then bounded at kMaxWindowEntries as one
//   stream would be (the oldest merged; distinct: the oldest dropped); the
//   running totals are recomputed from the entries. Exact below the cap;
//   beyond it count, sum, min and max stay exact as long as the merged
//   entries are inside the window.
// Rule labels: the union (sorted).
//
// Left to the caller, which re-derives them with Rederive (profiler.h) on
// the surviving record: the lifecycle stage, segment membership, RFM scores
// and group, and the profile timer (`into`'s are kept as they were, so the
// re-derivation emits the changes and moves the partition's live counts
// from `into`'s old values). The merged customer's own contribution to its
// partition's live counts (segments, stage, RFM distributions) is the
// caller's to remove. Customer labels (v1::CustomerState::labels) are
// outside ProfileState: merge them with MergeLabels.
void MergeProfiles(const Model& model, v1::ProfileState& into, const v1::ProfileState& from,
                   TimestampMs now);

// Adds to `into` every label of `from` it lacks, keeping `into`'s order
// (new ones appended in `from`'s order).
void MergeLabels(google::protobuf::RepeatedPtrField<std::string>& into,
                 const google::protobuf::RepeatedPtrField<std::string>& from);

}  // namespace cairn::profile
