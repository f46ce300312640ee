// The profile stage: after an event was folded into a customer's record (and
// before the journeys see it), it updates the customer's computed traits and
// re-derives RFM scores and group, lifecycle stage, rule labels and segment
// membership. A change emits an event onto the events topic (Lifecycle Stage
// Changed, Segment Entered, Segment Exited: journey triggers), keeps the
// partition's live counts (v1::ProfileStats) and arms one profile timer per
// customer for the next moment something can change without an event (a
// window expires, an idle transition comes due, an RFM recency score drops).
//
// Deterministic in (record, event or timer, now, model, thresholds): a
// replay after a crash emits the same events with the same messageIds. The
// host puts every effect into the batch in hand, as for journeys.
#pragma once

#include <array>
#include <string_view>
#include <vector>

#include "cairn/event.h"
#include "cairn/v1/state.pb.h"
#include "profile/model.h"
#include "timer/timer_store.h"

namespace cairn::profile {

// What the stage asks of its host (the journey runtime's Effects extend it).
class Sink {
 public:
  virtual ~Sink() = default;
  virtual void AddTimer(const timer::Timer& timer) = 0;
  // A message for the broker, published once the batch is durable. The
  // host copies what it keeps: the profile stage refills one record (and
  // one trace entry) per thread, so a host must not call back into the
  // stage on this thread from Publish or Record.
  virtual void Publish(const v1::OutboxRecord& record) = 0;
  // One decision-trace line (seq already assigned from the customer record).
  virtual void Record(const v1::TraceEntry& entry) = 0;
  // The customer joined or left a segment (the host may index members).
  virtual void SetSegmentMember(std::string_view /*segment*/, int32_t /*partition*/,
                                std::string_view /*customer*/, bool /*member*/) {}
};

// RFM cut points: recency as an age in ms (ascending: age <= recency_ms[0]
// scores 5), frequency and monetary ascending (>= [3] scores 5).
struct RfmThresholds {
  std::array<double, 4> recency_ms{}, frequency{}, monetary{};
  bool ready = false;
};

struct Context {
  int32_t partition = 0;
  TimestampMs now = 0;
  Sink* sink = nullptr;
  v1::ProfileStats* stats = nullptr;             // the partition's; null: none kept
  const RfmThresholds* rfm_quantiles = nullptr;  // scores: quantiles; null or not ready: none yet
  std::string_view events_topic = "cairn.events";
  // The catalog generation: a customer first derived under a new one is
  // re-evaluated in full (new segments, changed conditions).
  uint64_t generation = 0;
};

// `event` has been applied to `customer` (not a duplicate).
void OnEvent(const Model& model, const Context& ctx, v1::CustomerState& customer,
             const Event& event);
// A profile timer (TimerPayload::PROFILE) of the customer is due; a stale
// one (its tag is not the customer's current one) changes nothing.
void OnTimer(const Model& model, const Context& ctx, v1::CustomerState& customer,
             const timer::Timer& timer);

// GDPR erasure: takes the customer out of the partition's live counts
// (segments, lifecycle stage, RFM group, recency day, frequency/monetary
// sketches) as if they had never been counted. Their segment membership keys
// are removed by the caller (profile_store.h PutSegmentMember).
void ForgetCustomer(const v1::ProfileState& profile, v1::ProfileStats& stats);

// The segments the customer is in, sorted by name (ProfileState
// .segment_names, or the list of a record written before it). The views
// point into `profile`.
std::vector<std::string_view> SegmentNames(const v1::ProfileState& profile);

// The customer's computed values changed wholesale (an identity merge folded
// another record in): re-derive RFM, stage, labels and segments, with the
// events and counts a change makes, and re-arm the profile timer.
void Rederive(const Model& model, const Context& ctx, v1::CustomerState& customer);
// The customer leaves (merged into another): it is taken out of ctx.stats
// (stage, RFM group and distributions, segments) and the member index, and
// its profile is cleared. Emits no events.
void Forget(const Model& model, const Context& ctx, v1::CustomerState& customer);

// The thresholds scores are cut at: the model's (scores: thresholds), or the
// 20/40/60/80% quantiles of the given partitions' distributions.
RfmThresholds QuantileThresholds(const std::vector<const v1::ProfileStats*>& stats,
                                 TimestampMs now);

// Builds a Segment-spec track event about `customer` for the events topic.
// `message_id` must be deterministic (replays are dropped by the customer's
// dedup window when they come back).
v1::OutboxRecord EventRecord(std::string_view topic, std::string_view customer,
                             std::string_view name, std::string_view message_id, TimestampMs now,
                             std::string properties_json, std::string context_json);

// The event that sets labels in bulk (cairn import labels, POST /v1/labels:batch):
// properties {"add": [...], "remove": [...]}.
inline constexpr std::string_view kLabelsUpdated = "Labels Updated";
inline constexpr std::string_view kSegmentEntered = "Segment Entered";
inline constexpr std::string_view kSegmentExited = "Segment Exited";
inline constexpr std::string_view kStageChanged = "Lifecycle Stage Changed";

}  // namespace cairn::profile
