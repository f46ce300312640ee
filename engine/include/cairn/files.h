// Small file helpers shared by the config readers.
#pragma once

#include <optional>
#include <string>

namespace cairn {

// The file's content with trailing whitespace (newlines, spaces, tabs)
// removed: how secrets mounted as files are read. nullopt when it cannot be
// read.
std::optional<std::string> ReadTrimmedFile(const std::string& path);

}  // namespace cairn
