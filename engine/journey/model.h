// A journey as loaded from its YAML file: When (trigger), Who (audience and
// consent), What (steps), plus entry rules, exit criteria and a goal.
// docs/journeys.md is the language reference; this is its in-memory form.
//
// A Journey is immutable once loaded (the loader resolves every step
// reference to an index and compiles every condition), so the runtime reads
// it from any thread without locks.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cairn/clock.h"
#include "expr/expr.h"

namespace cairn::journey {

// A place in the journey's YAML file (1-based).
struct Pos {
  int line = 0;
  int column = 0;
};

// A compiled CEL condition. Empty (no source) means "always true".
struct Condition {
  std::string source;
  Pos pos;
  expr::Program program;
  bool empty() const { return source.empty(); }
};

// An event with an optional condition on it (exit criteria, goals, waits).
struct EventMatch {
  std::string event;  // the event name, e.g. "Order Completed"
  Condition where;
  Pos pos;
};

// ---- When

enum class TriggerKind : uint8_t {
  kEvent,         // an event arrives (and `where` holds)
  kTraitChanged,  // a trait gets a new value (identify), `where` may test it
  kAbsence,       // no `event` for `for_ms` since the last one (or since first seen)
  kDate,          // a date trait plus an offset, optionally every year
  kSchedule,      // a campaign at a time or on a cron: engine/campaign scans the audience
};

struct Trigger {
  TriggerKind kind = TriggerKind::kEvent;
  Pos pos;
  std::string event;      // kEvent: the event; kAbsence: the event that is absent
  Condition where;        // kEvent, kTraitChanged: on the event / new value
  std::string trait;      // kTraitChanged, kDate: the trait's name (dotted path allowed)
  int64_t for_ms = 0;     // kAbsence
  int64_t offset_ms = 0;  // kDate: negative = before the date
  int at_minute = -1;     // kDate: local time of day in minutes (-1 = 09:00 default at load)
  bool yearly = false;    // kDate: birthdays, anniversaries
  // kSchedule
  std::optional<TimestampMs> at;  // once, at this instant
  std::string cron;               // or repeatedly (five-field cron)
  std::string timezone;           // for cron
  double rate = 1000;             // entries per second per instance (`rate`)
};

// ---- Who

enum class ConsentMode : uint8_t {
  kImplied,   // send unless the customer opted out (traits.consent.<channel> == false)
  kExplicit,  // send only if the customer opted in (traits.consent.<channel> == true)
};

// ---- Entry rules

enum class Reentry : uint8_t { kNever, kAlways, kAfter };

struct EntryRules {
  Reentry reentry = Reentry::kNever;
  int64_t reentry_after_ms = 0;  // kAfter: since the previous entry
  uint32_t max_concurrent = 1;   // instances of this journey per customer at once
};

struct Goal {
  EventMatch match;
  int64_t within_ms = 0;  // after entry
};

enum class VersionPolicy : uint8_t {
  kPin,      // in-flight customers finish on the version they entered
  kMigrate,  // move them by `migrate` (old step id -> new step id), else to the step
             // with the same id; no such step: exit (as engine/flow does)
  kExit,     // end them
};

// ---- What

enum class StepKind : uint8_t {
  kSend,
  kWait,     // a duration, and/or until a local time of day, or until a date trait
  kWaitFor,  // an event (correlated), with a timeout and a look-back window
  kBranch,   // if / else-if / else
  kSplit,    // random weighted, stable per customer; may have a holdout arm
  kUpdate,   // set traits, add/remove labels
  kEmit,     // publish an event about the customer
  kGoto,     // jump back, at most max_loops times per instance
  kExit,
};

// The step kind as the YAML spells it: "send", "wait", "wait_for", ...
constexpr const char* StepKindName(StepKind k) {
  switch (k) {
    case StepKind::kSend:
      return "send";
    case StepKind::kWait:
      return "wait";
    case StepKind::kWaitFor:
      return "wait_for";
    case StepKind::kBranch:
      return "branch";
    case StepKind::kSplit:
      return "split";
    case StepKind::kUpdate:
      return "update";
    case StepKind::kEmit:
      return "emit";
    case StepKind::kGoto:
      return "goto";
    case StepKind::kExit:
      return "exit";
  }
  return "unknown";
}

enum class OnCap : uint8_t { kDefer, kSkip };

inline constexpr int kNoStep = -1;  // "no next step": the instance exits

struct BranchCase {
  Condition when;
  int next = kNoStep;
  Pos pos;
};

struct SplitArm {
  std::string name;
  uint32_t weight = 0;
  bool holdout = false;  // sends nothing; exits, but goal conversions are still measured
  int next = kNoStep;
};

struct TraitUpdate {
  std::string trait;
  std::string literal_json;  // a YAML literal as JSON text, or empty when `value` is used
  Condition value;           // an expression, or empty when literal_json is used
};

struct Step {
  std::string id;
  StepKind kind = StepKind::kExit;
  Pos pos;
  int next = kNoStep;  // where the step leads (its `next:`, else the step below it)

  // kSend
  std::string channel;
  std::string template_name;
  std::string params_json = "{}";  // JSON object of the step's params
  // Governance (docs/governance.md): -1 = as the journey, 0 = marketing,
  // 1 = transactional (exempt from caps, quiet hours and the holdout).
  int transactional = -1;

  // kWait: wait_ms first, then (if set) until the next at_minute in the
  // customer's time zone; or until the date in `until_trait` + offset.
  int64_t wait_ms = 0;
  int at_minute = -1;
  std::string until_trait;
  int64_t until_offset_ms = 0;

  // kWaitFor
  EventMatch awaited;  // `where` sees `event` (the new one) and `entry`
  int64_t timeout_ms = 0;
  int64_t lookback_ms = 0;  // also match an event this long before the step opened
  int on_event = kNoStep;
  int on_timeout = kNoStep;

  // kBranch: first case that holds; else `next`.
  std::vector<BranchCase> cases;

  // kSplit
  std::vector<SplitArm> arms;

  // kUpdate
  std::vector<TraitUpdate> set_traits;
  std::vector<std::string> add_labels;
  std::vector<std::string> remove_labels;

  // kEmit
  std::string emit_event;
  std::string emit_properties_json = "{}";

  // kGoto
  int goto_step = kNoStep;
  uint32_t max_loops = 0;

  // kExit
  std::string exit_reason;
};

struct Journey {
  std::string file;    // path as given to the loader
  std::string source;  // the file's text; stored per version so pinned instances survive restarts
  // metadata
  std::string name;
  uint32_t version = 1;
  std::string description;
  std::string owner;
  int priority = 0;
  std::string timezone = "UTC";  // for customers without a `timezone` trait
  bool paused = false;           // hold everyone where they are; no new entries
  int64_t max_lifetime_ms = 0;   // an instance exits after this; 0 = 365 days
  VersionPolicy on_new_version = VersionPolicy::kPin;
  std::map<std::string, std::string> migrate;  // kMigrate: old step id -> new step id
  // Governance (docs/governance.md): transactional journeys are exempt from
  // caps, quiet hours and the holdout (not from consent and suppression); a
  // capped send waits for a slot (defer, at most max_deferral_ms; 0 = the
  // policy's) or is skipped.
  bool transactional = false;
  OnCap on_cap = OnCap::kDefer;
  int64_t max_deferral_ms = 0;

  Trigger trigger;                             // When
  Condition audience;                          // Who
  std::map<std::string, ConsentMode> consent;  // channel -> rule; every send's channel needs one
  EntryRules entry;
  std::vector<EventMatch> exit_when;
  std::optional<Goal> goal;
  std::vector<Step> steps;  // steps[0] is where an instance starts

  // Index of the step with this id, or kNoStep.
  int StepIndex(std::string_view id) const;
};

// One problem found in a journey file.
struct Diagnostic {
  std::string file;
  Pos pos;
  std::string message;
  std::string ToString() const;  // "file:line:col: message"
};

}  // namespace cairn::journey
