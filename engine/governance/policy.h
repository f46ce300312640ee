// Governance: the rules every marketing message passes at send time —
// consent and suppression, frequency caps, quiet hours, priority
// arbitration and the global holdout (docs/profiles.md#governance).
// Declared in the `governance:` section of a profile file
// (journeys/profile/*.yaml); immutable once loaded.
#pragma once

#include <yaml-cpp/yaml.h>

#include "journey/yaml_reader.h"

namespace cairn::governance {

struct Policy {
  bool declared = false;  // a `governance:` section was given
};

// Reads a `governance:` section into `out`; problems become diagnostics of
// `reader` (file:line:col). `where` is the section key's position.
void ParsePolicy(journey::internal::YamlReader& reader, const YAML::Node& node, journey::Pos where,
                 Policy& out);

}  // namespace cairn::governance
