// In-memory customer state and how an event changes it.
//
// CustomerState (proto/cairn/v1/state.proto) is the persisted record. Apply()
// is the one place that folds an event into it: counts, first/last times,
// running sums, trait merges and the messageId dedup window. It is pure (no
// I/O), so the same fold serves ingest, replay and tests.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cairn/event.h"
#include "cairn/v1/state.pb.h"

namespace cairn::state {

struct StateOptions {
  // Numeric properties whose running sums are kept per event name.
  std::vector<std::string> summed_properties = {"total",    "revenue", "value",   "price",
                                                "quantity", "amount",  "discount"};
  uint32_t dedup_window = 64;              // recent messageIds remembered per customer
  uint32_t history_limit = 50;             // recent events kept per customer
  uint32_t history_max_properties = 2048;  // bytes of properties JSON kept per entry
};

enum class ApplyResult { kApplied, kDuplicate };

// Folds `event` into `state`. Returns kDuplicate (and changes nothing) when
// the event's messageId is in the dedup window. When applied and
// `history` is non-null, fills it with the entry to append.
// It first asks the CPU for the record's parts (Prefetch).
ApplyResult Apply(const StateOptions& options, const Event& event, v1::CustomerState& state,
                  v1::HistoryEntry* history);

// A hint, no effect on results: asks the CPU at once for the cache lines
// of the record's parts an event's path reads (the dedup window, event
// stats, journey instances and entries, lookback, the profile's computed
// traits and segment names). Each is its own allocation, and a customer's
// record is rarely in the CPU's caches when its event comes: read one by
// one as the path reaches them, their misses came one after another (with
// 50 computed traits and 20 segments, profile_bench's ratio went from 1.65
// to about 1.5). Issued before Apply's own work, they arrive while it and
// the stages after it run.
void Prefetch(const v1::CustomerState& state);

// The 64-bit hash the dedup window stores for a messageId.
uint64_t MessageIdHash(std::string_view message_id);

}  // namespace cairn::state
