// Named crash points for the crash tests: CAIRN_CRASH_POINTS="name:p,name:p"
// in the environment makes CrashPoint("name") kill the process with SIGKILL
// with probability p each time it is passed. Unset (production): one
// predictable branch on a flag read once.
#pragma once

#include <string_view>

namespace cairn {

void CrashPoint(std::string_view name);

}  // namespace cairn
