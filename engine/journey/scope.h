// The variables every journey condition may use, in slot order. The loader
// compiles conditions against JourneyDeclarations(); the runtime's
// Activation answers Resolve(slot) with the same slots. docs/expressions.md
// lists the fields.
//
//   event     the event being matched (trigger, wait_for, exit_when, goal)
//   entry     the event that started the instance (correlation: the same cart_id)
//   traits    the customer's traits (identify), open map
//   customer  id, first_seen, last_seen, events_total, labels, and per event
//             name: events['Order Completed'].count / first_at / last_at / sums.total
//   instance  journey, version, step, entered_at, arm, loops
//   change    trait_changed triggers: trait, old, new
#pragma once

#include "expr/expr.h"

namespace cairn::journey {

enum Slot : int {
  kEventSlot = 0,
  kEntrySlot,
  kTraitsSlot,
  kCustomerSlot,
  kInstanceSlot,
  kChangeSlot
};

const expr::Declarations& JourneyDeclarations();

}  // namespace cairn::journey
