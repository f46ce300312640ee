#include "governance/policy.h"

namespace cairn::governance {

void ParsePolicy(journey::internal::YamlReader& reader, const YAML::Node& node, journey::Pos where,
                 Policy& out) {
  journey::internal::Fields f;
  if (!reader.ReadMap(node, where, "governance", {}, f)) return;
  out.declared = true;
}

}  // namespace cairn::governance
