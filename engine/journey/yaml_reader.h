// The YAML reading toolbox shared by the journey loader and the profile
// loader (engine/profile): every problem becomes one Diagnostic
// "file:line:col: message", mappings are checked against their allowed keys
// (with "did you mean"), scalars are typed (durations, times of day, time
// zones, names, literals as JSON), and CEL conditions are compiled against
// the journey variables (journey/scope.h) with errors pointing at the exact
// character in the file. Internal to the loaders; header-only.
#pragma once

#include <date/tz.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "expr/expr.h"
#include "journey/loader.h"
#include "journey/model.h"
#include "journey/scope.h"
#include "journey/yaml_text.h"

namespace cairn::journey::internal {

inline constexpr int kMaxLiteralDepth = 32;
inline constexpr size_t kMaxLiteralNodes = 10000;
inline constexpr const char* kExprSentinel = "\x01journey-expr";

// ---- small helpers

inline size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// " (did you mean 'x'?)" for the closest candidate, or "".
inline std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::numeric_limits<size_t>::max();
  for (const auto& c : candidates) {
    const size_t d = EditDistance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  const size_t limit = std::max<size_t>(2, word.size() / 3);
  if (best.empty() || best_d > limit) return "";
  return "; did you mean '" + best + "'?";
}

inline std::string Quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

inline bool IsNameChar(char c, bool allow_underscore) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         (allow_underscore && c == '_');
}

// [a-z][a-z0-9-]* (journeys) or [a-z][a-z0-9_-]* (step ids, channels).
inline bool IsName(std::string_view s, bool allow_underscore) {
  if (s.empty() || s.size() > 64 || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return IsNameChar(c, allow_underscore); });
}

// A trait path: identifiers joined by dots, e.g. "plan" or "loyalty.tier".
inline bool IsTraitPath(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  bool start = true;
  for (char c : s) {
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (c == '.') {
      if (start) return false;
      start = true;
    } else if (alpha || (digit && !start)) {
      start = false;
    } else {
      return false;
    }
  }
  return !start;
}

// A mapping's entries as copies (yaml-cpp's iterator hands out temporaries).
inline std::vector<std::pair<YAML::Node, YAML::Node>> Entries(const YAML::Node& map) {
  std::vector<std::pair<YAML::Node, YAML::Node>> out;
  for (auto it = map.begin(); it != map.end(); ++it) {
    YAML::Node key = it->first;
    YAML::Node value = it->second;
    out.emplace_back(key, value);
  }
  return out;
}

// Flow collections nest by recursion inside yaml-cpp; refuse absurd depth
// before handing it the text. Counts brackets outside quotes and comments.
inline int FlowDepth(std::string_view text) {
  int depth = 0;
  int max_depth = 0;
  char quote = 0;
  bool comment = false;
  char prev = '\n';
  for (char c : text) {
    if (comment) {
      if (c == '\n') comment = false;
    } else if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '#' && (prev == ' ' || prev == '\n' || prev == '\t')) {
      comment = true;
    } else if ((c == '"' || c == '\'') && depth > 0) {
      quote = c;
    } else if (c == '[' || c == '{') {
      max_depth = std::max(max_depth, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    } else if (c == '\n' && depth == 0) {
      quote = 0;
    }
    prev = c;
  }
  return max_depth;
}

// A mapping's keys, checked against the ones allowed there.
struct Field {
  std::string name;
  YAML::Node key;
  YAML::Node value;
};

class YamlReader;

class Fields {
 public:
  Fields() = default;
  const Field* Get(std::string_view name) const {
    for (const auto& f : fields_) {
      if (f.name == name) return &f;
    }
    return nullptr;
  }
  bool Has(std::string_view name) const { return Get(name) != nullptr; }
  const std::vector<Field>& all() const { return fields_; }
  // An unknown key was reported: a missing key is then most likely that
  // key misspelt, so it is not reported again.
  bool had_unknown() const { return had_unknown_; }

 private:
  friend class YamlReader;
  std::vector<Field> fields_;
  bool had_unknown_ = false;
};

class YamlReader {
 public:
  YamlReader(std::string_view text, std::string file)
      : text_(text), file_(std::move(file)), lines_(text) {}

  // The diagnostics so far, sorted by position; the reader keeps none.
  std::vector<Diagnostic> TakeDiagnostics() {
    std::stable_sort(diags_.begin(), diags_.end(), [](const Diagnostic& a, const Diagnostic& b) {
      return std::tie(a.pos.line, a.pos.column) < std::tie(b.pos.line, b.pos.column);
    });
    return std::move(diags_);
  }
  bool ok() const { return diags_.empty(); }

  // Parses the whole text into its root node. A file over 1 MiB, brackets
  // nested deeper than 64 levels (yaml-cpp recurses on them) and YAML
  // syntax errors are diagnostics; then nullopt.
  std::optional<YAML::Node> LoadRoot() {
    if (text_.size() > (size_t{1} << 20)) {
      Error(Pos{1, 1}, "file is larger than 1 MiB");
      return std::nullopt;
    }
    if (FlowDepth(text_) > 64) {
      Error(Pos{1, 1}, "brackets nested deeper than 64 levels");
      return std::nullopt;
    }
    try {
      return YAML::Load(std::string(text_));
    } catch (const YAML::Exception& e) {
      Error(Pos{e.mark.line + 1, e.mark.column + 1}, "YAML syntax error: " + e.msg);
      return std::nullopt;
    }
  }
  const std::string& file() const { return file_; }
  std::string_view text() const { return text_; }

  // ---- diagnostics and positions

  void Error(Pos pos, std::string message) {
    if (diags_.size() >= 200) return;  // enough to fix first
    diags_.push_back(Diagnostic{file_, pos, std::move(message)});
  }
  Pos MarkPos(const YAML::Mark& m) const { return lines_.PosAt(lines_.OffsetOf(m)); }
  Pos KeyPos(const Field& f) const { return MarkPos(f.key.Mark()); }
  // The value's position; an empty value has none of its own, so its key's.
  Pos ValuePos(const Field& f) const {
    if (!f.value || f.value.IsNull()) return KeyPos(f);
    return MarkPos(f.value.Mark());
  }
  Pos NodePos(const YAML::Node& n) const { return MarkPos(n.Mark()); }

  static std::string KindOf(const YAML::Node& n) {
    if (!n || n.IsNull()) return "nothing";
    if (n.IsMap()) return "a mapping";
    if (n.IsSequence()) return "a list";
    return "'" + n.Scalar() + "'";
  }

  // ---- mappings

  // Checks that `node` is a mapping with only `allowed` keys, each once.
  // Returns false (with a diagnostic) when it is not a mapping.
  bool ReadMap(const YAML::Node& node, Pos where, const std::string& what,
               const std::vector<std::string>& allowed, Fields& out) {
    if (!node || !node.IsMap()) {
      Error(where, what + " must be a mapping (key: value lines), not " + KindOf(node));
      return false;
    }
    for (const auto& [key, value] : Entries(node)) {
      if (!key.IsScalar()) {
        Error(NodePos(key), "a key in " + what + " must be a plain name");
        continue;
      }
      const std::string name = key.Scalar();
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        Error(NodePos(key),
              "unknown key " + Quoted(name) + " in " + what + DidYouMean(name, allowed));
        out.had_unknown_ = true;
        continue;
      }
      if (out.Has(name)) {
        Error(NodePos(key), "duplicate key " + Quoted(name) + " in " + what + " (first at line " +
                                std::to_string(KeyPos(*out.Get(name)).line) + ")");
        continue;
      }
      out.fields_.push_back(Field{name, key, value});
    }
    return true;
  }

  bool Require(const Fields& f, const std::string& name, Pos where, const std::string& what) {
    if (f.Has(name)) return true;
    if (!f.had_unknown()) Error(where, what + " needs " + Quoted(name));
    return false;
  }

  // ---- scalars

  std::optional<std::string> Str(const Field& f, bool allow_empty = false) {
    if (!f.value || f.value.IsNull()) {
      if (allow_empty) return std::string();
      Error(KeyPos(f), Quoted(f.name) + " needs a value");
      return std::nullopt;
    }
    if (!f.value.IsScalar()) {
      Error(ValuePos(f), Quoted(f.name) + " must be a single value, not " + KindOf(f.value));
      return std::nullopt;
    }
    if (f.value.Scalar().empty() && !allow_empty) {
      Error(ValuePos(f), Quoted(f.name) + " must not be empty");
      return std::nullopt;
    }
    return f.value.Scalar();
  }

  static bool IsPlain(const YAML::Node& n) { return n.Tag() == "?"; }

  std::optional<int64_t> Int(const Field& f, int64_t lo, int64_t hi) {
    auto s = Str(f);
    if (!s) return std::nullopt;
    int64_t v = 0;
    const char* b = s->data();
    const char* e = b + s->size();
    auto [p, ec] = std::from_chars(b, e, v);
    if (!IsPlain(f.value) || ec != std::errc() || p != e) {
      Error(ValuePos(f), Quoted(f.name) + " must be a whole number, not " + KindOf(f.value) +
                             (IsPlain(f.value) ? "" : " (remove the quotes)"));
      return std::nullopt;
    }
    if (v < lo || v > hi) {
      Error(ValuePos(f), Quoted(f.name) + " must be between " + std::to_string(lo) + " and " +
                             std::to_string(hi) + ", not " + *s);
      return std::nullopt;
    }
    return v;
  }

  std::optional<bool> Bool(const Field& f) {
    auto s = Str(f);
    if (!s) return std::nullopt;
    if (IsPlain(f.value)) {
      if (*s == "true" || *s == "True" || *s == "TRUE") return true;
      if (*s == "false" || *s == "False" || *s == "FALSE") return false;
    }
    Error(ValuePos(f), Quoted(f.name) + " must be true or false, not " + KindOf(f.value));
    return std::nullopt;
  }

  enum class Sign { kPositive, kNonNegative, kAny };

  std::optional<int64_t> DurationOf(const YAML::Node& n, Pos pos, const std::string& name,
                                    Sign sign) {
    if (!n || !n.IsScalar() || n.Scalar().empty()) {
      Error(pos, Quoted(name) + " must be a duration such as 30m, 2h, 7d, not " + KindOf(n));
      return std::nullopt;
    }
    auto ms = expr::ParseDurationMs(n.Scalar());
    if (!ms.ok()) {
      Error(pos, Quoted(name) + ": " + Quoted(n.Scalar()) +
                     " is not a duration; write a number and a unit (d, h, m, s, ms), e.g. 90d, "
                     "1h30m");
      return std::nullopt;
    }
    if ((sign == Sign::kPositive && *ms <= 0) || (sign == Sign::kNonNegative && *ms < 0)) {
      Error(pos, Quoted(name) + " must be " +
                     (sign == Sign::kPositive ? "longer than zero" : "zero or more") + ", not " +
                     n.Scalar());
      return std::nullopt;
    }
    return *ms;
  }
  std::optional<int64_t> Duration(const Field& f, Sign sign) {
    return DurationOf(f.value, ValuePos(f), f.name, sign);
  }

  std::optional<int> TimeOfDay(const Field& f) {
    auto s = Str(f);
    if (!s) return std::nullopt;
    auto m = ParseTimeOfDay(*s);
    if (!m.ok()) {
      Error(ValuePos(f), Quoted(f.name) + ": " + m.status().message());
      return std::nullopt;
    }
    return *m;
  }

  std::optional<std::string> TimeZone(const Field& f) {
    auto s = Str(f);
    if (!s) return std::nullopt;
    try {
      (void)date::locate_zone(*s);
      return s;
    } catch (const std::exception&) {
      Error(ValuePos(f), Quoted(f.name) + ": " + Quoted(*s) +
                             " is not a known time zone; use an IANA name such as Europe/Berlin or "
                             "America/New_York");
      return std::nullopt;
    }
  }

  std::optional<std::string> Name(const Field& f, bool allow_underscore, const std::string& what) {
    auto s = Str(f);
    if (!s) return std::nullopt;
    if (!IsName(*s, allow_underscore)) {
      Error(ValuePos(f), Quoted(*s) + " is not a valid " + what +
                             ": use lower-case letters, digits" +
                             (allow_underscore ? ", _ and -" : " and -") +
                             ", starting with a letter (at most 64)");
      return std::nullopt;
    }
    return s;
  }

  std::optional<std::string> EventName(const Field& f) {
    auto s = Str(f);
    if (!s) return std::nullopt;
    if (s->size() > 200) {
      Error(ValuePos(f), "event name is longer than 200 characters");
      return std::nullopt;
    }
    return s;
  }

  std::vector<std::string> StringList(const Field& f) {
    std::vector<std::string> out;
    if (!f.value || f.value.IsNull()) return out;
    if (!f.value.IsSequence()) {
      Error(ValuePos(f), Quoted(f.name) + " must be a list such as [a, b], not " + KindOf(f.value));
      return out;
    }
    for (const auto& item : f.value) {
      if (!item.IsScalar() || item.Scalar().empty()) {
        Error(NodePos(item),
              "each item of " + Quoted(f.name) + " must be a name, not " + KindOf(item));
        continue;
      }
      out.push_back(item.Scalar());
    }
    return out;
  }

  // ---- YAML literal -> JSON

  std::optional<nlohmann::json> Literal(const YAML::Node& n, Pos pos, int depth, size_t& budget) {
    if (depth > kMaxLiteralDepth || budget == 0) {
      Error(pos, "value nested too deep or too large");
      return std::nullopt;
    }
    --budget;
    if (!n || n.IsNull()) return nlohmann::json(nullptr);
    if (n.IsSequence()) {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& item : n) {
        auto v = Literal(item, NodePos(item), depth + 1, budget);
        if (!v) return std::nullopt;
        arr.push_back(std::move(*v));
      }
      return arr;
    }
    if (n.IsMap()) {
      nlohmann::json obj = nlohmann::json::object();
      for (const auto& [key, value] : Entries(n)) {
        if (!key.IsScalar()) {
          Error(NodePos(key), "keys must be plain names");
          return std::nullopt;
        }
        const std::string& k = key.Scalar();
        if (obj.contains(k)) {
          Error(NodePos(key), "duplicate key " + Quoted(k));
          return std::nullopt;
        }
        auto v = Literal(value, value.IsNull() ? NodePos(key) : NodePos(value), depth + 1, budget);
        if (!v) return std::nullopt;
        obj[k] = std::move(*v);
      }
      return obj;
    }
    return ScalarLiteral(n, pos);
  }

  std::optional<nlohmann::json> ScalarLiteral(const YAML::Node& n, Pos pos) {
    const std::string& s = n.Scalar();
    const std::string& tag = n.Tag();
    static const std::string kStr = "tag:yaml.org,2002:str";
    static const std::string kInt = "tag:yaml.org,2002:int";
    static const std::string kFloat = "tag:yaml.org,2002:float";
    static const std::string kBoolTag = "tag:yaml.org,2002:bool";
    static const std::string kNull = "tag:yaml.org,2002:null";
    if (tag == "!" || tag == kStr) return nlohmann::json(s);  // quoted or block: a string
    const bool plain = tag == "?";
    if (!plain && tag != kInt && tag != kFloat && tag != kBoolTag && tag != kNull) {
      Error(pos, "unsupported YAML tag " + Quoted(tag) + " (use plain values)");
      return std::nullopt;
    }
    if ((plain || tag == kNull) &&
        (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL")) {
      return nlohmann::json(nullptr);
    }
    if (plain || tag == kBoolTag) {
      if (s == "true" || s == "True" || s == "TRUE") return nlohmann::json(true);
      if (s == "false" || s == "False" || s == "FALSE") return nlohmann::json(false);
    }
    if (plain || tag == kInt) {
      int64_t i = 0;
      const char* b = s.data();
      const char* e = b + s.size();
      const char* digits = (!s.empty() && s[0] == '+') ? b + 1 : b;
      auto [p, ec] = std::from_chars(digits, e, i);
      if (ec == std::errc() && p == e && digits != e) return nlohmann::json(i);
      if (ec == std::errc::result_out_of_range) {
        Error(pos, Quoted(s) + " is too large for a whole number; quote it to keep it as text");
        return std::nullopt;
      }
    }
    if (plain || tag == kFloat) {
      // YAML 1.2 core schema floats: digits with a fraction or exponent.
      bool looks = !s.empty();
      bool has_digit = false;
      for (size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c >= '0' && c <= '9') {
          has_digit = true;
        } else if (!(c == '.' || c == 'e' || c == 'E' ||
                     ((c == '-' || c == '+') && (i == 0 || s[i - 1] == 'e' || s[i - 1] == 'E')))) {
          looks = false;
        }
      }
      if (s == ".inf" || s == "-.inf" || s == ".nan" || s == ".Inf" || s == ".NaN") {
        Error(pos, Quoted(s) + " cannot be stored as JSON; quote it to keep it as text");
        return std::nullopt;
      }
      if (looks && has_digit) {
        double d = 0;
        auto [p, ec] = std::from_chars(s.data() + (s[0] == '+' ? 1 : 0), s.data() + s.size(), d);
        if (ec == std::errc() && p == s.data() + s.size() && std::isfinite(d)) {
          return nlohmann::json(d);
        }
      }
    }
    if (!plain) {
      Error(pos, Quoted(s) + " does not match its tag " + Quoted(tag));
      return std::nullopt;
    }
    return nlohmann::json(s);
  }

  // A mapping of literal values (params, properties) as JSON object text.
  std::optional<std::string> ObjectJson(const Field& f) {
    if (!f.value || f.value.IsNull()) return std::string("{}");
    if (!f.value.IsMap()) {
      Error(ValuePos(f),
            Quoted(f.name) + " must be a mapping of names to values, not " + KindOf(f.value));
      return std::nullopt;
    }
    size_t budget = kMaxLiteralNodes;
    auto v = Literal(f.value, ValuePos(f), 0, budget);
    if (!v) return std::nullopt;
    return v->dump();
  }

  // ---- conditions

  // Compiles a CEL condition (or, with must_be_bool false, an expression)
  // against the journey variables; errors point into the YAML file.
  Condition CondRaw(const Field& f, bool must_be_bool = true) {
    Condition c;
    if (!f.value || f.value.IsNull() || !f.value.IsScalar() || f.value.Scalar().empty()) {
      Error(ValuePos(f),
            Quoted(f.name) + " must be a condition (a CEL expression), not " + KindOf(f.value));
      return c;
    }
    const std::string& source = f.value.Scalar();
    ScalarMap map(text_, lines_, f.value.Mark(), source);
    c.source = source;
    c.pos = map.Start();
    auto program = CompileAt(source, file_, c.pos, must_be_bool);
    if (!program.ok()) {
      ReportExprErrors(source, map, c.pos, must_be_bool);
      return c;
    }
    c.program = std::move(*program);
    return c;
  }

  // Compiles again at a sentinel location and maps each error's position
  // through the scalar, so errors in block and quoted scalars point at the
  // right character.
  static Result<expr::Program> CompileAt(const std::string& source, const std::string& file, Pos at,
                                         bool condition) {
    const expr::SourceLocation loc{file, at.line, at.column};
    return condition ? expr::CompileCondition(source, JourneyDeclarations(), loc)
                     : expr::Compile(source, JourneyDeclarations(), loc);
  }

  void ReportExprErrors(const std::string& source, const ScalarMap& map, Pos start,
                        bool condition) {
    auto again = CompileAt(source, kExprSentinel, Pos{1, 1}, condition);
    if (again.ok()) {  // cannot happen; report at the start
      Error(start, "condition does not compile");
      return;
    }
    std::vector<size_t> line_starts{0};
    for (size_t i = 0; i < source.size(); ++i) {
      if (source[i] == '\n') line_starts.push_back(i + 1);
    }
    const std::string prefix = std::string(kExprSentinel) + ":";
    std::istringstream in(again.status().message());
    std::string line;
    bool any = false;
    while (std::getline(in, line)) {
      size_t at = line.find(prefix);
      if (at == std::string::npos) {
        if (any && !diags_.empty()) {
          diags_.back().message += "\n" + line;
        } else if (!line.empty()) {
          Error(start, line);
          any = true;
        }
        continue;
      }
      // sentinel:L:C: message
      size_t p = at + prefix.size();
      auto number = [&](int& out) {
        const char* b = line.data() + p;
        const char* e = line.data() + line.size();
        auto [q, ec] = std::from_chars(b, e, out);
        if (ec != std::errc()) return false;
        p = static_cast<size_t>(q - line.data());
        return true;
      };
      int l = 0;
      int col = 0;
      Pos pos = start;
      if (number(l) && p < line.size() && line[p] == ':' && (++p, number(col))) {
        size_t off = 0;
        if (l <= 1) {
          off = static_cast<size_t>(std::max(0, col - 1));
        } else if (static_cast<size_t>(l) <= line_starts.size()) {
          off = line_starts[static_cast<size_t>(l) - 1] + static_cast<size_t>(std::max(0, col - 1));
        } else {
          off = source.size();
        }
        pos = map.At(off);
        if (p < line.size() && line[p] == ':') ++p;
        while (p < line.size() && line[p] == ' ') ++p;
      }
      Error(pos, line.substr(p));
      any = true;
    }
    if (!any) Error(start, again.status().message());
  }

 protected:
  std::string_view text_;
  std::string file_;
  LineIndex lines_;
  std::vector<Diagnostic> diags_;
};

}  // namespace cairn::journey::internal
