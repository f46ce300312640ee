// Bulk labels: the one piece of code that validates label rows and turns them
// into `Labels Updated` events, for `cairn import labels` and for
// `POST /v1/labels:batch` alike (docs/labels-import.md).
//
// A row names a customer and the labels to add and to remove. A valid label
// is 1..64 characters of [a-z0-9_-:.]; a customer id is 1..256 bytes without
// control characters. Rows are validated one by one; a bad row is rejected
// with a reason code and a message, and the rest go on.
//
// Consecutive rows for the same customer are combined into one event (later
// rows win: a label removed after being added is removed). The event's
// messageId is "lbl-" + 16 hex digits of FNV-1a over the customer id and the
// sorted add and remove sets, so the same input gives the same messageIds and
// importing a file twice is idempotent.
//
// Pure functions and value types; no threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "cairn/clock.h"

namespace cairn::labels {

inline constexpr size_t kMaxLabelLength = 64;
inline constexpr size_t kMaxCustomerIdLength = 256;
// An event carries at most this many labels (add + remove); combining stops
// before it.
inline constexpr size_t kMaxLabelsPerEvent = 256;
inline constexpr std::string_view kEventName = "Labels Updated";

// Reason codes of a rejected row (the summary counts rows per code).
inline constexpr std::string_view kMissingId = "missing_id";
inline constexpr std::string_view kInvalidId = "invalid_id";
inline constexpr std::string_view kInvalidLabel = "invalid_label";
inline constexpr std::string_view kNoLabels = "no_labels";
inline constexpr std::string_view kLabelConflict = "label_conflict";
inline constexpr std::string_view kTooManyLabels = "too_many_labels";
inline constexpr std::string_view kBadJson = "bad_json";
inline constexpr std::string_view kBadRow = "bad_row";
inline constexpr std::string_view kColumnCount = "column_count";

// Whether `label` is 1..64 characters of [a-z0-9_-:.].
bool ValidLabel(std::string_view label);

struct LabelRow {
  std::string customer_id;
  std::set<std::string> add;  // sorted, unique
  std::set<std::string> remove;
};

struct Rejection {
  std::string reason;   // one of the codes above
  std::string message;  // for people: what is wrong, quoting the value
};

// Checks a row: the id, every label, at least one label, no label both
// added and removed. nullopt when it is good.
std::optional<Rejection> ValidateRow(const LabelRow& row);

// One JSON row: {"customer_id": "...", "add": [...], "remove": [...]} or
// {"customer_id": "...", "label": "..."} ("user_id" may name the customer).
// Validated with ValidateRow. Unknown members are rejected (bad_row), so a
// misspelt key is not silently ignored.
std::variant<LabelRow, Rejection> RowFromJson(const nlohmann::json& j);
// Same, from the text of one JSON line (bad_json when it does not parse).
std::variant<LabelRow, Rejection> RowFromJsonText(std::string_view text);

// "lbl-" + 16 lower-case hex digits (see above).
std::string LabelMessageId(const LabelRow& row);

// The Segment-spec track event (docs/events.md):
// {"type":"track","event":"Labels Updated","userId":…,"messageId":…,
//  "timestamp":…,"properties":{"add":[…],"remove":[…],"source":…}}
std::string LabelEventJson(const LabelRow& row, std::string_view source, TimestampMs now);

// Combines consecutive valid rows of one customer into one event.
class RowCombiner {
 public:
  // Adds a valid row. Returns the finished event of the previous customer
  // when this row starts another one (or would exceed kMaxLabelsPerEvent).
  std::optional<LabelRow> Add(LabelRow row);
  // The event in hand, if any (call at the end of the input).
  std::optional<LabelRow> Finish();

 private:
  std::optional<LabelRow> current_;
};

}  // namespace cairn::labels
