#include "app/token_command.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "api/admin_tokens.h"

namespace cairn::app {

int TokenCreateCommand(const TokenCreateOptions& options, std::ostream& out, std::ostream& err) {
  api::Scope scope;
  if (options.scope == "admin") {
    scope = api::Scope::kAdmin;
  } else if (options.scope == "read") {
    scope = api::Scope::kRead;
  } else {
    err << "token create: --scope must be read or admin\n";
    return 2;
  }
  const std::string token = api::NewToken();
  if (token.empty()) {
    err << "token create: no randomness available\n";
    return 1;
  }
  const std::string line = api::TokenLine(scope, options.name, token);
  // The line must parse back (the name's characters): check before writing.
  if (auto parsed = api::ParseTokenFile(line, "--name"); !parsed.ok()) {
    err << "token create: " << parsed.status().message() << "\n";
    return 2;
  }
  if (options.file.empty()) {
    err << "add this line to the admin token file:\n" << line << "\n";
  } else {
    int fd = ::open(options.file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
      err << "token create: " << options.file << ": " << std::strerror(errno) << "\n";
      return 1;
    }
    const std::string text = line + "\n";
    const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                    ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) {
      err << "token create: " << options.file << ": " << std::strerror(errno) << "\n";
      return 1;
    }
  }
  out << token << "\n";
  return 0;
}

}  // namespace cairn::app
