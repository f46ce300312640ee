#include "cairn/crash_point.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <string>

namespace cairn {
namespace {

struct Points {
  bool any = false;
  std::map<std::string, double, std::less<>> p;
  std::mutex mu;
  std::mt19937_64 rng{std::random_device{}()};
};

Points& Get() {
  static Points* points = [] {
    auto* pts = new Points();  // NOLINT: process lifetime
    const char* env = std::getenv("CAIRN_CRASH_POINTS");
    std::string s = env != nullptr ? env : "";
    size_t start = 0;
    while (start < s.size()) {
      size_t end = s.find(',', start);
      if (end == std::string::npos) end = s.size();
      const std::string item = s.substr(start, end - start);
      const size_t colon = item.find(':');
      if (colon != std::string::npos) {
        pts->p[item.substr(0, colon)] = std::strtod(item.c_str() + colon + 1, nullptr);
        pts->any = true;
      }
      start = end + 1;
    }
    return pts;
  }();
  return *points;
}

}  // namespace

void CrashPoint(std::string_view name) {
  Points& pts = Get();
  if (!pts.any) return;
  auto it = pts.p.find(name);
  if (it == pts.p.end()) return;
  std::lock_guard lock(pts.mu);
  if (std::uniform_real_distribution<double>(0, 1)(pts.rng) < it->second) {
    ::kill(::getpid(), SIGKILL);
  }
}

}  // namespace cairn
