#include "governance/policy.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace cairn::governance {
namespace {

using journey::Pos;
using journey::internal::Field;
using journey::internal::Fields;
using journey::internal::Quoted;
using journey::internal::YamlReader;

constexpr uintmax_t kMaxSuppressionBytes = 256ULL << 20;

bool IsHexDigest(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

void ParseCaps(YamlReader& r, const Field& f, Policy& out) {
  if (!f.value.IsSequence()) {
    r.Error(r.ValuePos(f), "'caps' is a list such as [{ channel: any, max: 3, per: 7d }], not " +
                               YamlReader::KindOf(f.value));
    return;
  }
  for (const auto& item : f.value) {
    const Pos ip = r.NodePos(item);
    Fields c;
    if (!r.ReadMap(item, ip, "a cap", {"channel", "max", "per"}, c)) continue;
    Cap cap;
    bool ok = r.Require(c, "max", ip, "a cap") & r.Require(c, "per", ip, "a cap");
    if (const Field* ch = c.Get("channel")) {
      if (auto n = r.Name(*ch, true, "channel")) {
        cap.channel = *n == "any" ? std::string() : *n;
      } else {
        ok = false;
      }
    }
    if (const Field* m = c.Get("max")) {
      if (auto v = r.Int(*m, 0, 100000)) {
        cap.max = static_cast<uint32_t>(*v);
      } else {
        ok = false;
      }
    }
    if (const Field* p = c.Get("per")) {
      if (auto v = r.Duration(*p, YamlReader::Sign::kPositive)) {
        cap.per_ms = *v;
      } else {
        ok = false;
      }
    }
    if (ok) out.caps.push_back(std::move(cap));
  }
}

void ParseQuiet(YamlReader& r, const YAML::Node& node, Pos pos, Policy& out) {
  Fields q;
  if (!r.ReadMap(node, pos, "quiet_hours", {"from", "to", "channels"}, q)) return;
  const bool has =
      r.Require(q, "from", pos, "quiet_hours") & r.Require(q, "to", pos, "quiet_hours");
  if (!has) return;
  auto from = r.TimeOfDay(*q.Get("from"));
  auto to = r.TimeOfDay(*q.Get("to"));
  if (!from || !to) return;
  if (*from == *to) {
    r.Error(r.ValuePos(*q.Get("to")), "quiet_hours 'from' and 'to' are the same time");
    return;
  }
  QuietHours h;
  h.from_minute = *from;
  h.to_minute = *to;
  if (const Field* c = q.Get("channels")) {
    h.channels = r.StringList(*c);
    if (h.channels.empty()) r.Error(r.ValuePos(*c), "'channels' lists at least one channel");
  }
  out.quiet_hours.push_back(std::move(h));
}

void ParseHoldout(YamlReader& r, const Field& f, Policy& out) {
  Fields h;
  const Pos pos = r.ValuePos(f);
  if (!r.ReadMap(f.value, pos, "holdout", {"percent", "salt"}, h)) return;
  if (r.Require(h, "percent", pos, "holdout")) {
    const Field& p = *h.Get("percent");
    if (auto s = r.Str(p)) {
      double d = -1;
      auto [ptr, ec] = std::from_chars(s->data(), s->data() + s->size(), d);
      if (ec != std::errc() || ptr != s->data() + s->size() || !std::isfinite(d) || d < 0 ||
          d > 100) {
        r.Error(r.ValuePos(p), "'percent' is a number from 0 to 100 (e.g. 5 or 2.5), not " +
                                   YamlReader::KindOf(p.value));
      } else {
        out.holdout.basis_points = static_cast<uint32_t>(std::lround(d * 100));
      }
    }
  }
  if (r.Require(h, "salt", pos, "holdout")) {
    out.holdout.salt = r.Str(*h.Get("salt")).value_or("");
  }
}

void ParseSuppression(YamlReader& r, const Field& f, Policy& out) {
  Fields s;
  const Pos pos = r.ValuePos(f);
  if (!r.ReadMap(f.value, pos, "suppression", {"file"}, s)) return;
  if (!r.Require(s, "file", pos, "suppression")) return;
  const Field& file = *s.Get("file");
  auto name = r.Str(file);
  if (!name) return;
  namespace fs = std::filesystem;
  fs::path path(*name);
  if (path.is_relative()) path = fs::path(r.file()).parent_path() / path;
  const Pos fp = r.ValuePos(file);
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) {
    r.Error(fp, "cannot read the suppression list " + Quoted(path.string()) + ": " + ec.message());
    return;
  }
  if (size > kMaxSuppressionBytes) {
    r.Error(fp, "the suppression list " + Quoted(path.string()) + " is larger than 256 MiB");
    return;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    r.Error(fp, "cannot read the suppression list " + Quoted(path.string()));
    return;
  }
  auto set = std::make_shared<std::unordered_set<std::string>>();
  std::string line;
  int number = 0;
  int bad = 0;
  while (std::getline(in, line)) {
    ++number;
    std::string_view v(line);
    while (!v.empty() && (v.back() == '\r' || v.back() == ' ' || v.back() == '\t')) {
      v.remove_suffix(1);
    }
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    if (v.empty() || v.front() == '#') continue;
    std::string h(v);
    std::transform(h.begin(), h.end(), h.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (!IsHexDigest(h)) {
      if (++bad <= 5) {
        r.Error(fp, path.string() + ":" + std::to_string(number) +
                        ": not a sha256 digest (64 hex digits) of an e-mail, phone or customer id");
      }
      continue;
    }
    set->insert(std::move(h));
  }
  out.suppression_file = path.string();
  out.suppressed = std::move(set);
}

}  // namespace

int64_t Policy::longest_window_ms() const {
  int64_t w = 0;
  for (const auto& c : caps) w = std::max(w, c.per_ms);
  return w;
}

void ParsePolicy(journey::internal::YamlReader& reader, const YAML::Node& node, journey::Pos where,
                 Policy& out) {
  Fields f;
  if (!reader.ReadMap(node, where, "governance",
                      {"caps", "quiet_hours", "timezone", "holdout", "suppression", "max_deferral"},
                      f)) {
    return;
  }
  out.declared = true;
  for (const auto& x : f.all()) {
    if (x.name == "caps") {
      ParseCaps(reader, x, out);
    } else if (x.name == "quiet_hours") {
      if (x.value.IsSequence()) {
        for (const auto& item : x.value) ParseQuiet(reader, item, reader.NodePos(item), out);
      } else {
        ParseQuiet(reader, x.value, reader.ValuePos(x), out);
      }
    } else if (x.name == "timezone") {
      if (auto tz = reader.TimeZone(x)) out.timezone = *tz;
    } else if (x.name == "holdout") {
      ParseHoldout(reader, x, out);
    } else if (x.name == "suppression") {
      ParseSuppression(reader, x, out);
    } else if (x.name == "max_deferral") {
      if (auto ms = reader.Duration(x, YamlReader::Sign::kPositive)) out.max_deferral_ms = *ms;
    }
  }
}

}  // namespace cairn::governance
