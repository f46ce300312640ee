// base64url without padding (RFC 4648 §5): tracking tokens, and protobuf
// state carried inside JSON events (identity merges).
#pragma once

#include <string>
#include <string_view>

#include "cairn/status.h"

namespace cairn {

std::string Base64UrlEncode(std::string_view bytes);
// Refuses anything but the canonical unpadded encoding (bad characters,
// impossible lengths, non-zero trailing bits).
Result<std::string> Base64UrlDecode(std::string_view text);

}  // namespace cairn
