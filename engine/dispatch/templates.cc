// GCC 12 flags std::vector::insert inside kainjow's context (a false
// positive after inlining, reported at the libstdc++ line): silenced for
// this file, before any header pulls that line in.
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include "dispatch/templates.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <kainjow/mustache.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "journey/model.h"
#include "journey/yaml_text.h"

namespace cairn::dispatch {
namespace {

namespace mst = kainjow::mustache;
using journey::Pos;
using journey::internal::LineIndex;
using journey::internal::ScalarMap;
using nlohmann::json;

// ---- channels and their parts

struct ChannelSpec {
  std::string_view channel;
  std::vector<std::string_view> parts;     // allowed, in display order
  std::vector<std::string_view> required;  // each must be present
};

const std::vector<ChannelSpec>& Channels() {
  static const std::vector<ChannelSpec> kChannels = {
      {"email", {"subject", "text", "html"}, {"subject"}},
      {"sms", {"body"}, {"body"}},
      {"push", {"title", "body"}, {"body"}},
      {"webhook", {"body"}, {"body"}},
      {"kafka", {"body"}, {"body"}},
  };
  return kChannels;
}

const ChannelSpec* SpecFor(std::string_view channel) {
  for (const auto& c : Channels()) {
    if (c.channel == channel) return &c;
  }
  return nullptr;
}

std::string Join(const std::vector<std::string_view>& v, std::string_view last_sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out += i + 1 == v.size() ? last_sep : std::string_view(", ");
    out += v[i];
  }
  return out;
}

// "an email", "an sms", "a push"...
std::string Article(std::string_view channel) {
  return (channel == "email" || channel == "sms" ? "an " : "a ") + std::string(channel);
}

std::string ChannelNames() {
  std::vector<std::string_view> names;
  for (const auto& c : Channels()) names.push_back(c.channel);
  return Join(names, " or ");
}

// How {{x}} escapes in a part.
enum class Escape { kText, kHtml, kJson };

Escape EscapeFor(std::string_view channel, std::string_view part) {
  if (channel == "email" && part == "html") return Escape::kHtml;
  if ((channel == "webhook" || channel == "kafka") && part == "body") return Escape::kJson;
  return Escape::kText;
}

std::string HtmlEscape(const std::string& s) { return mst::html_escape<std::string>(s); }

std::string JsonEscape(const std::string& s) {
  std::string q = json(s).dump(-1, ' ', false, json::error_handler_t::replace);
  return q.substr(1, q.size() - 2);
}

void AppendUtf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Decodes the character references an href may hold (&amp; &lt; &gt; &quot;
// &apos; &#N; &#xN;); anything else stays as written.
std::string HtmlUnescape(std::string_view s) {
  static const std::pair<std::string_view, char> kNamed[] = {
      {"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    const std::string_view rest = s.substr(i + 1);
    bool done = false;
    for (const auto& [name, c] : kNamed) {
      if (rest.substr(0, name.size()) == name) {
        out.push_back(c);
        i += name.size();
        done = true;
        break;
      }
    }
    if (!done && !rest.empty() && rest[0] == '#') {
      const bool hex = rest.size() > 1 && (rest[1] == 'x' || rest[1] == 'X');
      size_t k = hex ? 2 : 1;
      uint32_t cp = 0;
      const size_t digits_start = k;
      while (k < rest.size() && k < digits_start + 7) {
        const char d = rest[k];
        int v = -1;
        if (d >= '0' && d <= '9') v = d - '0';
        if (hex && d >= 'a' && d <= 'f') v = d - 'a' + 10;
        if (hex && d >= 'A' && d <= 'F') v = d - 'A' + 10;
        if (v < 0) break;
        cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(v);
        ++k;
      }
      if (k > digits_start && k < rest.size() && rest[k] == ';' && cp > 0 && cp <= 0x10FFFF) {
        AppendUtf8(cp, out);
        i += k + 1;
        done = true;
      }
    }
    if (!done) out.push_back('&');
  }
  return out;
}

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// Spaces and non-ASCII bytes in a rendered link are percent-encoded (a
// product name in a query string); control characters are left for
// IsHttpUrl to refuse.
std::string EncodeLinkChars(std::string_view url) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : url) {
    if (c == ' ' || c >= 0x80) {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

// ---- the tag scanner (mirrors kainjow 4.1's parser, keeps offsets)

enum class TagType { kVariable, kUnescaped, kSection, kInverted, kEnd, kComment, kPartial, kDelim };

struct ScannedTag {
  TagType type = TagType::kVariable;
  std::string name;
  size_t begin = 0;       // the opening delimiter
  size_t name_begin = 0;  // the name inside the source
  size_t name_end = 0;
};

struct ScanResult {
  std::vector<ScannedTag> tags;
  std::optional<std::pair<size_t, std::string>> error;  // offset, message
};

std::string Snippet(std::string_view src, size_t at) {
  std::string_view s = src.substr(at, 24);
  s = s.substr(0, s.find('\n'));
  return std::string(s);
}

ScanResult ScanTags(const std::string& src) {
  ScanResult r;
  std::string open = "{{", close = "}}";
  std::vector<size_t> sections;  // indices into r.tags
  const size_t n = src.size();
  size_t i = 0;
  auto fail = [&](size_t at, std::string message) {
    r.error = std::make_pair(at, std::move(message));
    return r;
  };
  while (i < n) {
    if (src.compare(i, open.size(), open) != 0) {
      ++i;
      continue;
    }
    const size_t start = i;
    size_t content = i + open.size();
    const bool braces = open == "{{" && close == "}}";
    const bool triple = braces && content < n && src[content] == '{';
    if (triple) ++content;
    const std::string closer = triple ? "}}}" : close;
    const size_t stop = src.find(closer, content);
    if (stop == std::string::npos) {
      return fail(start, "unclosed tag '" + Snippet(src, start) + "'");
    }
    const std::string contents = mst::trim(src.substr(content, stop - content));
    ScannedTag t;
    t.begin = start;
    i = stop + closer.size();
    if (!contents.empty() && contents[0] == '=') {
      // {{=<% %>=}}: new delimiters, no whitespace or '=' in them.
      std::string inner = contents.size() >= 2 && contents.back() == '='
                              ? mst::trim(contents.substr(1, contents.size() - 2))
                              : std::string();
      const size_t space = inner.find(' ');
      std::string b = space == std::string::npos ? "" : inner.substr(0, space);
      std::string e = space == std::string::npos ? "" : mst::trim(inner.substr(space + 1));
      auto valid = [](const std::string& d) {
        return !d.empty() && std::none_of(d.begin(), d.end(), [](char c) {
          return c == '=' || std::isspace(static_cast<unsigned char>(c));
        });
      };
      if (contents.size() < 5 || !valid(b) || !valid(e)) {
        return fail(start, "invalid set-delimiter tag '" + Snippet(src, start) + "'");
      }
      open = b;
      close = e;
      t.type = TagType::kDelim;
      r.tags.push_back(std::move(t));
      continue;
    }
    size_t sigil = 0;  // characters before the name
    if (triple) {
      t.type = TagType::kUnescaped;
    } else if (!contents.empty()) {
      sigil = 1;
      switch (contents[0]) {
        case '#':
          t.type = TagType::kSection;
          break;
        case '^':
          t.type = TagType::kInverted;
          break;
        case '/':
          t.type = TagType::kEnd;
          break;
        case '>':
          t.type = TagType::kPartial;
          break;
        case '&':
          t.type = TagType::kUnescaped;
          break;
        case '!':
          t.type = TagType::kComment;
          break;
        default:
          t.type = TagType::kVariable;
          sigil = 0;
          break;
      }
    }
    t.name = mst::trim(contents.substr(sigil));
    const size_t after_sigil = src.find_first_not_of(" \t\r\n\f\v", content) + sigil;
    t.name_begin = t.name.empty() ? after_sigil : src.find(t.name, after_sigil);
    if (t.name_begin == std::string::npos || t.name_begin > stop) t.name_begin = after_sigil;
    t.name_end = t.name_begin + t.name.size();
    if (t.type == TagType::kComment) {
      r.tags.push_back(std::move(t));
      continue;
    }
    if (t.type == TagType::kPartial) {
      return fail(start, "partials ('" + Snippet(src, start) + "') are not supported");
    }
    if (t.name.empty()) return fail(start, "empty tag '" + Snippet(src, start) + "'");
    if (t.type == TagType::kSection || t.type == TagType::kInverted) {
      sections.push_back(r.tags.size());
    } else if (t.type == TagType::kEnd) {
      if (sections.empty()) {
        return fail(start, "'" + Snippet(src, start) + "' closes no section");
      }
      const ScannedTag& opened = r.tags[sections.back()];
      if (opened.name != t.name) {
        return fail(start, "'" + Snippet(src, start) + "' closes section '" + opened.name +
                               "'; close it with {{/" + opened.name + "}}");
      }
      sections.pop_back();
    }
    r.tags.push_back(std::move(t));
  }
  if (!sections.empty()) {
    const ScannedTag& opened = r.tags[sections.back()];
    return fail(opened.begin, "section '" + opened.name + "' is never closed ({{/" + opened.name +
                                  "}} is missing)");
  }
  return r;
}

// Variable tags get this marker after their name, so the scope can render
// a boolean as text there while sections still test it.
constexpr char kTextMarker = '\x1f';

std::string SourceForRender(const std::string& src, const ScanResult& scan) {
  std::string out;
  out.reserve(src.size() + scan.tags.size());
  size_t copied = 0;
  for (const auto& t : scan.tags) {
    if (t.type != TagType::kVariable && t.type != TagType::kUnescaped) continue;
    out.append(src, copied, t.name_end - copied);
    out.push_back(kTextMarker);
    copied = t.name_end;
  }
  out.append(src, copied, std::string::npos);
  return out;
}

// Checks a part and returns its render source, or the offset and message.
Result<std::string> Compile(const std::string& src, size_t* error_offset) {
  ScanResult scan = ScanTags(src);
  if (scan.error) {
    *error_offset = scan.error->first;
    return InvalidArgument(scan.error->second);
  }
  std::string render = SourceForRender(src, scan);
  mst::mustache m(render);
  if (!m.is_valid()) {
    *error_offset = 0;
    return InvalidArgument("mustache: " + m.error_message());
  }
  return render;
}

// ---- the render scope

// Mustache's context stack with spec name resolution: a dotted name's first
// segment is looked up through the stack, the rest inside what it found.
class Scope final : public mst::basic_context<std::string> {
 public:
  explicit Scope(const mst::data* root) { items_.push_back(root); }

  void push(const mst::data* data) override { items_.push_back(data); }
  void pop() override { items_.pop_back(); }

  const mst::data* get(const std::string& name) const override {
    const bool as_text = !name.empty() && name.back() == kTextMarker;
    const mst::data* v = Lookup(as_text ? std::string_view(name).substr(0, name.size() - 1)
                                        : std::string_view(name));
    if (as_text && v != nullptr && v->is_bool()) {
      static const mst::data kTrue(std::string("true"));
      static const mst::data kFalse(std::string("false"));
      return v->is_true() ? &kTrue : &kFalse;
    }
    return v;
  }
  const mst::data* get_partial(const std::string&) const override { return nullptr; }

 private:
  const mst::data* Lookup(std::string_view name) const {
    if (items_.empty()) return nullptr;
    if (name == ".") return items_.back();
    const size_t dot = name.find('.');
    const std::string first(name.substr(0, dot));
    for (auto it = items_.rbegin(); it != items_.rend(); ++it) {
      const mst::data* v = (*it)->get(first);
      if (v == nullptr) continue;
      size_t at = dot;
      while (v != nullptr && at != std::string_view::npos) {
        const size_t next = name.find('.', at + 1);
        v = v->get(std::string(name.substr(
            at + 1, next == std::string_view::npos ? std::string_view::npos : next - at - 1)));
        at = next;
      }
      return v;
    }
    return nullptr;
  }

  std::vector<const mst::data*> items_;  // innermost last
};

mst::data FromJson(const json& j, int depth) {
  constexpr int kMaxDepth = 32;
  switch (j.type()) {
    case json::value_t::object: {
      if (depth >= kMaxDepth) return mst::data(j.dump());
      mst::data d(mst::data::type::object);
      for (const auto& [k, v] : j.items()) d[k] = FromJson(v, depth + 1);
      return d;
    }
    case json::value_t::array: {
      if (depth >= kMaxDepth) return mst::data(j.dump());
      mst::data d(mst::data::type::list);
      for (const auto& v : j) d.push_back(FromJson(v, depth + 1));
      return d;
    }
    case json::value_t::string:
      return mst::data(j.get_ref<const std::string&>());
    case json::value_t::boolean:
      return mst::data(j.get<bool>());
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return mst::data(j.dump());
    default:
      return mst::data(mst::data::type::list);  // null: falsy and renders nothing
  }
}

Result<json> ParseObject(const std::string& text, std::string_view what) {
  if (text.empty()) return json::object();
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return InvalidArgument(std::string(what) + " is not a JSON object");
  return j;
}

// Per-part state the escape handler and the track lambda share.
struct PartState {
  Escape mode = Escape::kText;
  int in_track = 0;
  std::string error;

  std::string EscapeVar(const std::string& s) const {
    switch (mode) {
      case Escape::kHtml:
        return HtmlEscape(s);  // undone inside track, once the link is whole
      case Escape::kJson:
        return in_track > 0 ? s : JsonEscape(s);
      case Escape::kText:
        break;
    }
    return s;
  }
  std::string EscapeOut(const std::string& s) const {
    switch (mode) {
      case Escape::kHtml:
        return HtmlEscape(s);
      case Escape::kJson:
        return JsonEscape(s);
      case Escape::kText:
        break;
    }
    return s;
  }
};

void AddOpenPixel(const std::string& pixel_url, std::string& html) {
  if (html.find(pixel_url) != std::string::npos) return;
  const std::string img = "<img src=\"" + HtmlEscape(pixel_url) +
                          "\" width=\"1\" height=\"1\" alt=\"\" style=\"display:none\">";
  std::string lower(html.size(), ' ');
  std::transform(html.begin(), html.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const size_t body_end = lower.rfind("</body>");
  if (body_end == std::string::npos) {
    html += img;
  } else {
    html.insert(body_end, img);
  }
}

// An email subject and a push title are one line (a header): line breaks
// and other control characters, from the template or from a value, become
// one space, and the ends are trimmed.
bool IsOneLine(std::string_view channel, std::string_view part) {
  return (channel == "email" && part == "subject") || (channel == "push" && part == "title");
}

std::string OneLine(std::string_view s) {
  std::string out;
  bool space = false;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7F || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(static_cast<char>(c));
  }
  return out;
}

// ---- loading

std::string At(const std::string& file, Pos p) {
  return file + ":" + std::to_string(p.line) + ":" + std::to_string(p.column);
}

Pos MarkPos(const YAML::Mark& m) { return Pos{m.line + 1, m.column + 1}; }

struct Loaded {
  Template t;
  std::pair<int, int> channel_pos;
  std::map<std::string, std::vector<TemplateSet::TagRef>> tags;
  std::map<std::string, std::string> render_src;
};

// Loads one file; false (with problems appended) when it has any problem.
bool LoadOne(const std::string& path, const std::string& name, Loaded* out,
             std::vector<std::string>* problems) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    problems->push_back(path + ": cannot read");
    return false;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string text = buf.str();
  const LineIndex lines(text);
  const size_t before = problems->size();
  auto problem = [&](Pos p, const std::string& m) { problems->push_back(At(path, p) + ": " + m); };
  out->t.name = name;
  out->t.file = path;
  try {
    const YAML::Node root = YAML::Load(text);
    if (!root.IsMap()) {
      problem(root.IsDefined() && !root.IsNull() ? MarkPos(root.Mark()) : Pos{1, 1},
              "a template is a mapping: `channel:` and the parts of its message");
      return false;
    }
    std::map<std::string, Pos> seen;
    const ChannelSpec* spec = nullptr;
    Pos channel_at{1, 1};
    for (const auto& kv : root) {
      const std::string key = kv.first.Scalar();
      if (key == "channel") {
        channel_at = MarkPos(kv.second.Mark());
        if (!kv.second.IsScalar()) {
          problem(MarkPos(kv.first.Mark()), "'channel' is one of " + ChannelNames());
        } else if ((spec = SpecFor(kv.second.Scalar())) == nullptr) {
          problem(channel_at,
                  "unknown channel '" + kv.second.Scalar() + "'; use " + ChannelNames());
        } else {
          out->t.channel = kv.second.Scalar();
        }
      }
    }
    if (out->t.channel.empty() && problems->size() == before) {
      problem(Pos{1, 1}, "'channel' is required (" + ChannelNames() + ")");
    }
    out->channel_pos = {channel_at.line, channel_at.column};
    for (const auto& kv : root) {
      const std::string key = kv.first.Scalar();
      const Pos key_at = MarkPos(kv.first.Mark());
      if (!seen.emplace(key, key_at).second) {
        problem(key_at, "'" + key + "' is given twice");
        continue;
      }
      if (key == "channel" || spec == nullptr) continue;
      if (std::find(spec->parts.begin(), spec->parts.end(), key) == spec->parts.end()) {
        problem(key_at, "'" + key + "' is not a part of " + Article(spec->channel) +
                            " template; use " + Join(spec->parts, " and "));
        continue;
      }
      if (!kv.second.IsScalar()) {
        problem(MarkPos(kv.second.Mark()), "'" + key + "' is a text (a mustache template)");
        continue;
      }
      const std::string src = kv.second.Scalar();
      const ScalarMap map(text, lines, kv.second.Mark(), src);
      size_t offset = 0;
      auto compiled = Compile(src, &offset);
      if (!compiled.ok()) {
        problem(map.At(offset), key + ": " + compiled.status().message());
        continue;
      }
      out->t.parts[key] = src;
      out->render_src[key] = std::move(*compiled);
      auto& refs = out->tags[key];
      for (const auto& tag : ScanTags(src).tags) {
        char type = 0;
        switch (tag.type) {
          case TagType::kVariable:
          case TagType::kUnescaped:
            type = 'v';
            break;
          case TagType::kSection:
            type = '#';
            break;
          case TagType::kInverted:
            type = '^';
            break;
          case TagType::kEnd:
            type = '/';
            break;
          default:
            continue;
        }
        const Pos p = map.At(tag.begin);
        refs.push_back({type, tag.name, p.line, p.column});
      }
    }
    if (spec != nullptr) {
      for (auto req : spec->required) {
        if (!seen.count(std::string(req))) {
          problem(channel_at,
                  Article(spec->channel) + " template needs '" + std::string(req) + "'");
        }
      }
      if (spec->channel == "email" && !seen.count("text") && !seen.count("html")) {
        problem(channel_at, "an email template needs 'text' or 'html' (or both)");
      }
    }
  } catch (const YAML::Exception& e) {
    problem(MarkPos(e.mark), e.msg);
  }
  return problems->size() == before;
}

bool IsTemplateFile(const std::filesystem::path& p) {
  return p.extension() == ".yaml" || p.extension() == ".yml";
}

// ---- checking names

const std::vector<std::string_view> kRoots = {"traits", "customer", "event", "params",
                                              "task",   "links",    "track"};
const std::vector<std::string_view> kTaskFields = {"task_id", "journey", "version", "step",
                                                   "channel"};
const std::vector<std::string_view> kLinkFields = {"unsubscribe", "open_pixel"};

bool In(const std::vector<std::string_view>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::vector<std::string> Split(const std::string& name) {
  std::vector<std::string> out;
  size_t at = 0;
  while (true) {
    const size_t dot = name.find('.', at);
    out.push_back(name.substr(at, dot == std::string::npos ? std::string::npos : dot - at));
    if (dot == std::string::npos) break;
    at = dot + 1;
  }
  return out;
}

std::set<std::string> ParamKeys(const std::string& params_json) {
  std::set<std::string> keys;
  const json j = json::parse(params_json.empty() ? "{}" : params_json, nullptr, false);
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) keys.insert(k);
  }
  return keys;
}

struct OpenSection {
  std::string name;
  bool lambda = false;
};

// Why `tag` cannot be rendered for this step, or "" when it can.
std::string CheckName(const TemplateSet::TagRef& tag, const std::vector<OpenSection>& open,
                      const std::set<std::string>& step_params,
                      const std::set<std::string>& any_params) {
  const std::string shown =
      tag.type == 'v' ? "{{" + tag.name + "}}" : "{{" + std::string(1, tag.type) + tag.name + "}}";
  const bool in_data_section =
      std::any_of(open.begin(), open.end(), [](const OpenSection& s) { return !s.lambda; });
  if (tag.name == ".") {
    return in_data_section ? "" : "'" + shown + "' is only meaningful inside a section";
  }
  const auto segs = Split(tag.name);
  if (std::any_of(segs.begin(), segs.end(), [](const std::string& s) { return s.empty(); })) {
    return "'" + shown + "' is not a name";
  }
  const std::string& root = segs[0];
  if (!In(kRoots, root)) {
    if (in_data_section) return "";  // relative to the section's item
    return "no event or profile provides '" + shown +
           "'; names start with traits, customer, event, params, task, links or track";
  }
  if (root == "track") {
    if (tag.type == '#' && segs.size() == 1) return "";
    return "'track' is a section around a link: {{#track}}https://...{{/track}}";
  }
  if (segs.size() == 1) {
    if (tag.type != 'v') return "";
    return "'" + shown + "' is an object; name one of its fields, e.g. {{" + root +
           (root == "params"     ? ".NAME"
            : root == "customer" ? ".id"
                                 : ".first_name") +
           "}}";
  }
  const std::string& field = segs[1];
  auto one_of = [&](const std::vector<std::string_view>& fields) -> std::string {
    if (!In(fields, field)) {
      return "'" + shown + "': " + root + " has " + Join(fields, " and ") + ", not '" + field + "'";
    }
    if (segs.size() > 2) return "'" + shown + "': " + root + "." + field + " is a text";
    return "";
  };
  if (root == "task") return one_of(kTaskFields);
  if (root == "links") return one_of(kLinkFields);
  if (root == "customer") return one_of({"id"});
  if (root == "params") {
    if (step_params.count(field)) return "";
    const std::string param = "params." + field;
    if (tag.type != 'v' && any_params.count(field)) return "";  // a test another step sets
    const bool guarded = std::any_of(open.begin(), open.end(),
                                     [&](const OpenSection& s) { return s.name == param; });
    if (guarded) return "";
    return "'" + shown + "': the step's params have no '" + field + "'";
  }
  return "";  // traits.*, event.*: open
}

}  // namespace

// ---- TemplateSet

std::shared_ptr<const TemplateSet> TemplateSet::LoadDirCollecting(
    const std::string& dir, std::vector<std::string>* problems, int* files) {
  namespace fs = std::filesystem;
  auto set = std::make_shared<TemplateSet>();
  set->dir_ = dir;
  if (files != nullptr) *files = 0;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return set;
  set->dir_exists_ = true;
  std::vector<fs::path> paths;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::error_code ec2;
    if (IsTemplateFile(entry.path()) && entry.is_regular_file(ec2)) paths.push_back(entry.path());
  }
  if (ec) problems->push_back(dir + ": cannot list: " + ec.message());
  std::sort(paths.begin(), paths.end());
  for (const auto& p : paths) {
    if (files != nullptr) ++*files;
    const std::string name = p.stem().string();
    const std::string path = p.string();
    if (set->templates_.count(name) || set->broken_.count(name)) {
      problems->push_back(
          path + ":1:1: template '" + name + "' is also defined in " +
          (set->templates_.count(name) ? set->templates_[name].file : dir + "/" + name + ".*"));
      continue;
    }
    Loaded loaded;
    if (!LoadOne(path, name, &loaded, problems)) {
      set->broken_.insert(name);
      continue;
    }
    set->channel_pos_[name] = loaded.channel_pos;
    set->tags_[name] = std::move(loaded.tags);
    set->render_src_[name] = std::move(loaded.render_src);
    set->templates_[name] = std::move(loaded.t);
  }
  return set;
}

Result<std::shared_ptr<const TemplateSet>> TemplateSet::LoadDir(const std::string& dir) {
  std::vector<std::string> problems;
  auto set = LoadDirCollecting(dir, &problems);
  if (problems.empty()) return set;
  std::string message;
  for (const auto& p : problems) message += (message.empty() ? "" : "\n") + p;
  return InvalidArgument(message);
}

const Template* TemplateSet::Find(const std::string& name) const {
  auto it = templates_.find(name);
  return it == templates_.end() ? nullptr : &it->second;
}

std::vector<std::string> TemplateSet::Check(const journey::Journey& j) const {
  std::vector<std::string> out;
  // A section may test a param that another send step with this template sets.
  std::map<std::string, std::set<std::string>> any_params;
  for (const auto& s : j.steps) {
    if (s.kind != journey::StepKind::kSend) continue;
    auto keys = ParamKeys(s.params_json);
    any_params[s.template_name].insert(keys.begin(), keys.end());
  }
  for (const auto& s : j.steps) {
    if (s.kind != journey::StepKind::kSend) continue;
    const std::string at = At(j.file, s.pos) + ": send step '" + s.id + "': ";
    if (broken_.count(s.template_name)) continue;  // its file's problems are reported
    const Template* t = Find(s.template_name);
    if (t == nullptr) {
      out.push_back(at + "no template '" + s.template_name + "' (" +
                    (dir_exists_ ? dir_ + "/" + s.template_name + ".yaml does not exist"
                                 : "no templates dir " + dir_) +
                    ")");
      continue;
    }
    const auto cp = channel_pos_.count(t->name) ? channel_pos_.at(t->name) : std::pair{1, 1};
    const std::string tat =
        t->file + ":" + std::to_string(cp.first) + ":" + std::to_string(cp.second);
    if (t->channel != s.channel) {
      out.push_back(at + "template '" + t->name + "' is written for " + t->channel +
                    ", the step sends " + s.channel + " (" + tat + ")");
      continue;
    }
    const auto step_params = ParamKeys(s.params_json);
    auto tags_it = tags_.find(t->name);
    if (tags_it == tags_.end()) continue;
    for (const auto& part : SpecFor(t->channel)->parts) {
      auto p = tags_it->second.find(std::string(part));
      if (p == tags_it->second.end()) continue;
      std::vector<OpenSection> open;
      for (const auto& tag : p->second) {
        if (tag.type == '/') {
          if (!open.empty()) open.pop_back();
          continue;
        }
        const std::string why = CheckName(tag, open, step_params, any_params[s.template_name]);
        if (!why.empty()) {
          out.push_back(at + t->file + ":" + std::to_string(tag.line) + ":" +
                        std::to_string(tag.column) + ": " + why);
        }
        if (tag.type != 'v') open.push_back({tag.name, tag.name == "track"});
      }
    }
  }
  return out;
}

Result<std::map<std::string, std::string>> TemplateSet::Render(const Template& t,
                                                               const RenderInput& in) const {
  const std::string where = "template '" + t.name + "'";
  // Render sources: ours are compiled at load; another Template is compiled here.
  std::map<std::string, std::string> fresh;
  const std::map<std::string, std::string>* sources = nullptr;
  if (Find(t.name) == &t && render_src_.count(t.name)) {
    sources = &render_src_.at(t.name);
  } else {
    for (const auto& [part, src] : t.parts) {
      size_t offset = 0;
      auto compiled = Compile(src, &offset);
      if (!compiled.ok()) {
        return InvalidArgument(where + " " + part + " at offset " + std::to_string(offset) + ": " +
                               compiled.status().message());
      }
      fresh[part] = std::move(*compiled);
    }
    sources = &fresh;
  }

  auto traits = ParseObject(in.traits_json, "traits");
  if (!traits.ok()) return traits.status();
  auto event = ParseObject(in.event_json, "the entry event");
  if (!event.ok()) return event.status();
  auto params = ParseObject(in.params_json, "params");
  if (!params.ok()) return params.status();

  const std::string channel = in.channel.empty() ? t.channel : in.channel;
  TrackingClaims ref;
  ref.task_id = in.task_id;
  ref.customer_id = in.customer_id;
  ref.journey = in.journey;
  ref.step = in.step;
  ref.channel = channel;
  const std::string pixel = in.tracker != nullptr ? in.tracker->OpenPixelUrl(ref) : "";

  mst::data root(mst::data::type::object);
  root["traits"] = FromJson(*traits, 0);
  root["event"] = FromJson(*event, 0);
  root["params"] = FromJson(*params, 0);
  mst::data customer(mst::data::type::object);
  customer["id"] = mst::data(in.customer_id);
  root["customer"] = std::move(customer);
  mst::data task(mst::data::type::object);
  task["task_id"] = mst::data(in.task_id);
  task["journey"] = mst::data(in.journey);
  task["version"] = mst::data(std::to_string(in.version));
  task["step"] = mst::data(in.step);
  task["channel"] = mst::data(channel);
  root["task"] = std::move(task);
  mst::data links(mst::data::type::object);
  links["unsubscribe"] =
      mst::data(in.tracker != nullptr ? in.tracker->UnsubscribeUrl(ref) : std::string());
  links["open_pixel"] = mst::data(pixel);
  root["links"] = std::move(links);

  PartState state;
  const mst::lambda2 track = [&state, &in, &ref](const std::string& text,
                                                 const mst::renderer& render) -> std::string {
    ++state.in_track;
    std::string url = render(text);
    --state.in_track;
    url = Trim(url);
    if (state.mode == Escape::kHtml) url = HtmlUnescape(url);
    url = EncodeLinkChars(url);
    if (!IsHttpUrl(url)) {
      if (state.error.empty()) {
        state.error = "{{#track}}: '" + url + "' is not an absolute http(s) URL";
      }
      return "";
    }
    return state.EscapeOut(in.tracker != nullptr ? in.tracker->ClickUrl(ref, url) : url);
  };
  root["track"] = mst::data(track);

  std::map<std::string, std::string> out;
  for (const auto& [part, src] : *sources) {
    state = PartState{EscapeFor(t.channel, part), 0, ""};
    mst::mustache m(src);
    if (!m.is_valid()) return InvalidArgument(where + " " + part + ": " + m.error_message());
    m.set_custom_escape([&state](const std::string& s) { return state.EscapeVar(s); });
    Scope scope(&root);
    std::string text = m.render(scope);
    if (!m.is_valid()) return InvalidArgument(where + " " + part + ": " + m.error_message());
    if (!state.error.empty()) return InvalidArgument(where + " " + part + ": " + state.error);
    if (IsOneLine(t.channel, part)) text = OneLine(text);
    if (state.mode == Escape::kHtml && in.tracker != nullptr) AddOpenPixel(pixel, text);
    if (state.mode == Escape::kJson && !json::accept(text)) {
      return InvalidArgument(where + " " + part +
                             ": not JSON after rendering: " + text.substr(0, 200));
    }
    out[part] = std::move(text);
  }
  return out;
}

}  // namespace cairn::dispatch
