#include "app/validate_command.h"

#include <set>

#include "journey/loader.h"

namespace cairn::app {

int RunValidate(const std::vector<std::string>& paths, std::ostream& out, std::ostream& err) {
  if (paths.empty()) {
    err << "usage: cairn validate PATH... (journey files or directories of them)\n";
    return 1;
  }
  const journey::LoadedSet set = journey::LoadJourneyPaths(paths);
  std::set<std::string> bad_files;
  for (const auto& d : set.diagnostics) {
    out << d.ToString() << "\n";
    bad_files.insert(d.file);
  }
  if (set.files == 0 && set.diagnostics.empty()) {
    out << "failed: no journey files (*.yaml, *.yml) in";
    for (const auto& p : paths) out << " " << p;
    out << "\n";
    return 1;
  }
  if (!set.diagnostics.empty()) {
    out << "failed: " << set.diagnostics.size()
        << (set.diagnostics.size() == 1 ? " problem" : " problems") << " in " << bad_files.size()
        << " of " << set.files << (set.files == 1 ? " file" : " files") << "\n";
    return 1;
  }
  size_t steps = 0;
  for (const auto& j : set.journeys) steps += j.steps.size();
  out << "ok: " << set.journeys.size() << (set.journeys.size() == 1 ? " journey, " : " journeys, ")
      << steps << (steps == 1 ? " step" : " steps") << ", 0 problems\n";
  return 0;
}

}  // namespace cairn::app
