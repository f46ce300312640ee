#include "api/admin_tokens.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

namespace cairn::api {
namespace {

std::array<uint8_t, 32> Sha256(std::string_view data) {
  std::array<uint8_t, 32> out{};
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data());
  return out;
}

std::string Hex(const uint8_t* p, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    s.push_back(kDigits[p[i] >> 4]);
    s.push_back(kDigits[p[i] & 15]);
  }
  return s;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool NameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
         c == '@';
}

}  // namespace

std::string_view ScopeName(Scope scope) { return scope == Scope::kAdmin ? "admin" : "read"; }

std::string Sha256Hex(std::string_view data) {
  auto h = Sha256(data);
  return Hex(h.data(), h.size());
}

std::string NewToken() {
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) return "";
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out = "cairn_";
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char b : raw) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      out.push_back(kB64[(acc >> (bits - 6)) & 63]);
      bits -= 6;
    }
  }
  if (bits > 0) out.push_back(kB64[(acc << (6 - bits)) & 63]);
  return out;
}

std::string TokenLine(Scope scope, std::string_view name, std::string_view token) {
  return std::string(ScopeName(scope)) + " " + std::string(name) + " sha256:" + Sha256Hex(token);
}

Result<std::vector<TokenEntry>> ParseTokenFile(std::string_view text, const std::string& path) {
  std::vector<TokenEntry> out;
  std::set<std::string> names;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    // Split on blanks, remembering each field's column.
    std::vector<std::pair<size_t, std::string_view>> fields;
    for (size_t i = 0; i < line.size();) {
      while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      size_t start = i;
      while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      if (i > start) fields.emplace_back(start + 1, line.substr(start, i - start));
    }
    if (fields.empty()) {
      if (end == text.size()) break;
      continue;
    }
    auto where = [&](size_t col) {
      return path + ":" + std::to_string(line_no) + ":" + std::to_string(col) + ": ";
    };
    if (fields.size() != 3) {
      return InvalidArgument(where(fields[0].first) +
                             "expected '<scope> <name> sha256:<64 hex digits>'");
    }
    TokenEntry e;
    if (fields[0].second == "admin") {
      e.scope = Scope::kAdmin;
    } else if (fields[0].second == "read") {
      e.scope = Scope::kRead;
    } else {
      return InvalidArgument(where(fields[0].first) + "unknown scope '" +
                             std::string(fields[0].second) + "' (read or admin)");
    }
    e.name = std::string(fields[1].second);
    for (char c : e.name) {
      if (!NameChar(c)) {
        return InvalidArgument(where(fields[1].first) + "token name '" + e.name +
                               "' may hold letters, digits and - _ . @ only");
      }
    }
    if (!names.insert(e.name).second) {
      return InvalidArgument(where(fields[1].first) + "token name '" + e.name + "' appears twice");
    }
    std::string_view digest = fields[2].second;
    if (!digest.starts_with("sha256:") || digest.size() != 7 + 64) {
      return InvalidArgument(where(fields[2].first) +
                             "expected sha256:<64 hex digits> (the file holds hashes, not "
                             "tokens: cairn token create)");
    }
    for (size_t i = 0; i < 32; ++i) {
      int hi = HexValue(digest[7 + 2 * i]), lo = HexValue(digest[8 + 2 * i]);
      if (hi < 0 || lo < 0) {
        const size_t bad = 2 * i + (hi < 0 ? 0 : 1);
        return InvalidArgument(where(fields[2].first + 7 + bad) + "not a hex digit");
      }
      e.sha256[i] = static_cast<uint8_t>(hi * 16 + lo);
    }
    out.push_back(std::move(e));
    if (end == text.size()) break;
  }
  return out;
}

Result<std::shared_ptr<TokenStore>> TokenStore::Open(std::string path,
                                                     std::chrono::milliseconds poll) {
  std::shared_ptr<TokenStore> store(new TokenStore(std::move(path), poll));
  std::lock_guard lock(store->mu_);
  if (auto s = store->Load(/*initial=*/true); !s.ok()) return s;
  return store;
}

Status TokenStore::Load(bool initial) {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    FileId gone;
    if (!initial && seen_ == gone) return Status::Ok();  // already reported
    seen_ = gone;
    return NotFound("admin tokens: cannot read " + path_);
  }
  FileId id{static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
            static_cast<int64_t>(st.st_size), static_cast<uint64_t>(st.st_ino)};
  if (!initial && id == seen_) return Status::Ok();
  seen_ = id;
  std::ifstream in(path_, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  if (!in.good() && !in.eof()) return Unavailable("admin tokens: cannot read " + path_);
  auto parsed = ParseTokenFile(buf.str(), path_);
  if (!parsed.ok()) return parsed.status();
  entries_ = std::move(parsed).value();
  if (!initial) spdlog::info("admin tokens reloaded from {} ({} tokens)", path_, entries_.size());
  return Status::Ok();
}

Status TokenStore::ReloadIfChanged() {
  std::lock_guard lock(mu_);
  next_check_ = std::chrono::steady_clock::now() + poll_;
  Status s = Load(/*initial=*/false);
  if (!s.ok()) spdlog::error("{}; keeping the previous {} tokens", s.ToString(), entries_.size());
  return s;
}

std::optional<TokenStore::Caller> TokenStore::Lookup(std::string_view token) {
  {
    std::unique_lock lock(mu_);
    bool due = std::chrono::steady_clock::now() >= next_check_;
    lock.unlock();
    if (due) (void)ReloadIfChanged();
  }
  const auto digest = Sha256(token);
  std::lock_guard lock(mu_);
  std::optional<Caller> found;
  for (const auto& e : entries_) {
    // Every entry is compared, whatever matched before.
    const bool same = CRYPTO_memcmp(digest.data(), e.sha256.data(), digest.size()) == 0;
    if (same && !found) found = Caller{e.name, e.scope};
  }
  return found;
}

size_t TokenStore::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace cairn::api
