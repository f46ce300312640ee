#include "journey/yaml_text.h"

#include <algorithm>

namespace cairn::journey::internal {

LineIndex::LineIndex(std::string_view text) : text_(text) {
  starts_.push_back(0);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') starts_.push_back(i + 1);
  }
}

Pos LineIndex::PosAt(size_t offset) const {
  offset = std::min(offset, text_.size());
  auto it = std::upper_bound(starts_.begin(), starts_.end(), offset);
  const size_t line = static_cast<size_t>(it - starts_.begin());  // 1-based
  return Pos{static_cast<int>(line), static_cast<int>(offset - starts_[line - 1] + 1)};
}

size_t LineIndex::OffsetOf(const YAML::Mark& mark) const {
  if (mark.line < 0 || mark.column < 0) return 0;
  const size_t line = std::min(static_cast<size_t>(mark.line), starts_.size() - 1);
  const size_t end = line + 1 < starts_.size() ? starts_[line + 1] : text_.size();
  return std::min(starts_[line] + static_cast<size_t>(mark.column), end);
}

namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

}  // namespace

ScalarMap::ScalarMap(std::string_view text, const LineIndex& lines, const YAML::Mark& mark,
                     std::string_view value) {
  size_t r = lines.OffsetOf(mark);
  if (r < text.size()) {
    const char c = text[r];
    if (c == '"' || c == '\'') {
      ++r;
    } else if (c == '|' || c == '>') {
      // The text starts on the line after the indicator (and its comment).
      const size_t nl = text.find('\n', r);
      r = nl == std::string_view::npos ? text.size() : nl + 1;
    }
  }
  // Align the decoded value with the raw text: raw characters that are not
  // in the value (indentation, escapes, folded line breaks, the doubled
  // quote of '') are skipped. A bounded look-ahead keeps this linear; past
  // a character it cannot find, positions continue from the last match.
  constexpr size_t kMaxSkip = 256;
  pos_.reserve(value.size() + 1);
  size_t last = r;
  bool lost = false;
  for (char v : value) {
    size_t found = std::string_view::npos;
    if (!lost) {
      for (size_t k = r; k < text.size() && k - r <= kMaxSkip; ++k) {
        if (text[k] == v || (IsSpace(v) && IsSpace(text[k]) && k == r)) {
          found = k;
          break;
        }
        // A folded line break: the value has a space where the text breaks.
        if (v == ' ' && text[k] == '\n') {
          found = k;
          break;
        }
      }
    }
    if (found == std::string_view::npos) {
      lost = true;
      ++last;
      pos_.push_back(lines.PosAt(last));
      continue;
    }
    pos_.push_back(lines.PosAt(found));
    last = found;
    r = found + 1;
  }
  pos_.push_back(lines.PosAt(value.empty() ? r : last + 1));
}

Pos ScalarMap::At(size_t offset) const { return pos_[std::min(offset, pos_.size() - 1)]; }

}  // namespace cairn::journey::internal
