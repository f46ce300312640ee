#include "app/validate_command.h"

#include <filesystem>
#include <set>

#include "app/config.h"
#include "app/delivery.h"
#include "dispatch/templates.h"
#include "journey/loader.h"
#include "profile/loader.h"

namespace cairn::app {
namespace {

bool SameDir(const std::filesystem::path& a, const std::filesystem::path& b) {
  std::error_code ea, eb;
  const auto ca = std::filesystem::weakly_canonical(a, ea);
  const auto cb = std::filesystem::weakly_canonical(b, eb);
  return !ea && !eb ? ca == cb : a.lexically_normal() == b.lexically_normal();
}

std::string ProfileSummary(const profile::Model& m) {
  if (m.empty()) return "";
  std::string s = ", profile: " + std::to_string(m.traits.size()) + " computed traits, " +
                  std::to_string(m.segments.size()) + " segments";
  if (m.lifecycle.declared) s += ", " + std::to_string(m.lifecycle.stages.size()) + " stages";
  if (m.rfm.declared) s += ", RFM";
  return s;
}

}  // namespace

int RunValidate(const std::vector<std::string>& paths, std::ostream& out, std::ostream& err) {
  if (paths.empty()) {
    err << "usage: cairn validate PATH... (journey files or directories of them)\n";
    return 1;
  }
  const journey::LoadedSet set = journey::LoadJourneyPaths(paths);
  std::set<std::string> bad_files;
  size_t problems = 0;
  for (const auto& d : set.diagnostics) {
    out << d.ToString() << "\n";
    bad_files.insert(d.file);
    ++problems;
  }
  if (set.files == 0 && set.diagnostics.empty()) {
    out << "failed: no journey files (*.yaml, *.yml) in";
    for (const auto& p : paths) out << " " << p;
    out << "\n";
    return 1;
  }
  // A directory's templates (<dir>/templates) are loaded and every send step
  // of the journeys loaded from that directory is checked against them.
  int files = set.files;
  std::string profile_summary;
  for (const auto& p : paths) {
    std::error_code ec;
    if (!std::filesystem::is_directory(p, ec)) continue;
    std::vector<std::string> found;
    int template_files = 0;
    const auto templates = dispatch::TemplateSet::LoadDirCollecting(
        (std::filesystem::path(p) / "templates").string(), &found, &template_files);
    files += template_files;
    for (const auto& problem : found) bad_files.insert(problem.substr(0, problem.find(':')));
    for (const auto& j : set.journeys) {
      if (!SameDir(std::filesystem::path(j.file).parent_path(), p)) continue;
      const auto step_problems = templates->Check(j);
      if (!step_problems.empty()) bad_files.insert(j.file);
      found.insert(found.end(), step_problems.begin(), step_problems.end());
    }
    for (const auto& problem : found) out << problem << "\n";
    problems += found.size();
    // The directory's profile model (<dir>/profile/*.yaml).
    const std::string pdir = profile::ProfileDirOf(p);
    if (std::filesystem::is_directory(pdir, ec)) {
      const auto prof = profile::LoadProfileDir(pdir);
      for (const auto& d : prof.diagnostics) {
        out << d.ToString() << "\n";
        bad_files.insert(d.file);
        ++problems;
      }
      for (const auto& e : std::filesystem::directory_iterator(pdir, ec)) {
        const auto ext = e.path().extension().string();
        if (ext == ".yaml" || ext == ".yml") ++files;
      }
      if (prof.model) profile_summary = ProfileSummary(*prof.model);
    }
  }
  if (problems > 0) {
    out << "failed: " << problems << (problems == 1 ? " problem" : " problems") << " in "
        << bad_files.size() << " of " << files << (files == 1 ? " file" : " files") << "\n";
    return 1;
  }
  size_t steps = 0;
  for (const auto& j : set.journeys) steps += j.steps.size();
  out << "ok: " << set.journeys.size() << (set.journeys.size() == 1 ? " journey, " : " journeys, ")
      << steps << (steps == 1 ? " step" : " steps") << profile_summary << ", 0 problems\n";
  return 0;
}

int RunValidateConfig(const std::string& path, std::ostream& out) {
  Config config;
  if (Status s = LoadConfigFile(path, config); !s.ok()) {
    out << s.message() << "\n";
    return 1;
  }
  std::set<std::string> instances;
  for (const auto& [name, fields] : config.connectors) {
    auto type = fields->String("type", std::nullopt);
    if (!type.ok()) {
      out << type.status().message() << "\n";
      return 1;
    }
    if (BuiltinConnectors().Find(type.value()) == nullptr) {
      out << path << ": connectors." << name << ".type: unknown connector type '" << type.value()
          << "'\n";
      return 1;
    }
    instances.insert(name);
  }
  for (const auto& [channel, instance] : config.channels) {
    if (instances.count(instance) == 0) {
      out << path << ": channels." << channel << ": no connector instance named '" << instance
          << "'\n";
      return 1;
    }
  }
  out << "ok: config " << path << "\n";
  return 0;
}

}  // namespace cairn::app
