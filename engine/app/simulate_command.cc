#include "app/simulate_command.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "cairn/time.h"
#include "expr/expr.h"
#include "flow/catalog.h"
#include "flow/simulator.h"
#include "journey/loader.h"
#include "profile/loader.h"

namespace cairn::app {
namespace {

namespace fs = std::filesystem;

struct Run {
  std::vector<std::string> lines;  // JSON actions
  std::map<std::string, std::vector<std::string>>
      per_customer;  // customer -> "journey step action"
  flow::StepCounts counts;
  uint64_t events = 0, timers = 0;
};

std::string ActionJson(const v1::TraceEntry& e) {
  nlohmann::ordered_json j;
  j["at"] = FormatTimestamp(e.at_ms());
  j["customer"] = e.customer();
  j["journey"] = e.journey();
  j["version"] = e.version();
  j["step"] = e.step();
  j["action"] = e.action();
  if (!e.channel().empty()) j["channel"] = e.channel();
  if (!e.template_name().empty()) j["template"] = e.template_name();
  if (!e.reason().empty()) j["reason"] = e.reason();
  if (!e.task_id().empty()) j["task_id"] = e.task_id();
  return j.dump();
}

Status ReadLines(const std::string& path,
                 const std::function<Status(std::string_view, const std::string&)>& fn) {
  std::ifstream in(path);
  if (!in) return NotFound(path + ": cannot open");
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    CAIRN_RETURN_IF_ERROR(fn(line, fmt::format("{}:{}", path, n)));
  }
  return Status::Ok();
}

Result<Run> Simulate(const std::string& dir, const SimulateOptions& o, int64_t horizon,
                     std::ostream& err) {
  auto set = journey::LoadJourneyDir(dir);
  for (const auto& d : set.diagnostics) err << d.ToString() << "\n";
  if (!set.diagnostics.empty())
    return InvalidArgument(fmt::format("{}: journeys have problems", dir));
  if (set.journeys.empty()) return InvalidArgument(fmt::format("{}: no journeys", dir));
  // The profile beside the journeys (computed traits, RFM, stages, labels,
  // segments, governance), as `cairn run` loads it.
  std::shared_ptr<const profile::Model> model;
  if (!o.no_profile) {
    auto prof = profile::LoadProfileDir(profile::ProfileDirOf(dir));
    for (const auto& d : prof.diagnostics) err << d.ToString() << "\n";
    if (!prof.model) return InvalidArgument(fmt::format("{}: the profile has problems", dir));
    model = std::move(prof.model);
  }
  auto catalog = flow::Catalog::Build(std::move(set.journeys), {}, 1, std::move(model));
  std::random_device rd;
  const fs::path scratch = fs::temp_directory_path() / fmt::format("cairn-simulate-{:x}", rd());
  flow::SimulatorOptions so;
  so.data_dir = scratch.string();
  so.horizon_ms = horizon;
  auto sim = flow::Simulator::Create(catalog, so);
  if (!sim.ok()) return sim.status();
  Run run;
  (*sim)->OnAction([&](const v1::TraceEntry& e) {
    run.lines.push_back(ActionJson(e));
    run.per_customer[e.customer()].push_back(
        fmt::format("{} {} {} {}", FormatTimestamp(e.at_ms()), e.journey(), e.step(), e.action()));
  });
  Status s = Status::Ok();
  if (!o.profiles.empty()) {
    s = ReadLines(o.profiles, [&](std::string_view l, const std::string& w) {
      return (*sim)->AddProfile(l, w);
    });
  }
  if (s.ok()) {
    s = ReadLines(o.events,
                  [&](std::string_view l, const std::string& w) { return (*sim)->AddEvent(l, w); });
  }
  if (s.ok()) s = (*sim)->Run();
  run.counts = (*sim)->counts();
  run.events = (*sim)->events();
  run.timers = (*sim)->timers_fired();
  sim->reset();
  std::error_code ec;
  fs::remove_all(scratch, ec);
  if (!s.ok()) return s;
  return run;
}

nlohmann::ordered_json Summary(const Run& r) {
  nlohmann::ordered_json j;
  j["events"] = r.events;
  j["timers_fired"] = r.timers;
  nlohmann::ordered_json journeys = nlohmann::ordered_json::object();
  for (const auto& [journey, steps] : r.counts) {
    nlohmann::ordered_json js = nlohmann::ordered_json::object();
    for (const auto& [step, actions] : steps) {
      nlohmann::ordered_json a = nlohmann::ordered_json::object();
      for (const auto& [action, n] : actions) a[action] = n;
      js[step] = a;
    }
    journeys[journey.empty() ? "-" : journey] = js;
  }
  j["journeys"] = journeys;
  return j;
}

}  // namespace

int SimulateCommand(const SimulateOptions& o, std::ostream& out, std::ostream& err) {
  int64_t horizon = -1;
  if (!o.horizon.empty()) {
    auto h = expr::ParseDurationMs(o.horizon);
    if (!h.ok()) {
      err << "--horizon: " << h.status().message() << "\n";
      return 1;
    }
    horizon = h.value();
  }
  auto a = Simulate(o.journeys, o, horizon, err);
  if (!a.ok()) {
    err << a.status().message() << "\n";
    return 1;
  }
  if (o.diff.empty()) {
    if (!o.quiet) {
      for (const auto& l : a->lines) out << l << "\n";
    }
    out << nlohmann::ordered_json{{"summary", Summary(*a)}}.dump() << "\n";
    return 0;
  }
  auto b = Simulate(o.diff, o, horizon, err);
  if (!b.ok()) {
    err << b.status().message() << "\n";
    return 1;
  }
  // Per customer: where the two versions' action sequences part.
  uint64_t differ = 0, same = 0;
  std::map<std::string, bool> customers;
  for (const auto& [c, v] : a->per_customer) customers[c] = true;
  for (const auto& [c, v] : b->per_customer) customers[c] = true;
  static const std::vector<std::string> kNone;
  for (const auto& [c, unused] : customers) {
    auto ia = a->per_customer.find(c);
    auto ib = b->per_customer.find(c);
    const auto& va = ia == a->per_customer.end() ? kNone : ia->second;
    const auto& vb = ib == b->per_customer.end() ? kNone : ib->second;
    if (va == vb) {
      ++same;
      continue;
    }
    ++differ;
    size_t k = 0;
    while (k < va.size() && k < vb.size() && va[k] == vb[k]) ++k;
    nlohmann::ordered_json d;
    d["customer"] = c;
    d["first_difference"] = k;
    d["a"] =
        std::vector<std::string>(va.begin() + static_cast<long>(std::min(k, va.size())), va.end());
    d["b"] =
        std::vector<std::string>(vb.begin() + static_cast<long>(std::min(k, vb.size())), vb.end());
    out << d.dump() << "\n";
  }
  out << nlohmann::ordered_json{{"diff",
                                 {{"customers_same", same},
                                  {"customers_different", differ},
                                  {"a", Summary(*a)},
                                  {"b", Summary(*b)}}}}
             .dump()
      << "\n";
  return 0;
}

}  // namespace cairn::app
