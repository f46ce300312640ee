// `cairn demo`: the journey analytics table (engine/analytics counters, the
// same numbers as GET /v1/analytics/journeys), checked against the decision
// counts the engine kept in memory during the run.
#pragma once

#include <string>

#include "runtime/engine.h"
#include "state/state_store.h"

namespace cairn::app {

// Prints one line per journey (entered, goal, conversion, sent, opened,
// clicked, revenue, ROMI). false when entered / goal / sent differ from the
// engine's decision counts (a fresh data directory is assumed).
bool ReportAnalytics(state::StateStore& store, const runtime::Engine& engine,
                     const std::string& http);

}  // namespace cairn::app
