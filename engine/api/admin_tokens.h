// Bearer tokens of the admin listener (docs/api.md "Authentication").
//
// The token file holds one token per line, never the token itself:
//
//   # scope  name        SHA-256 of the token
//   admin    ops-alice   sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
//   read     grafana     sha256:fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9
//
// `#` starts a comment; blank lines are ignored. Scopes: `read` (GET and
// HEAD) and `admin` (every method). `cairn token create` makes a token and
// its line. A broken file is an error naming path:line:col.
//
// The store re-reads the file when its mtime, size or inode changed (checked
// at most every `poll` on the request path). A file that no longer parses
// keeps the last good tokens and logs the error once per change.
//
// Thread-safe.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"

namespace cairn::api {

enum class Scope : uint8_t { kRead, kAdmin };

std::string_view ScopeName(Scope scope);

struct TokenEntry {
  Scope scope = Scope::kRead;
  std::string name;                     // who: shown in the audit log, never secret
  std::array<uint8_t, 32> sha256 = {};  // of the token's bytes
};

// Parses a token file's text; `path` names the file in diagnostics.
Result<std::vector<TokenEntry>> ParseTokenFile(std::string_view text, const std::string& path);

// A new random token ("cairn_" + 43 base64url characters, 256 bits).
std::string NewToken();
// The line of the token file for `token`: "<scope> <name> sha256:<hex>".
std::string TokenLine(Scope scope, std::string_view name, std::string_view token);
// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

class TokenStore {
 public:
  // Reads `path` now: a missing or broken file is an error (the engine does
  // not start without the tokens it was told to use).
  static Result<std::shared_ptr<TokenStore>> Open(
      std::string path, std::chrono::milliseconds poll = std::chrono::seconds(1));

  struct Caller {
    std::string name;
    Scope scope;
  };
  // The token's owner, or nullopt. Compares the presented token's SHA-256
  // with every entry in constant time (no early exit). May reload the file.
  std::optional<Caller> Lookup(std::string_view token);

  // Re-reads the file if it changed; returns the error of a failed reload
  // (the previous tokens stay in force).
  Status ReloadIfChanged();

  size_t size() const;
  const std::string& path() const { return path_; }

 private:
  struct FileId {
    int64_t mtime_ns = 0;
    int64_t size = -1;
    uint64_t inode = 0;
    bool operator==(const FileId&) const = default;
  };
  TokenStore(std::string path, std::chrono::milliseconds poll)
      : path_(std::move(path)), poll_(poll) {}
  Status Load(bool initial);

  const std::string path_;
  const std::chrono::milliseconds poll_;
  mutable std::mutex mu_;
  std::vector<TokenEntry> entries_;  // guarded by mu_
  FileId seen_;                      // guarded by mu_: the file last read (good or not)
  std::chrono::steady_clock::time_point next_check_{};  // guarded by mu_
};

}  // namespace cairn::api
