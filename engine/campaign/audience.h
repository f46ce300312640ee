// Who a campaign run enters: the journey's `who.where` condition and its
// consent rules, evaluated against a stored customer record (the bytes of a
// v1::CustomerState as the customers column family holds them).
//
// Decodes only what the condition reads: a condition over `traits` (and the
// consent rules) reads field 2 (traits_json) straight from the wire format,
// skips the rest, and builds only the top-level traits it names; one that
// reads `customer` parses the whole record.
// `event` and `entry` are the synthetic `Campaign Started` event of the run.
//
// The runtime checks the same rules again on the live record when it enters
// the customer (flow::Runtime::EnterScheduled); this filter keeps the scan
// from loading and tracing customers who are not in the audience.
//
// Thread-safety: an Audience is immutable; Matches may run on many threads
// at once (each call builds its own scope).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/clock.h"
#include "journey/model.h"
#include "profile/eval_scope.h"

namespace cairn::campaign {

// The entry event of a run: `Campaign Started` {journey, run_at}.
profile::EventView CampaignEvent(std::string_view journey, TimestampMs run_at_ms);

class Audience {
 public:
  // `journey` and `model` (the catalog's profile model, may be null) must
  // outlive the Audience. A model that computes traits, scores, stages or
  // segments makes every evaluation parse the whole record (they live there).
  Audience(const journey::Journey& journey, TimestampMs run_at_ms,
           const profile::Model* model = nullptr);

  // Whether the stored record is in the audience at `now`. A record that
  // does not parse, or a condition that fails to evaluate, is not (with
  // `error` set when given).
  bool Matches(std::string_view record, TimestampMs now, std::string* error = nullptr) const;

  bool reads_customer() const { return full_; }

 private:
  // The consent rules: any channel of the journey may reach the customer.
  bool Consents(const expr::Value& traits) const;

  const journey::Journey& journey_;
  const profile::Model* model_ = nullptr;  // set only when not empty
  profile::EventView event_;
  expr::Value event_value_;  // event_ as conditions see it (built once)
  bool full_ = false;        // the condition reads `customer`: parse the whole record
  bool traits_ = false;      // it reads `traits`, or there are consent rules
  // Only these top-level traits are built (the condition's and `consent`);
  // empty with project_ false: all of them.
  bool project_ = false;
  std::vector<std::string> trait_fields_;
  std::vector<expr::Value> trait_keys_;  // trait_fields_ as values
};

// Field 2 (traits_json) of a serialized v1::CustomerState, without parsing
// the rest. false when the bytes are not a well-formed record.
bool ReadTraitsJson(std::string_view record, std::string_view& traits);

}  // namespace cairn::campaign
