#include "analytics/keys.h"

#include <algorithm>

#include "cairn/big_endian.h"

namespace cairn::analytics {

uint32_t HourOf(TimestampMs ms) {
  if (ms <= 0) return 0;
  return static_cast<uint32_t>(std::min<int64_t>(ms / kHourMs, int64_t{kRunningHour} - 1));
}

std::string KeyPrefix(char kind, const std::vector<std::string_view>& fields) {
  std::string k(1, kind);
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) k.push_back('\0');
    const size_t at = k.size();
    k.append(fields[i]);
    std::replace(k.begin() + static_cast<std::ptrdiff_t>(at), k.end(), '\0', ' ');
  }
  return k;
}

std::string Key(char kind, const std::vector<std::string_view>& fields, uint32_t hour,
                int32_t partition) {
  std::string k = KeyPrefix(kind, fields);
  k.push_back('\0');
  PutU32BE(k, hour);
  PutU32BE(k, static_cast<uint32_t>(partition));
  return k;
}

bool ParseKey(std::string_view key, ParsedKey& out) {
  if (key.size() < 10 || key[key.size() - 9] != '\0') return false;
  out.kind = key[0];
  out.hour = GetU32BE(key.data() + key.size() - 8);
  out.partition = static_cast<int32_t>(GetU32BE(key.data() + key.size() - 4));
  out.fields.clear();
  std::string_view body = key.substr(1, key.size() - 10);
  for (;;) {
    const size_t z = body.find('\0');
    out.fields.push_back(body.substr(0, z));
    if (z == std::string_view::npos) break;
    body.remove_prefix(z + 1);
  }
  return true;
}

}  // namespace cairn::analytics
