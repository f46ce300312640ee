// cairn token create --scope read|admin --name NAME [--file FILE]
//
// Prints a new random token on stdout (the only time it is shown) and
// appends "<scope> <name> sha256:<hex>" to FILE (created with mode 0600), or
// prints that line on stderr when no file is given. The engine re-reads the
// file within a second (docs/api.md "Authentication").
#pragma once

#include <ostream>
#include <string>

namespace cairn::app {

struct TokenCreateOptions {
  std::string scope;
  std::string name;
  std::string file;
};

// 0 on success, 1 on an I/O error, 2 on bad options.
int TokenCreateCommand(const TokenCreateOptions& options, std::ostream& out, std::ostream& err);

}  // namespace cairn::app
