// The governor: what happens to one send step of one customer at one moment
// — send it, defer it to a moment (quiet hours, a frequency cap, a slot kept
// for a higher-priority journey) or skip it (suppression list, global
// holdout, on_cap: skip, waited past max_deferral) — with the reason the
// decision trace records. The rules and the exact arbitration rule are in
// docs/governance.md.
//
// Decide is a pure function of (policy, customer record, send, now), so a
// replayed input repeats the same decisions; Apply writes what the decision
// changes into the customer record (send history for caps, deferred sends),
// which lands in the same WriteBatch as the rest of the event's effect.
// Consent (traits.consent.<channel> against the journey's who.consent) is
// checked by the journey runtime before the governor is asked.
//
// Threading: all functions are reentrant; Counters are atomics.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "cairn/clock.h"
#include "cairn/v1/state.pb.h"
#include "governance/policy.h"
#include "journey/model.h"

namespace cairn::governance {

// One send step about to make a task.
struct SendRequest {
  std::string_view journey;
  uint64_t instance = 0;
  std::string_view step;
  uint32_t iteration = 0;
  std::string_view channel;
  int priority = 0;            // 0..100
  bool transactional = false;  // exempt from caps, quiet hours and the holdout
  journey::OnCap on_cap = journey::OnCap::kDefer;
  int64_t max_deferral_ms = 0;  // 0: the policy's
};

enum class Verdict : uint8_t { kSend, kDefer, kSkip };

enum class Reason : uint8_t {
  kNone,
  kSuppressed,    // an identifier is on the suppression list (skip)
  kHoldout,       // the customer is in the global control group (skip)
  kQuietHours,    // inside quiet hours in the customer's zone (defer to the window's end)
  kFrequencyCap,  // a cap's window is full (defer to the first free slot, or skip)
  kPriority,      // the last slots are kept for a pending higher-priority send (defer or skip)
  kMaxDeferral,   // a capped send would wait longer than max_deferral (skip)
};
inline constexpr size_t kReasons = 7;
// "suppression", "holdout", "quiet_hours", "frequency_cap", "priority", "max_deferral".
std::string_view ReasonName(Reason r);

struct Decision {
  Verdict verdict = Verdict::kSend;
  TimestampMs until = 0;  // kDefer: when the send is looked at again (> now)
  Reason reason = Reason::kNone;
  std::string text;  // the decision trace's reason
};

Decision Decide(const Policy& policy, const v1::CustomerState& customer, const SendRequest& send,
                TimestampMs now);

// Writes the decision into the record: a marketing send joins the send
// history, a deferral is remembered (with the moment the send was first
// due), a send or skip forgets it. Also forgets send records older than the
// longest cap window and deferred sends whose instance has moved on.
void Apply(const Policy& policy, v1::CustomerState& customer, const SendRequest& send,
           const Decision& decision, TimestampMs now);

// True when the customer is in the global holdout: a stable hash of
// (salt, customer id) falls in the policy's share.
bool InHoldout(const Policy& policy, std::string_view customer_id);

// The suppression list's digests: lower-case sha256 hex of the e-mail
// (trimmed, lower-cased), of the phone (E.164: '+' and digits only) and of
// the customer id (as is).
std::string HashEmail(std::string_view email);
std::string HashPhone(std::string_view phone);
std::string HashId(std::string_view customer_id);
std::string Sha256Hex(std::string_view data);

// Whether `at` falls in one of the policy's quiet hours for `channel` in
// zone `tz`, and the first moment >= at that does not (at itself if none).
bool InQuietHours(const Policy& policy, std::string_view channel, std::string_view tz,
                  TimestampMs at);
TimestampMs QuietHoursEnd(const Policy& policy, std::string_view channel, std::string_view tz,
                          TimestampMs at);
// The customer's zone: traits.timezone when it names a known zone, else the
// policy's default.
std::string ZoneOf(const Policy& policy, const v1::CustomerState& customer);

// Deferred and skipped sends by reason, for /v1/status.
struct Counters {
  std::array<std::atomic<uint64_t>, kReasons> deferred{};
  std::array<std::atomic<uint64_t>, kReasons> skipped{};
  void Count(const Decision& d);
  // {"deferred": {"quiet_hours": n, ...}, "skipped": {...}} as flat
  // "deferred.quiet_hours" -> n entries (non-zero ones).
  std::map<std::string, uint64_t> Snapshot() const;
};

}  // namespace cairn::governance
