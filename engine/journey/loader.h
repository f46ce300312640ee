// Loads journeys from their YAML files (docs/journeys.md is the language) and
// validates them: every problem is one Diagnostic "file:line:col: message",
// all of them collected, so `cairn validate` and an editor can show them at
// once. A Journey is returned only when its file has no problem at all; it is
// then fully resolved (step references are indices, conditions compiled,
// defaults filled in) and immutable.
//
// Thread-safety: the functions keep no state; call them from any thread.
// They never throw and never crash on bad input (yaml-cpp exceptions are
// caught here and become diagnostics).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"
#include "journey/model.h"

namespace cairn::journey {

struct LoadResult {
  std::optional<Journey> journey;       // set iff `diagnostics` is empty
  std::vector<Diagnostic> diagnostics;  // sorted by position
};

// Loads one journey from `yaml_text`; `file` names it in diagnostics and is
// stored in Journey::file.
LoadResult LoadJourney(std::string_view yaml_text, const std::string& file);
// Reads and loads the file at `path`.
LoadResult LoadJourneyFile(const std::string& path);

struct LoadedSet {
  std::vector<Journey> journeys;        // in file-name order
  std::vector<Diagnostic> diagnostics;  // grouped by file, in file-name order
  int files = 0;                        // journey files looked at
};

// Every *.yaml / *.yml file directly in `dir` (sorted by name), plus the
// cross-file checks (no two files define the same journey name). A file with
// problems is left out of `journeys` and its diagnostics are returned; of two
// files with the same journey name the later one is left out.
LoadedSet LoadJourneyDir(const std::string& dir);
// Like LoadJourneyDir over several paths, each a journey file or a directory
// (its *.yaml / *.yml files); cross-file checks span all of them. A path that
// does not exist is a diagnostic.
LoadedSet LoadJourneyPaths(const std::vector<std::string>& paths);

// A local time of day "HH:MM" (24-hour clock, 00:00 to 23:59) as minutes
// after midnight, e.g. "10:00" -> 600.
Result<int> ParseTimeOfDay(std::string_view text);

// The default local time for date triggers without `at`: 09:00.
inline constexpr int kDefaultDateMinute = 9 * 60;
// The default max_lifetime: 365 days.
inline constexpr int64_t kDefaultMaxLifetimeMs = int64_t{365} * 24 * 3600 * 1000;

}  // namespace cairn::journey
