#include "profile/loader.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include "cairn/fnv1a.h"
#include "cairn/json_text.h"
#include "journey/yaml_reader.h"
#include "profile/values.h"

namespace cairn::profile {
namespace {

using journey::Condition;
using journey::Diagnostic;
using journey::Pos;
using journey::internal::Entries;
using journey::internal::Field;
using journey::internal::Fields;
using journey::internal::Quoted;

// traits.<name> is read by CEL field access: an identifier.
bool IsTraitName(std::string_view s) {
  if (s.empty() || s.size() > 64 || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

const std::vector<std::string> kAggregates = {"count", "sum",   "min",  "max",
                                              "avg",   "first", "last", "distinct"};

// Names a later pass resolves across files.
struct TraitRef {
  std::string name;
  Pos pos;
  std::string file;
};

struct Shared {
  Model model;
  std::vector<Diagnostic> diags;
  std::map<std::string, std::pair<std::string, Pos>> trait_names, segment_names, label_names;
  std::map<std::string, std::pair<std::string, Pos>> sections;  // once-only sections
  TraitRef rfm_r, rfm_f, rfm_m;
};

class FileLoader : public journey::internal::YamlReader {
 public:
  FileLoader(std::string_view text, const std::string& file, Shared& shared)
      : YamlReader(text, file), s_(shared) {}

  void Run() {
    try {
      Parse();
    } catch (const YAML::Exception& e) {
      Error(Pos{e.mark.line + 1, e.mark.column + 1}, e.msg);
    } catch (const std::exception& e) {
      Error(Pos{1, 1}, std::string("internal error while loading: ") + e.what());
    }
    auto d = TakeDiagnostics();
    s_.diags.insert(s_.diags.end(), d.begin(), d.end());
  }

 private:
  void Parse() {
    auto loaded = LoadRoot();
    if (!loaded) return;
    const YAML::Node root = *loaded;
    if (!root || root.IsNull()) return;  // an empty file declares nothing
    Fields top;
    if (!ReadMap(root, Pos{1, 1}, "a profile file",
                 {"traits", "rfm", "lifecycle", "labels", "segments", "governance"}, top)) {
      return;
    }
    for (const auto& f : top.all()) {
      if (f.name == "traits") {
        Traits(f);
      } else if (f.name == "labels") {
        Labels(f);
      } else if (f.name == "segments") {
        Segments(f);
      } else if (Once(f)) {
        if (f.name == "rfm") Rfm(f);
        if (f.name == "lifecycle") Lifecycle(f);
        if (f.name == "governance") {
          governance::ParsePolicy(*this, f.value, ValuePos(f), s_.model.governance);
        }
      }
    }
  }

  // rfm, lifecycle and governance are declared once across all files.
  bool Once(const Field& f) {
    auto [it, inserted] = s_.sections.emplace(f.name, std::make_pair(file_, KeyPos(f)));
    if (inserted) return true;
    Error(KeyPos(f), Quoted(f.name) + " is already declared in " + it->second.first + ":" +
                         std::to_string(it->second.second.line));
    return false;
  }

  bool Unique(std::map<std::string, std::pair<std::string, Pos>>& names, const std::string& name,
              Pos pos, const std::string& what) {
    auto [it, inserted] = names.emplace(name, std::make_pair(file_, pos));
    if (inserted) return true;
    Error(pos, what + " " + Quoted(name) + " is already declared at " + it->second.first + ":" +
                   std::to_string(it->second.second.line));
    return false;
  }

  // A condition over the profile: traits and customer only.
  Condition ProfileCond(const Field& f) {
    Condition c = CondRaw(f);
    CheckSlots(c, f.name, /*event_allowed=*/false);
    return c;
  }

  void CheckSlots(const Condition& c, const std::string& key, bool event_allowed) {
    for (int slot : c.program.used_slots()) {
      if (slot == journey::kTraitsSlot || slot == journey::kCustomerSlot) continue;
      if (slot == journey::kEventSlot && event_allowed) continue;
      Error(c.pos, Quoted(key) + " may only use " + std::string(event_allowed ? "`event`, " : "") +
                       "`traits` and `customer` (it is evaluated on the profile, outside any "
                       "journey)");
      return;
    }
  }

  // ---- traits

  void Traits(const Field& section) {
    if (!section.value.IsMap()) {
      Error(ValuePos(section), "'traits' must be a mapping of trait names to aggregates");
      return;
    }
    for (const auto& [key, value] : Entries(section.value)) {
      const Pos kp = NodePos(key);
      if (!key.IsScalar() || !IsTraitName(key.Scalar())) {
        Error(kp,
              "a computed trait's name must be lower-case letters, digits and _, starting "
              "with a letter (it is read as traits.<name>)");
        continue;
      }
      ComputedTrait t;
      t.name = key.Scalar();
      t.pos = kp;
      Fields f;
      std::vector<std::string> allowed = kAggregates;
      allowed.insert(allowed.end(), {"of", "window", "where"});
      if (!ReadMap(value, value.IsNull() ? kp : NodePos(value), "trait " + Quoted(t.name), allowed,
                   f)) {
        continue;
      }
      const Field* agg = nullptr;
      for (const auto& name : kAggregates) {
        if (const Field* x = f.Get(name)) {
          if (agg != nullptr) {
            Error(KeyPos(*x), "trait " + Quoted(t.name) + " has two aggregates, " +
                                  Quoted(agg->name) + " and " + Quoted(x->name));
          } else {
            agg = x;
          }
        }
      }
      if (agg == nullptr) {
        if (!f.had_unknown()) {
          Error(kp, "trait " + Quoted(t.name) +
                        " needs an aggregate: count, sum, min, max, avg, first, last or distinct, "
                        "with the event as its value (count: Order Completed)");
        }
        continue;
      }
      t.aggregate = static_cast<Aggregate>(
          std::find(kAggregates.begin(), kAggregates.end(), agg->name) - kAggregates.begin());
      auto ev = EventName(*agg);
      if (!ev) continue;
      t.event = *ev;
      if (const Field* x = f.Get("of")) {
        auto path = Str(*x);
        if (!path) continue;
        std::stringstream ss(*path);
        for (std::string part; std::getline(ss, part, '.');) {
          if (part.empty()) {
            Error(ValuePos(*x), "'of' is a property path such as total or product.category");
            break;
          }
          t.of.push_back(part);
        }
      }
      const bool numeric = t.aggregate == Aggregate::kSum || t.aggregate == Aggregate::kAvg;
      if ((numeric || t.aggregate == Aggregate::kDistinct) && t.of.empty()) {
        Error(KeyPos(*agg), "trait " + Quoted(t.name) + ": " + Quoted(agg->name) +
                                " needs 'of', the property it aggregates (of: total)");
      }
      if (t.aggregate == Aggregate::kCount && !t.of.empty()) {
        Error(ValuePos(*f.Get("of")),
              "'count' counts events; it takes no 'of' (use 'where' to count only some)");
      }
      if (const Field* x = f.Get("window")) {
        auto w = Duration(*x, Sign::kPositive);
        if (!w) continue;
        t.window_ms = *w;
      }
      if (const Field* x = f.Get("where")) {
        t.where = CondRaw(*x);
        CheckSlots(t.where, "where", /*event_allowed=*/true);
      }
      if (!Unique(s_.trait_names, t.name, kp, "computed trait")) continue;
      s_.model.traits.push_back(std::move(t));
    }
  }

  // ---- RFM

  std::optional<std::array<double, 4>> Thresholds(const Field& f, bool durations) {
    std::array<double, 4> out{};
    if (!f.value.IsSequence() || f.value.size() != 4) {
      Error(ValuePos(f), Quoted(f.name) + " needs four ascending " +
                             (durations ? "durations, e.g. [30d, 90d, 180d, 365d]"
                                        : "numbers, e.g. [2, 3, 5, 10]"));
      return std::nullopt;
    }
    for (size_t i = 0; i < 4; ++i) {
      const YAML::Node n = f.value[i];
      const Pos p = NodePos(n);
      if (durations) {
        auto ms = DurationOf(n, p, f.name, Sign::kNonNegative);
        if (!ms) return std::nullopt;
        out[i] = static_cast<double>(*ms);
      } else {
        double d = 0;
        const std::string& s = n.IsScalar() ? n.Scalar() : std::string();
        auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
        if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(d)) {
          Error(p, Quoted(f.name) + ": " + KindOf(n) + " is not a number");
          return std::nullopt;
        }
        out[i] = d;
      }
      if (i > 0 && out[i] <= out[i - 1]) {
        Error(p, Quoted(f.name) + " must be strictly ascending");
        return std::nullopt;
      }
    }
    return out;
  }

  void Rfm(const Field& section) {
    Fields f;
    if (!ReadMap(section.value, ValuePos(section), "rfm",
                 {"recency", "frequency", "monetary", "scores", "thresholds", "refresh", "groups"},
                 f)) {
      return;
    }
    auto& r = s_.model.rfm;
    r.declared = true;
    auto ref = [&](const char* key, TraitRef& out) {
      if (!Require(f, key, KeyPos(section), "rfm")) return;
      const Field& x = *f.Get(key);
      if (auto s = Str(x)) out = TraitRef{*s, ValuePos(x), file_};
    };
    ref("recency", s_.rfm_r);
    ref("frequency", s_.rfm_f);
    ref("monetary", s_.rfm_m);
    std::string mode = "thresholds";
    if (const Field* x = f.Get("scores")) {
      if (auto s = Str(*x)) {
        if (*s != "thresholds" && *s != "quantiles") {
          Error(ValuePos(*x), "'scores' is thresholds or quantiles, not " + Quoted(*s));
        }
        mode = *s;
      }
    }
    r.mode = mode == "quantiles" ? RfmMode::kQuantiles : RfmMode::kThresholds;
    if (const Field* x = f.Get("thresholds")) {
      Fields t;
      if (ReadMap(x->value, ValuePos(*x), "thresholds", {"recency", "frequency", "monetary"}, t)) {
        for (const char* k : {"recency", "frequency", "monetary"}) {
          if (!Require(t, k, KeyPos(*x), "thresholds")) continue;
          auto v = Thresholds(*t.Get(k), std::string_view(k) == "recency");
          if (!v) continue;
          (std::string_view(k) == "recency"     ? r.recency_ms
           : std::string_view(k) == "frequency" ? r.frequency
                                                : r.monetary) = *v;
        }
      }
    } else if (r.mode == RfmMode::kThresholds) {
      Error(KeyPos(section),
            "rfm with scores: thresholds needs 'thresholds' (recency, frequency, "
            "monetary: four ascending values each)");
    }
    if (const Field* x = f.Get("refresh")) {
      if (auto ms = Duration(*x, Sign::kPositive)) r.refresh_ms = *ms;
    }
    if (const Field* x = f.Get("groups")) {
      if (!x->value.IsMap()) {
        Error(ValuePos(*x),
              "'groups' maps group names to conditions, first match wins "
              "(prime: \"traits.rfm_r >= 4 && traits.rfm_f >= 4\")");
        return;
      }
      std::set<std::string> seen;
      for (const auto& [key, value] : Entries(x->value)) {
        Field g{key.IsScalar() ? key.Scalar() : std::string(), key, value};
        if (!journey::internal::IsName(g.name, true)) {
          Error(NodePos(key), "an RFM group name is lower-case letters, digits, _ and -");
          continue;
        }
        if (!seen.insert(g.name).second) {
          Error(NodePos(key), "RFM group " + Quoted(g.name) + " is declared twice");
          continue;
        }
        r.groups.push_back(RfmGroup{g.name, ProfileCond(g)});
      }
    }
  }

  // ---- lifecycle

  void Lifecycle(const Field& section) {
    Fields f;
    if (!ReadMap(section.value, ValuePos(section), "lifecycle",
                 {"initial", "stages", "transitions"}, f)) {
      return;
    }
    auto& lc = s_.model.lifecycle;
    lc.declared = true;
    if (Require(f, "stages", KeyPos(section), "lifecycle")) {
      const Field& x = *f.Get("stages");
      lc.stages = StringList(x);
      std::set<std::string> seen;
      for (const auto& st : lc.stages) {
        if (!journey::internal::IsName(st, true)) {
          Error(ValuePos(x), Quoted(st) + " is not a stage name (lower-case letters, digits, _ -)");
        }
        if (!seen.insert(st).second) Error(ValuePos(x), "stage " + Quoted(st) + " is listed twice");
      }
      if (lc.stages.empty()) Error(ValuePos(x), "'stages' lists at least one stage");
    }
    auto known = [&](const std::string& st, Pos p) {
      if (std::find(lc.stages.begin(), lc.stages.end(), st) != lc.stages.end()) return true;
      Error(p, "unknown stage " + Quoted(st) + journey::internal::DidYouMean(st, lc.stages));
      return false;
    };
    if (Require(f, "initial", KeyPos(section), "lifecycle")) {
      const Field& x = *f.Get("initial");
      if (auto s = Str(x); s && known(*s, ValuePos(x))) lc.initial = *s;
    }
    const Field* tr = f.Get("transitions");
    if (tr == nullptr) return;
    if (!tr->value.IsSequence()) {
      Error(ValuePos(*tr), "'transitions' is a list of { from, to, if / on / idle }");
      return;
    }
    for (const auto& item : tr->value) {
      Fields t;
      const Pos ip = NodePos(item);
      if (!ReadMap(item, ip, "a transition", {"from", "to", "if", "on", "idle"}, t)) continue;
      Transition x;
      x.pos = ip;
      if (const Field* from = t.Get("from")) {
        if (from->value.IsSequence()) {
          x.from = StringList(*from);
        } else if (auto s = Str(*from)) {
          x.from = {*s};
        }
        for (const auto& st : x.from) known(st, ValuePos(*from));
      }
      if (Require(t, "to", ip, "a transition")) {
        const Field& to = *t.Get("to");
        if (auto s = Str(to); s && known(*s, ValuePos(to))) x.to = *s;
      }
      if (const Field* c = t.Get("if")) x.when = ProfileCond(*c);
      if (const Field* on = t.Get("on")) {
        if (auto s = EventName(*on)) x.on_event = *s;
      }
      if (const Field* idle = t.Get("idle")) {
        Fields i;
        if (ReadMap(idle->value, ValuePos(*idle), "idle", {"event", "for"}, i) &&
            Require(i, "event", ValuePos(*idle), "idle") &&
            Require(i, "for", ValuePos(*idle), "idle")) {
          if (auto s = EventName(*i.Get("event"))) x.idle_event = *s;
          if (auto ms = Duration(*i.Get("for"), Sign::kPositive)) x.idle_ms = *ms;
        }
      }
      if (!t.Has("if") && !t.Has("on") && !t.Has("idle") && !t.had_unknown()) {
        Error(ip, "a transition needs at least one of 'if', 'on' or 'idle'");
      }
      if (!x.from.empty() && std::find(x.from.begin(), x.from.end(), x.to) != x.from.end() &&
          !x.to.empty()) {
        Error(ip, "a transition from " + Quoted(x.to) + " to itself changes nothing");
      }
      lc.transitions.push_back(std::move(x));
    }
  }

  // ---- labels and segments

  void Labels(const Field& section) {
    if (!section.value.IsMap()) {
      Error(ValuePos(section),
            "'labels' maps label names to conditions "
            "(big-spender: \"traits.revenue_365d >= 1000.0\")");
      return;
    }
    for (const auto& [key, value] : Entries(section.value)) {
      Field g{key.IsScalar() ? key.Scalar() : std::string(), key, value};
      if (!journey::internal::IsName(g.name, true)) {
        Error(NodePos(key), "a label name is lower-case letters, digits, _ and -");
        continue;
      }
      if (!Unique(s_.label_names, g.name, NodePos(key), "label rule")) continue;
      s_.model.labels.push_back(LabelRule{g.name, ProfileCond(g)});
    }
  }

  void Segments(const Field& section) {
    if (!section.value.IsMap()) {
      Error(ValuePos(section), "'segments' maps segment names to { if, description }");
      return;
    }
    for (const auto& [key, value] : Entries(section.value)) {
      const Pos kp = NodePos(key);
      const std::string name = key.IsScalar() ? key.Scalar() : std::string();
      if (!journey::internal::IsName(name, true)) {
        Error(kp, "a segment name is lower-case letters, digits, _ and -, starting with a letter");
        continue;
      }
      Segment seg;
      seg.name = name;
      if (value.IsScalar()) {  // the short form: name: condition
        seg.when = ProfileCond(Field{name, key, value});
      } else {
        Fields f;
        if (!ReadMap(value, value.IsNull() ? kp : NodePos(value), "segment " + Quoted(name),
                     {"if", "description"}, f)) {
          continue;
        }
        if (!Require(f, "if", kp, "segment " + Quoted(name))) continue;
        seg.when = ProfileCond(*f.Get("if"));
        if (const Field* d = f.Get("description")) seg.description = Str(*d, true).value_or("");
      }
      if (!Unique(s_.segment_names, name, kp, "segment")) continue;
      s_.model.segments.push_back(std::move(seg));
    }
  }

  Shared& s_;
};

void ResolveRfm(Shared& s) {
  auto& r = s.model.rfm;
  if (!r.declared) return;
  auto resolve = [&](const TraitRef& ref, int& out, bool time) {
    if (ref.name.empty()) return;
    const int i = s.model.TraitIndex(ref.name);
    if (i < 0) {
      std::vector<std::string> names;
      for (const auto& t : s.model.traits) names.push_back(t.name);
      s.diags.push_back(Diagnostic{ref.file, ref.pos,
                                   "no computed trait " + Quoted(ref.name) +
                                       journey::internal::DidYouMean(ref.name, names)});
      return;
    }
    const auto& t = s.model.traits[static_cast<size_t>(i)];
    const bool gives_time =
        t.of.empty() && (t.aggregate == Aggregate::kLast || t.aggregate == Aggregate::kMax ||
                         t.aggregate == Aggregate::kFirst || t.aggregate == Aggregate::kMin);
    if (time && !gives_time) {
      s.diags.push_back(Diagnostic{ref.file, ref.pos,
                                   "recency needs a trait that gives a time: last or max of an "
                                   "event without 'of' (last: Order Completed)"});
      return;
    }
    if (!time && gives_time) {
      s.diags.push_back(
          Diagnostic{ref.file, ref.pos, Quoted(ref.name) + " gives a time, not a number"});
      return;
    }
    out = i;
  };
  resolve(s.rfm_r, r.recency_trait, true);
  resolve(s.rfm_f, r.frequency_trait, false);
  resolve(s.rfm_m, r.monetary_trait, false);
}

bool IsYaml(const std::filesystem::path& p) {
  const auto ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml";
}

// `c` as a NumericTest of model `m` (whose computed_index is built), or an
// empty one. Only where the interpreter's comparison of the trait's value
// (Int or Double) with the constant is the comparison of two doubles: an
// Int or Uint constant within +-2^53 (it converts exactly, as counts do), a
// finite Double (kept within the same bound, to be plain).
NumericTest ToNumericTest(const Model& m, const Condition& c) {
  NumericTest out;
  if (c.empty()) return out;
  const auto comparisons = c.program.Comparisons();
  for (const auto& k : comparisons) {
    NumericTest::Node n;
    n.op = k.op;
    if (k.op == NumericTest::Op::kAnd || k.op == NumericTest::Op::kOr) {
      n.a = k.a;
      n.b = k.b;
      out.nodes.push_back(n);
      continue;
    }
    if (k.slot != journey::kTraitsSlot) return {};
    const int i = m.ComputedCode(k.field);
    if (i < 0) return {};  // not a computed trait, or an RFM name
    if (!HasNumber(m.traits[static_cast<size_t>(i)])) return {};
    constexpr double kExact = 9007199254740992.0;  // 2^53
    const expr::Value& v = *k.constant;
    double d = 0;
    if (v.kind() == expr::Kind::kInt) {
      if (v.int_value() > (int64_t{1} << 53) || v.int_value() < -(int64_t{1} << 53)) return {};
      d = static_cast<double>(v.int_value());
    } else if (v.kind() == expr::Kind::kUint) {
      if (v.uint_value() > (uint64_t{1} << 53)) return {};
      d = static_cast<double>(v.uint_value());
    } else if (v.kind() == expr::Kind::kDouble && !std::isnan(v.double_value()) &&
               std::abs(v.double_value()) <= kExact) {
      d = v.double_value();
    } else {
      return {};
    }
    n.trait = i;
    n.trait_left = k.field_left;
    n.constant = d;
    out.nodes.push_back(n);
  }
  return out;
}

}  // namespace

std::string_view AggregateName(Aggregate a) { return kAggregates[static_cast<size_t>(a)]; }

int Model::TraitIndex(std::string_view name) const {
  for (size_t i = 0; i < traits.size(); ++i) {
    if (traits[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

void Model::Finish() {
  traits_by_event.clear();
  computed_index.clear();
  if (rfm.declared) {
    for (const char* n : {"rfm_r", "rfm_f", "rfm_m", "rfm_group"})
      computed_index.emplace(n, kRfmName);
  }
  for (size_t i = 0; i < traits.size(); ++i) {
    traits_by_event[traits[i].event].push_back(static_cast<int>(i));
    computed_index[traits[i].name] = static_cast<int>(i);
  }
  layout.clear();
  name_hashes.clear();
  codes.clear();
  num_size = 0;
  json_traits = false;
  for (const auto& t : traits) {
    TraitLayout l = LayoutOf(t);
    json_traits |= l.json;
    l.num = num_size;
    num_size += l.num_width;
    layout.push_back(l);
    name_hashes.push_back(static_cast<uint32_t>(Fnv1a64(t.name)));
    codes.push_back(static_cast<char>(l.code));
  }
  {
    std::string bytes = codes;
    bytes.append(reinterpret_cast<const char*>(name_hashes.data()),
                 name_hashes.size() * sizeof(uint32_t));
    layout_hash = std::max<uint64_t>(1, Fnv1a64(bytes));
  }
  auto reads_customer = [](const journey::Condition& c) {
    const auto& used = c.program.used_slots();
    return std::find(used.begin(), used.end(), journey::kCustomerSlot) != used.end();
  };
  label_reads_customer.clear();
  segment_reads_customer.clear();
  segment_index.clear();
  for (size_t i = 0; i < segments.size(); ++i)
    segment_index[segments[i].name] = static_cast<int>(i);
  segments_by_name.clear();
  if (segments.size() <= 64) {
    for (size_t i = 0; i < segments.size(); ++i) segments_by_name.push_back(static_cast<int>(i));
    std::sort(segments_by_name.begin(), segments_by_name.end(), [&](int a, int b) {
      return segments[static_cast<size_t>(a)].name < segments[static_cast<size_t>(b)].name;
    });
  }
  for (const auto& l : labels) label_reads_customer.push_back(reads_customer(l.when));
  for (auto& s : segments) {
    segment_reads_customer.push_back(reads_customer(s.when));
    s.event_properties = R"({"segment":)";
    AppendJsonString(s.name, s.event_properties);
    s.event_properties += '}';
  }
  rfm_groups_read_customer = false;
  for (const auto& g : rfm.groups) rfm_groups_read_customer |= reads_customer(g.when);

  // The trait fields every condition passed to trait_reads names, by
  // address (for ComputedCodeAt).
  std::vector<const std::string*> names;
  auto trait_reads = [&](const journey::Condition& c) {
    c.program.ForEachField(journey::kTraitsSlot,
                           [&](const std::string& n) { names.push_back(&n); });
    TraitReads r;
    if (c.empty()) return r;
    std::vector<std::string> fields;
    // Conservative: any mention of the clock (`now`, days_since, days_until,
    // hours_since) re-evaluates with every change.
    const bool clock = c.source.find("now") != std::string::npos ||
                       c.source.find("_since") != std::string::npos ||
                       c.source.find("_until") != std::string::npos;
    if (clock || !c.program.SelectedFields(journey::kTraitsSlot, &fields)) {
      r.all = true;
      return r;
    }
    for (const auto& f : fields) {
      const int i = TraitIndex(f);
      if (i >= 0) {
        r.traits.push_back(i);
      } else if (f == "rfm_r" || f == "rfm_f" || f == "rfm_m" || f == "rfm_group") {
        r.rfm = true;
      }
    }
    return r;
  };
  label_reads.clear();
  segment_reads.clear();
  std::vector<bool> read(traits.size(), false);
  bool read_all = false;
  auto note = [&](const TraitReads& r) {
    read_all |= r.all;
    for (int i : r.traits) read[static_cast<size_t>(i)] = true;
  };
  for (const auto& l : labels) {
    label_reads.push_back(trait_reads(l.when));
    note(label_reads.back());
  }
  for (const auto& s : segments) {
    segment_reads.push_back(trait_reads(s.when));
    note(segment_reads.back());
  }
  label_tests.clear();
  segment_tests.clear();
  for (const auto& l : labels) label_tests.push_back(ToNumericTest(*this, l.when));
  for (const auto& s : segments) segment_tests.push_back(ToNumericTest(*this, s.when));
  for (const auto& g : rfm.groups) note(trait_reads(g.when));
  for (const auto& t : lifecycle.transitions) note(trait_reads(t.when));
  for (const auto& t : traits) note(trait_reads(t.where));
  traits_read.clear();
  if (!read_all) traits_read = std::move(read);

  field_codes.clear();
  if (!names.empty()) {
    size_t size = 4;
    while (size < 2 * names.size()) size *= 2;
    field_codes.resize(size);
    for (const std::string* n : names) {
      for (size_t h = FieldSlot(n->data(), size - 1);; h = (h + 1) & (size - 1)) {
        FieldCode& f = field_codes[h];
        if (f.name == n->data()) break;  // the same node, seen twice
        if (f.name != nullptr) continue;
        f = {n->data(), n->size(), ComputedCode(*n)};
        break;
      }
    }
  }
}

LoadResult LoadProfile(const std::vector<std::pair<std::string, std::string>>& files) {
  Shared shared;
  for (const auto& [file, text] : files) {
    shared.model.files.push_back(file);
    FileLoader(text, file, shared).Run();
  }
  ResolveRfm(shared);
  LoadResult out;
  out.diagnostics = std::move(shared.diags);
  // By file (in the order given), then position.
  auto file_index = [&](const std::string& f) {
    for (size_t i = 0; i < files.size(); ++i) {
      if (files[i].first == f) return i;
    }
    return files.size();
  };
  std::stable_sort(out.diagnostics.begin(), out.diagnostics.end(),
                   [&](const Diagnostic& a, const Diagnostic& b) {
                     return std::make_tuple(file_index(a.file), a.pos.line, a.pos.column) <
                            std::make_tuple(file_index(b.file), b.pos.line, b.pos.column);
                   });
  if (out.diagnostics.empty()) {
    std::string all;
    for (const auto& [file, text] : files) {
      all += std::filesystem::path(file).filename().string();
      all += '\0';
      all += text;
      all += '\0';
    }
    shared.model.fingerprint = Fnv1a64(all);
    shared.model.Finish();
    out.model = std::make_shared<const Model>(std::move(shared.model));
  }
  return out;
}

LoadResult LoadProfileDir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<std::pair<std::string, std::string>> files;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return LoadProfile(files);
  std::vector<std::string> paths;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::error_code ec2;
    if (IsYaml(e.path()) && e.is_regular_file(ec2)) paths.push_back(e.path().string());
  }
  std::sort(paths.begin(), paths.end());
  LoadResult unreadable;
  for (const auto& p : paths) {
    std::ifstream in(p, std::ios::binary);
    if (!in) {
      unreadable.diagnostics.push_back(Diagnostic{p, Pos{}, "cannot read the file"});
      continue;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    files.emplace_back(p, ss.str());
  }
  LoadResult r = LoadProfile(files);
  if (!unreadable.diagnostics.empty()) {
    r.model.reset();
    r.diagnostics.insert(r.diagnostics.begin(), unreadable.diagnostics.begin(),
                         unreadable.diagnostics.end());
  }
  return r;
}

std::string ProfileDirOf(const std::string& journeys_dir) {
  return (std::filesystem::path(journeys_dir) / "profile").string();
}

}  // namespace cairn::profile
