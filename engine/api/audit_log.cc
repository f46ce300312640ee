#include "api/audit_log.h"

#include <fcntl.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>

namespace cairn::api {

Result<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Unavailable("audit log: cannot open " + path + ": " + std::strerror(errno));
  }
  return std::unique_ptr<AuditLog>(new AuditLog(path, fd));
}

AuditLog::~AuditLog() { ::close(fd_); }

Status AuditLog::Append(const AuditRecord& r) {
  using namespace std::chrono;
  const auto now = time_point_cast<milliseconds>(system_clock::now());
  const auto ms = now.time_since_epoch().count() % 1000;
  nlohmann::ordered_json j = {
      {"time", fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z", time_point_cast<seconds>(now), ms)},
      {"token", r.token_name},
      {"method", r.method},
      {"path", r.path},
      {"status", r.status},
      {"remote", r.remote}};
  // Invalid UTF-8 in a path must not throw: replace it.
  std::string line =
      j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
  std::lock_guard lock(mu_);
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::write(fd_, line.data() + off, line.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Unavailable("audit log " + path_ + ": " + std::strerror(errno));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd_) != 0)
    return Unavailable("audit log " + path_ + ": fsync: " + std::strerror(errno));
  return Status::Ok();
}

}  // namespace cairn::api
