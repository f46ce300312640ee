// Loads the profile model from the YAML files in <journeys>/profile/
// (docs/profiles.md). Every problem is one Diagnostic "file:line:col:
// message", all collected; a model is returned only when there is none.
// A missing directory is an empty model (no computed traits, no segments).
// Never throws, never crashes on bad input.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "profile/model.h"

namespace cairn::profile {

struct LoadResult {
  std::shared_ptr<const Model> model;          // set iff diagnostics is empty
  std::vector<journey::Diagnostic> diagnostics;  // by file, then position
};

// (file name, YAML text) pairs, in the order given.
LoadResult LoadProfile(const std::vector<std::pair<std::string, std::string>>& files);
// Every *.yaml / *.yml file directly in `dir`, by name.
LoadResult LoadProfileDir(const std::string& dir);
// The profile directory of a journey directory: <journeys>/profile.
std::string ProfileDirOf(const std::string& journeys_dir);

}  // namespace cairn::profile
