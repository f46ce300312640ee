// Governance: the rules every message passes at send time — consent and
// suppression, frequency caps, quiet hours, priority arbitration and the
// global holdout (docs/governance.md). Declared in the `governance:` section
// of a profile file (journeys/profile/*.yaml); immutable once loaded, read
// from any thread. The decisions themselves are in governance/governor.h.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "journey/yaml_reader.h"

namespace cairn::governance {

// At most `max` marketing messages in any sliding window of `per_ms`, on
// one channel or (channel empty) on all channels together.
struct Cap {
  std::string channel;  // empty: any channel
  uint32_t max = 0;
  int64_t per_ms = 0;
};

// Local time of day [from, to) in the customer's zone during which no
// marketing message goes out; from > to spans midnight (21:00-08:00).
struct QuietHours {
  int from_minute = 0;                // 0..1439
  int to_minute = 0;                  // 0..1439, != from_minute
  std::vector<std::string> channels;  // empty: every channel
};

struct Holdout {
  uint32_t basis_points = 0;  // share of customers in the control group, 0..10000
  std::string salt;           // changing it draws a new group
};

struct Policy {
  bool declared = false;  // a `governance:` section was given
  std::vector<Cap> caps;
  std::vector<QuietHours> quiet_hours;
  std::string timezone = "UTC";  // for customers without a valid traits.timezone
  Holdout holdout;
  int64_t max_deferral_ms = 7LL * 24 * 3600 * 1000;  // journeys may set their own
  // Suppression list: lower-case sha256 hex digests of identifiers (see
  // HashEmail/HashPhone/HashId in governor.h); never null.
  std::string suppression_file;  // absolute path; empty: none
  std::shared_ptr<const std::unordered_set<std::string>> suppressed =
      std::make_shared<const std::unordered_set<std::string>>();

  // The longest cap window: send records older than this are forgotten.
  int64_t longest_window_ms() const;
};

// Reads a `governance:` section into `out`; problems become diagnostics of
// `reader` (file:line:col). `where` is the section key's position. The
// suppression file is read relative to the directory of reader.file().
void ParsePolicy(journey::internal::YamlReader& reader, const YAML::Node& node, journey::Pos where,
                 Policy& out);

}  // namespace cairn::governance
