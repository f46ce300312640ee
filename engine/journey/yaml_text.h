// Positions inside a YAML file's text, for diagnostics that point at the
// exact character: yaml-cpp marks where a node's token starts (the quote of
// a quoted scalar, the `|` of a block scalar); ScalarMap maps each character
// of a scalar's decoded value back to its line and column in the file.
// Internal to the loader.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "journey/model.h"

namespace cairn::journey::internal {

// Line starts of a text, to turn offsets into 1-based line:column.
class LineIndex {
 public:
  explicit LineIndex(std::string_view text);
  // 1-based position of the byte at `offset` (clamped to the text).
  Pos PosAt(size_t offset) const;
  // Offset of a yaml-cpp mark (0-based line and column), clamped.
  size_t OffsetOf(const YAML::Mark& mark) const;

 private:
  std::string_view text_;
  std::vector<size_t> starts_;
};

// Where each character of a scalar's decoded value sits in the file.
class ScalarMap {
 public:
  // `value` is the decoded scalar yaml-cpp gave for the node marked `mark`.
  ScalarMap(std::string_view text, const LineIndex& lines, const YAML::Mark& mark,
            std::string_view value);
  // Position of value[offset]; offset == value.size() is just past the end.
  Pos At(size_t offset) const;
  // Where the value's text starts (the first character after a quote; the
  // first line of a block scalar).
  Pos Start() const { return At(0); }

 private:
  std::vector<Pos> pos_;  // one per value character, plus one past the end
};

}  // namespace cairn::journey::internal
