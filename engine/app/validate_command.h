// `cairn validate PATH...`: loads every journey file given (a directory
// means its *.yaml / *.yml files) with the journey loader and prints one
// line per problem, `file:line:col: message`, on `out`. Cross-file checks
// (two files defining one journey) span all paths. For a directory, its
// message templates (<dir>/templates, docs/templates.md) are loaded too and
// every send step of its journeys is checked against them; template files
// count among the files.
//
// Returns 0 and prints `ok: N journeys, M steps, 0 problems` when there is
// no problem; 1 and `failed: K problems in F of N files` otherwise (also for
// a path that does not exist or holds no journey file). Usage errors go to
// `err`. Safe to call from any thread; keeps no state.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace cairn::app {

int RunValidate(const std::vector<std::string>& paths, std::ostream& out, std::ostream& err);

// `cairn validate --config FILE`: reads an engine config file with the
// engine's own parser (unknown keys, wrong types: `file:line:col: message`),
// then checks that every channel names a connector instance and every
// connector's `type` is a connector Cairn ships. Connector-specific keys
// (credentials files...) are checked by the factories at start, not here.
// Prints `ok: config FILE` and returns 0, else one problem line and 1.
int RunValidateConfig(const std::string& path, std::ostream& out);

}  // namespace cairn::app
