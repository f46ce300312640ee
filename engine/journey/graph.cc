#include "journey/graph.h"

#include <utility>

namespace cairn::journey {

namespace {

struct Edge {
  int to = kNoStep;
  Pos pos;               // where the reference was written
  bool bounded = false;  // a goto with max: the loop it closes ends
  bool is_goto = false;
};

Pos Or(Pos p, Pos fallback) { return p.line > 0 ? p : fallback; }

std::vector<Edge> EdgesOf(const Step& s, const StepGraphRefs& r) {
  std::vector<Edge> out;
  auto add = [&](int to, Pos pos) {
    if (to != kNoStep) out.push_back(Edge{to, pos});
  };
  switch (s.kind) {
    case StepKind::kSend:
    case StepKind::kWait:
    case StepKind::kUpdate:
    case StepKind::kEmit:
      add(s.next, r.next_pos);
      break;
    case StepKind::kWaitFor:
      add(s.on_event, Or(r.on_event_pos, r.next_pos));
      if (s.on_timeout != s.on_event) add(s.on_timeout, Or(r.on_timeout_pos, r.next_pos));
      break;
    case StepKind::kBranch:
      for (size_t k = 0; k < s.cases.size(); ++k) {
        add(s.cases[k].next, k < r.case_pos.size() ? r.case_pos[k] : r.id_pos);
      }
      add(s.next, r.next_pos);
      break;
    case StepKind::kSplit:
      for (size_t k = 0; k < s.arms.size(); ++k) {
        add(s.arms[k].next, k < r.arm_pos.size() ? r.arm_pos[k] : r.id_pos);
      }
      break;
    case StepKind::kGoto:
      if (s.goto_step != kNoStep) {
        out.push_back(Edge{s.goto_step, Or(r.goto_pos, r.id_pos), s.max_loops > 0, true});
      }
      // After `max` jumps it goes on to `next`; without max it always jumps.
      if (s.max_loops > 0) add(s.next, r.next_pos);
      break;
    case StepKind::kExit:
      break;
  }
  return out;
}

}  // namespace

void CheckGraph(const Journey& j, const std::vector<StepGraphRefs>& refs, const ReportFn& report) {
  const size_t n = j.steps.size();
  if (n == 0 || refs.size() != n) return;
  std::vector<std::vector<Edge>> edges(n);
  for (size_t i = 0; i < n; ++i) edges[i] = EdgesOf(j.steps[i], refs[i]);

  // Reachability from the first step.
  std::vector<bool> seen(n, false);
  std::vector<int> worklist{0};
  seen[0] = true;
  while (!worklist.empty()) {
    const int at = worklist.back();
    worklist.pop_back();
    for (const Edge& e : edges[static_cast<size_t>(at)]) {
      if (e.to >= 0 && static_cast<size_t>(e.to) < n && !seen[static_cast<size_t>(e.to)]) {
        seen[static_cast<size_t>(e.to)] = true;
        worklist.push_back(e.to);
      }
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (!seen[i]) {
      report(refs[i].id_pos,
             "step '" + j.steps[i].id + "' is never reached: no step before it leads here");
    }
  }

  // Loops: a back edge in a depth-first walk that ignores bounded gotos.
  // Iterative, so a huge journey cannot exhaust the stack.
  enum : uint8_t { kWhite, kOnStack, kDone };
  std::vector<uint8_t> color(n, kWhite);
  std::vector<int> path;  // the current walk, for the message
  for (size_t root = 0; root < n; ++root) {
    if (color[root] != kWhite) continue;
    std::vector<std::pair<int, size_t>> stack{{static_cast<int>(root), 0}};
    color[root] = kOnStack;
    path.assign(1, static_cast<int>(root));
    while (!stack.empty()) {
      auto& [at, next_edge] = stack.back();
      const auto& out = edges[static_cast<size_t>(at)];
      if (next_edge == out.size()) {
        color[static_cast<size_t>(at)] = kDone;
        stack.pop_back();
        path.pop_back();
        continue;
      }
      const Edge e = out[next_edge++];
      if (e.bounded || e.to < 0 || static_cast<size_t>(e.to) >= n) continue;
      const size_t to = static_cast<size_t>(e.to);
      if (color[to] == kWhite) {
        color[to] = kOnStack;
        stack.emplace_back(e.to, 0);
        path.push_back(e.to);
      } else if (color[to] == kOnStack) {
        std::string cycle;
        size_t start = 0;
        while (start < path.size() && path[start] != e.to) ++start;
        const size_t len = path.size() - start;
        for (size_t k = start; k < path.size(); ++k) {
          if (len > 8 && k == start + 4) {
            cycle += " -> ...";
            k = path.size() - 3;
          }
          cycle += (cycle.empty() ? "" : " -> ") + j.steps[static_cast<size_t>(path[k])].id;
        }
        cycle += " -> " + j.steps[to].id;
        if (e.is_goto) {
          report(e.pos, "this goto loops forever (" + cycle + "); give it a `max:`");
        } else {
          report(e.pos, "steps loop with no bound (" + cycle + "); loop back with `goto: { step: " +
                            j.steps[to].id + ", max: N }` instead");
        }
      }
    }
  }
}

}  // namespace cairn::journey
