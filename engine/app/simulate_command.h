// `cairn simulate --journeys DIR --events FILE.jsonl [--profiles FILE.jsonl]
//                 [--diff OTHER_DIR] [--horizon 30d] [--no-profile]`
// Runs the journeys on the events in virtual time (flow/simulator.h) and
// prints one JSON line per action, then a summary line with per-journey,
// per-step counts. The customer profile beside the journeys (DIR/profile:
// computed traits, RFM, stages, labels, segments, governance) runs too, as
// in `cairn run`, unless --no-profile. Exit 0; 1 when the journeys, the
// profile or the files have problems.
#pragma once

#include <ostream>
#include <string>

namespace cairn::app {

struct SimulateOptions {
  std::string journeys;
  std::string events;
  std::string profiles;
  std::string diff;         // another journeys directory to compare with, on the same events
  std::string horizon;      // duration after the last event; empty = derived
  bool quiet = false;       // summary only
  bool no_profile = false;  // the journeys alone (the file carries the profile's events)
};

int SimulateCommand(const SimulateOptions& options, std::ostream& out, std::ostream& err);

}  // namespace cairn::app
