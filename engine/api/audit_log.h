// The admin listener's audit log: one JSON line per mutating call (POST, PUT,
// PATCH, DELETE), allowed or not, written before the response is sent:
//
//   {"time":"2026-12-05T13:07:29.123Z","token":"ops-alice","method":"POST",
//    "path":"/v1/events","status":200,"remote":"10.0.0.7"}
//
// `token` is the token's name ("" when none or invalid, "loopback" in
// protected mode); never the token, never the body or the query string.
// The file is opened O_APPEND (several writers may share it) and each line
// is fsync'd before Append returns. Thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "cairn/status.h"

namespace cairn::api {

struct AuditRecord {
  std::string_view token_name;
  std::string_view method;
  std::string_view path;
  int status = 0;
  std::string_view remote;
};

class AuditLog {
 public:
  // Creates the file (mode 0600) if needed; its directory must exist.
  static Result<std::unique_ptr<AuditLog>> Open(const std::string& path);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Appends one line, stamped with the wall clock, and fsyncs it.
  Status Append(const AuditRecord& record);

  const std::string& path() const { return path_; }

 private:
  AuditLog(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  const std::string path_;
  const int fd_;
  std::mutex mu_;
};

}  // namespace cairn::api
