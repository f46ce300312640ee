// The step graph checks of the loader: unreachable steps and loops without
// a bound. Internal to the loader; works on a Journey whose step references
// are all resolved.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "journey/model.h"

namespace cairn::journey {

// Where one step's references were written, so a diagnostic points at the
// reference that closes a loop. A position with line 0 means "not written"
// (the step's `next` applies).
struct StepGraphRefs {
  Pos id_pos;    // the step's id
  Pos next_pos;  // its `next:` (or branch `else:`), else its id
  bool explicit_next = false;
  Pos on_event_pos;
  Pos on_timeout_pos;
  Pos goto_pos;
  std::vector<Pos> case_pos;  // per branch case, its `next:`
  std::vector<Pos> arm_pos;   // per split arm, its `next:`
};

using ReportFn = std::function<void(Pos, std::string)>;

// Reports every step not reachable from steps[0], and every loop that does
// not pass through a `goto` with a `max`. `refs` has one entry per step.
void CheckGraph(const Journey& journey, const std::vector<StepGraphRefs>& refs,
                const ReportFn& report);

}  // namespace cairn::journey
