// Operator overrides of journeys, kept in RocksDB beside the versions (state
// store's default column family) and applied by the Library on top of the
// YAML, so they survive restarts and reach every engine reading this store:
//   "jp/" <journey>  -> JSON {"paused": bool, "at": ms, "by": "..."}
// `paused: true` holds the journey as if its YAML said `paused: true`;
// `paused: false` runs it even when the YAML says `paused: true` (resume).
//
// Thread-safety: any thread (RocksDB reads and single writes).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "cairn/clock.h"
#include "cairn/status.h"
#include "state/state_store.h"

namespace cairn::flow {

struct PauseOverride {
  bool paused = false;
  TimestampMs at_ms = 0;  // when the operator set it
  std::string by;         // who or what set it ("api")

  bool operator==(const PauseOverride&) const = default;
};

// Stores the override of `journey` (synced write: it must survive a crash).
Status SetPauseOverride(state::StateStore& store, std::string_view journey,
                        const PauseOverride& value);
// Removes it: the YAML's `paused` applies again.
Status ClearPauseOverride(state::StateStore& store, std::string_view journey);
// Every stored override, by journey name. Unreadable values are skipped.
std::map<std::string, PauseOverride, std::less<>> PauseOverrides(state::StateStore& store);

}  // namespace cairn::flow
