#include "journey/loader.h"

#include <date/tz.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cairn/time.h"
#include "journey/graph.h"
#include "journey/scope.h"
#include "journey/yaml_reader.h"

namespace cairn::journey {

int Journey::StepIndex(std::string_view id) const {
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].id == id) return static_cast<int>(i);
  }
  return kNoStep;
}

std::string Diagnostic::ToString() const {
  if (pos.line <= 0) return file + ": " + message;
  return file + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column) + ": " + message;
}

Result<int> ParseTimeOfDay(std::string_view text) {
  // HH:MM, two digits each.
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (text.size() != 5 || !digit(text[0]) || !digit(text[1]) || text[2] != ':' || !digit(text[3]) ||
      !digit(text[4])) {
    return InvalidArgument(
        "'" + std::string(text) +
        "' is not a time of day; write HH:MM on a 24-hour clock, e.g. \"09:30\"");
  }
  const int h = (text[0] - '0') * 10 + (text[1] - '0');
  const int m = (text[3] - '0') * 10 + (text[4] - '0');
  if (h > 23 || m > 59) {
    return InvalidArgument("'" + std::string(text) + "' is not a time of day (00:00 to 23:59)");
  }
  return h * 60 + m;
}

namespace {

using internal::DidYouMean;
using internal::Entries;
using internal::Field;
using internal::Fields;
using internal::IsName;
using internal::IsTraitPath;
using internal::kMaxLiteralNodes;
using internal::Quoted;

constexpr int64_t kDayMs = int64_t{24} * 3600 * 1000;

// Where a condition is written decides which variables it may use.
enum class CondPlace {
  kTrigger,     // when.where
  kAudience,    // who.where
  kEventMatch,  // exit_when, goal, wait_for: event is the incoming event
  kStep,        // branch conditions, update.compute: no current event
};

struct PendingRef {
  std::string id;
  Pos pos;
  std::function<void(Journey&, int)> set;
};

class Loader : public internal::YamlReader {
 public:
  Loader(std::string_view text, const std::string& file) : YamlReader(text, file) {}

  LoadResult Run() {
    LoadResult result;
    try {
      Parse();
    } catch (const YAML::Exception& e) {
      Error(Pos{e.mark.line + 1, e.mark.column + 1}, e.msg);
    } catch (const std::exception& e) {
      Error(Pos{1, 1}, std::string("internal error while loading: ") + e.what());
    }
    result.diagnostics = TakeDiagnostics();
    if (result.diagnostics.empty()) result.journey = std::move(j_);
    return result;
  }

 private:
  // ---- conditions (journey-specific: which variables each place may use)

  Condition Cond(const Field& f, CondPlace place, bool must_be_bool = true) {
    Condition c = CondRaw(f, must_be_bool);
    CheckSlots(c, f.name, place);
    return c;
  }

  // Variables a condition may not use where it is written. For absence and
  // date triggers `event` and `entry` are the runtime's synthetic "Absence
  // Detected" / "Date Reached" events.
  void CheckSlots(const Condition& c, const std::string& key, CondPlace place) {
    const TriggerKind tk = j_.trigger.kind;
    for (int slot : c.program.used_slots()) {
      std::string problem;
      switch (slot) {
        case kEventSlot:
          if (place == CondPlace::kStep) {
            problem = "`event` is not set in " + Quoted(key) +
                      " (no event is being matched there); use `entry` for the event that "
                      "started the journey";
          }
          break;
        case kEntrySlot:
          if (place == CondPlace::kTrigger) {
            problem = "`entry` is not set yet in the trigger; use `event`";
          }
          break;
        case kChangeSlot:
          if (tk != TriggerKind::kTraitChanged ||
              (place != CondPlace::kTrigger && place != CondPlace::kAudience)) {
            problem = "`change` is only set in a trait_changed trigger and its audience";
          }
          break;
        case kInstanceSlot:
          if (place == CondPlace::kTrigger || place == CondPlace::kAudience) {
            problem = "`instance` is not set before the customer enters the journey";
          }
          break;
        default:
          break;
      }
      if (!problem.empty()) Error(c.pos, problem);
    }
  }

  // ---- step references

  void Ref(const Field& f, std::function<void(Journey&, int)> set) {
    auto s = Str(f);
    if (!s) return;
    refs_.push_back(PendingRef{*s, ValuePos(f), std::move(set)});
  }

  // ---- the document

  void Parse() {
    auto loaded = LoadRoot();
    if (!loaded) return;
    const YAML::Node root = *loaded;
    j_.file = file_;
    j_.source = std::string(text_);
    if (!root || root.IsNull()) {
      Error(Pos{1, 1}, "empty file: a journey needs at least `journey`, `when` and `steps`");
      return;
    }
    Fields top;
    if (!ReadMap(root, NodePos(root), "the journey", kTopKeys, top)) return;
    const Pos top_pos = NodePos(root);

    if (Require(top, "journey", top_pos, "the journey")) {
      if (auto n = Name(*top.Get("journey"), false, "journey name")) j_.name = *n;
    }
    if (Require(top, "version", top_pos, "the journey")) {
      if (auto v = Int(*top.Get("version"), 1, 1000000)) j_.version = static_cast<uint32_t>(*v);
    }
    if (auto* f = top.Get("description")) j_.description = Str(*f, true).value_or("");
    if (auto* f = top.Get("owner")) j_.owner = Str(*f).value_or("");
    if (auto* f = top.Get("priority")) {
      j_.priority = static_cast<int>(Int(*f, 0, 100).value_or(0));
    }
    if (auto* f = top.Get("timezone")) j_.timezone = TimeZone(*f).value_or("UTC");
    j_.max_lifetime_ms = kDefaultMaxLifetimeMs;
    if (auto* f = top.Get("max_lifetime")) {
      j_.max_lifetime_ms = Duration(*f, Sign::kPositive).value_or(kDefaultMaxLifetimeMs);
    }
    if (auto* f = top.Get("paused")) j_.paused = Bool(*f).value_or(false);
    if (auto* f = top.Get("transactional")) j_.transactional = Bool(*f).value_or(false);
    if (auto* f = top.Get("on_cap")) {
      if (auto s = Str(*f)) {
        if (*s == "defer" || *s == "skip") {
          j_.on_cap = *s == "skip" ? OnCap::kSkip : OnCap::kDefer;
        } else {
          Error(ValuePos(*f), "on_cap must be defer or skip, not " + Quoted(*s) +
                                  DidYouMean(*s, {"defer", "skip"}));
        }
      }
    }
    if (auto* f = top.Get("max_deferral")) {
      j_.max_deferral_ms = Duration(*f, Sign::kPositive).value_or(0);
    }
    if (auto* f = top.Get("on_new_version")) {
      if (auto s = Str(*f)) {
        if (*s == "pin") {
          j_.on_new_version = VersionPolicy::kPin;
        } else if (*s == "migrate") {
          j_.on_new_version = VersionPolicy::kMigrate;
        } else if (*s == "exit") {
          j_.on_new_version = VersionPolicy::kExit;
        } else {
          Error(ValuePos(*f), "on_new_version must be pin, migrate or exit, not " + Quoted(*s) +
                                  DidYouMean(*s, {"pin", "migrate", "exit"}));
        }
      }
    }

    if (Require(top, "when", top_pos, "the journey")) ParseWhen(*top.Get("when"));
    if (auto* f = top.Get("who")) ParseWho(*f);
    if (auto* f = top.Get("entry")) ParseEntry(*f);
    if (auto* f = top.Get("exit_when")) ParseExitWhen(*f);
    if (auto* f = top.Get("goal")) ParseGoal(*f);
    if (Require(top, "steps", top_pos, "the journey")) ParseSteps(*top.Get("steps"));
    if (auto* f = top.Get("migrate")) ParseMigrate(*f);

    ResolveRefs();
    CheckSends();
    if (!steps_broken_) {
      CheckGraph(j_, step_refs_, [this](Pos p, std::string m) { Error(p, std::move(m)); });
    }
  }

  // ---- when

  void ParseWhen(const Field& f) {
    Fields w;
    if (!ReadMap(f.value, ValuePos(f), "when", kWhenKeys, w)) return;
    Trigger& t = j_.trigger;
    t.pos = ValuePos(f);
    static const std::vector<std::string> kKinds = {"event", "trait_changed", "absence", "date",
                                                    "schedule"};
    std::vector<const Field*> kinds;
    for (const auto& k : kKinds) {
      if (auto* x = w.Get(k)) kinds.push_back(x);
    }
    if (kinds.empty()) {
      if (w.had_unknown()) return;
      Error(ValuePos(f), "when needs one trigger: event, trait_changed, absence, date or schedule");
      return;
    }
    if (kinds.size() > 1) {
      Error(KeyPos(*kinds[1]), "when has more than one trigger (" + Quoted(kinds[0]->name) +
                                   " and " + Quoted(kinds[1]->name) + "); a journey has one");
      return;
    }
    const Field& kind = *kinds[0];
    t.pos = KeyPos(kind);
    // Keys that only go with some kinds.
    static const std::map<std::string, std::vector<std::string>> kFor = {
        {"where", {"event", "trait_changed"}},
        {"for", {"absence"}},
        {"offset", {"date"}},
        {"at", {"date"}},
        {"yearly", {"date"}},
    };
    bool misplaced = false;
    for (const auto& field : w.all()) {
      auto it = kFor.find(field.name);
      if (it == kFor.end()) continue;
      const auto& ok = it->second;
      if (std::find(ok.begin(), ok.end(), kind.name) == ok.end()) {
        std::string kinds_text;
        for (const auto& k : ok) kinds_text += (kinds_text.empty() ? "" : " or ") + k;
        Error(KeyPos(field), Quoted(field.name) + " only goes with " + kinds_text +
                                 "; this trigger is " + kind.name);
        misplaced = true;
      }
    }
    if (misplaced) return;
    if (kind.name == "event") {
      t.kind = TriggerKind::kEvent;
      t.event = EventName(kind).value_or("");
    } else if (kind.name == "trait_changed") {
      t.kind = TriggerKind::kTraitChanged;
      if (auto s = Str(kind)) {
        if (IsTraitPath(*s)) {
          t.trait = *s;
        } else {
          Error(ValuePos(kind), Quoted(*s) + " is not a trait name (letters, digits, _ and dots)");
        }
      }
    } else if (kind.name == "absence") {
      t.kind = TriggerKind::kAbsence;
      t.event = EventName(kind).value_or("");
      if (Require(w, "for", t.pos, "an absence trigger")) {
        t.for_ms = Duration(*w.Get("for"), Sign::kPositive).value_or(0);
      }
    } else if (kind.name == "date") {
      t.kind = TriggerKind::kDate;
      if (auto s = Str(kind)) {
        if (IsTraitPath(*s)) {
          t.trait = *s;
        } else {
          Error(ValuePos(kind), Quoted(*s) + " is not a trait name (letters, digits, _ and dots)");
        }
      }
      if (auto* x = w.Get("offset")) t.offset_ms = Duration(*x, Sign::kAny).value_or(0);
      t.at_minute = kDefaultDateMinute;
      if (auto* x = w.Get("at")) t.at_minute = TimeOfDay(*x).value_or(kDefaultDateMinute);
      if (auto* x = w.Get("yearly")) t.yearly = Bool(*x).value_or(false);
    } else {
      t.kind = TriggerKind::kSchedule;
      ParseSchedule(kind);
    }
    if (auto* x = w.Get("where")) t.where = Cond(*x, CondPlace::kTrigger);
  }

  void ParseSchedule(const Field& f) {
    Fields s;
    if (!ReadMap(f.value, ValuePos(f), "schedule", {"at", "cron", "timezone", "rate"}, s)) return;
    Trigger& t = j_.trigger;
    if (auto* r = s.Get("rate")) t.rate = static_cast<double>(Int(*r, 1, 1000000).value_or(1000));
    const Field* at = s.Get("at");
    const Field* cron = s.Get("cron");
    if ((at == nullptr) == (cron == nullptr)) {
      Error(ValuePos(f), "schedule needs either `at` (one time) or `cron` (repeating), not " +
                             std::string(at ? "both" : "neither"));
      return;
    }
    if (at) {
      if (s.Has("timezone")) {
        Error(KeyPos(*s.Get("timezone")),
              "`timezone` goes with `cron`; give `at` as a full timestamp with its offset");
      }
      if (auto str = Str(*at)) {
        auto ms = ParseTimestamp(*str);
        if (!ms || str->find('T') == std::string::npos) {
          Error(ValuePos(*at), Quoted(*str) +
                                   " is not a timestamp; write it as RFC 3339, e.g. "
                                   "2026-12-01T09:00:00+01:00");
        } else {
          t.at = *ms;
        }
      }
      return;
    }
    if (auto str = Str(*cron)) {
      std::string problem = CheckCron(*str);
      if (problem.empty()) {
        t.cron = *str;
      } else {
        Error(ValuePos(*cron), Quoted(*str) + " is not a cron expression: " + problem);
      }
    }
    t.timezone = j_.timezone;
    if (auto* tz = s.Get("timezone")) t.timezone = TimeZone(*tz).value_or(j_.timezone);
  }

  // Five fields: minute hour day-of-month month day-of-week; numbers,
  // ranges, lists, steps, `*`, and names for months and weekdays.
  static std::string CheckCron(const std::string& cron) {
    std::istringstream in(cron);
    std::vector<std::string> fields;
    for (std::string w; in >> w;) fields.push_back(w);
    if (fields.size() != 5) {
      return "it needs 5 fields (minute hour day month weekday), it has " +
             std::to_string(fields.size());
    }
    static const char* kNames[] = {"minute", "hour", "day of month", "month", "day of week"};
    static const int kLo[] = {0, 0, 1, 1, 0};
    static const int kHi[] = {59, 23, 31, 12, 7};
    static const std::vector<std::string> kMonths = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                     "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
    static const std::vector<std::string> kDays = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};
    for (size_t i = 0; i < 5; ++i) {
      std::istringstream parts(fields[i]);
      for (std::string part; std::getline(parts, part, ',');) {
        std::string range = part;
        if (auto slash = part.find('/'); slash != std::string::npos) {
          const std::string step = part.substr(slash + 1);
          int sv = 0;
          auto [p, ec] = std::from_chars(step.data(), step.data() + step.size(), sv);
          if (ec != std::errc() || p != step.data() + step.size() || sv <= 0) {
            return std::string("bad step in the ") + kNames[i] + " field";
          }
          range = part.substr(0, slash);
        }
        if (range == "*") continue;
        auto value = [&](const std::string& s) -> int {
          std::string up = s;
          for (auto& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
          const auto& names = i == 3 ? kMonths : kDays;
          if (i >= 3) {
            auto it = std::find(names.begin(), names.end(), up);
            if (it != names.end()) return static_cast<int>(it - names.begin()) + (i == 3 ? 1 : 0);
          }
          int v = 0;
          auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
          if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return -1;
          return v;
        };
        const auto dash = range.find('-');
        const std::string a = range.substr(0, dash);
        const std::string b = dash == std::string::npos ? a : range.substr(dash + 1);
        const int va = value(a);
        const int vb = value(b);
        if (va < kLo[i] || va > kHi[i] || vb < kLo[i] || vb > kHi[i] || vb < va) {
          return Quoted(part) + " is out of range for the " + kNames[i] + " field (" +
                 std::to_string(kLo[i]) + "-" + std::to_string(kHi[i]) + ")";
        }
      }
    }
    return "";
  }

  // ---- who, entry, exit_when, goal, migrate

  void ParseWho(const Field& f) {
    if (!f.value || f.value.IsNull()) return;
    Fields w;
    if (!ReadMap(f.value, ValuePos(f), "who", {"where", "consent"}, w)) return;
    if (auto* x = w.Get("where")) j_.audience = Cond(*x, CondPlace::kAudience);
    if (auto* x = w.Get("consent")) {
      if (!x->value || x->value.IsNull()) return;
      if (!x->value.IsMap()) {
        Error(ValuePos(*x),
              "consent must map channels to implied or explicit, e.g. "
              "{ email: implied, sms: explicit }");
        return;
      }
      for (const auto& [key, value] : Entries(x->value)) {
        Field c{key.IsScalar() ? key.Scalar() : "", key, value};
        if (!IsName(c.name, true)) {
          Error(KeyPos(c), "a channel name such as email, sms or push; not " + KindOf(c.key));
          continue;
        }
        if (j_.consent.count(c.name)) {
          Error(KeyPos(c), "duplicate consent rule for " + Quoted(c.name));
          continue;
        }
        auto mode = Str(c);
        if (!mode) continue;
        if (*mode == "implied") {
          j_.consent[c.name] = ConsentMode::kImplied;
        } else if (*mode == "explicit") {
          j_.consent[c.name] = ConsentMode::kExplicit;
        } else {
          Error(ValuePos(c), "consent for " + Quoted(c.name) +
                                 " must be implied or explicit, not " + Quoted(*mode) +
                                 DidYouMean(*mode, {"implied", "explicit"}));
          j_.consent[c.name] = ConsentMode::kExplicit;  // reported once, not again per send
        }
      }
    }
  }

  void ParseEntry(const Field& f) {
    if (!f.value || f.value.IsNull()) return;
    Fields e;
    if (!ReadMap(f.value, ValuePos(f), "entry", {"reentry", "max_concurrent"}, e)) return;
    if (auto* x = e.Get("reentry")) {
      if (auto s = Str(*x)) {
        if (*s == "never") {
          j_.entry.reentry = Reentry::kNever;
        } else if (*s == "always") {
          j_.entry.reentry = Reentry::kAlways;
        } else if (expr::ParseDurationMs(*s).ok()) {
          j_.entry.reentry = Reentry::kAfter;
          j_.entry.reentry_after_ms = Duration(*x, Sign::kPositive).value_or(0);
        } else {
          Error(ValuePos(*x), "reentry must be never, always or a duration such as 30d, not " +
                                  Quoted(*s) + DidYouMean(*s, {"never", "always"}));
        }
      }
    }
    if (auto* x = e.Get("max_concurrent")) {
      j_.entry.max_concurrent = static_cast<uint32_t>(Int(*x, 1, 100).value_or(1));
      if (j_.entry.max_concurrent > 1 && j_.entry.reentry == Reentry::kNever) {
        Error(ValuePos(*x),
              "max_concurrent above 1 needs `reentry: always` or a duration "
              "(with reentry: never a customer is only ever in one instance)");
      }
    }
  }

  std::optional<EventMatch> ParseEventMatch(const YAML::Node& node, Pos where,
                                            const std::string& what,
                                            const std::vector<std::string>& extra, Fields& out) {
    std::vector<std::string> keys = {"event", "where"};
    keys.insert(keys.end(), extra.begin(), extra.end());
    if (!ReadMap(node, where, what, keys, out)) return std::nullopt;
    EventMatch m;
    m.pos = where;
    if (Require(out, "event", where, what)) {
      m.event = EventName(*out.Get("event")).value_or("");
    }
    if (auto* x = out.Get("where")) m.where = Cond(*x, CondPlace::kEventMatch);
    return m;
  }

  void ParseExitWhen(const Field& f) {
    if (!f.value || f.value.IsNull()) return;
    if (!f.value.IsSequence()) {
      Error(ValuePos(f),
            "exit_when must be a list of events (- event: ...), not " + KindOf(f.value));
      return;
    }
    for (const auto& item : f.value) {
      Fields m;
      if (auto em = ParseEventMatch(item, NodePos(item), "an exit_when item", {}, m)) {
        j_.exit_when.push_back(std::move(*em));
      }
    }
  }

  void ParseGoal(const Field& f) {
    Fields g;
    auto em = ParseEventMatch(f.value, ValuePos(f), "goal", {"within"}, g);
    if (!em) return;
    Goal goal;
    goal.match = std::move(*em);
    goal.within_ms = j_.max_lifetime_ms;
    if (auto* x = g.Get("within")) {
      goal.within_ms = Duration(*x, Sign::kPositive).value_or(goal.within_ms);
      CheckLifetime(goal.within_ms, ValuePos(*x), "the goal window");
    }
    j_.goal = std::move(goal);
  }

  void ParseMigrate(const Field& f) {
    if (j_.on_new_version != VersionPolicy::kMigrate) {
      Error(KeyPos(f), "migrate only applies with `on_new_version: migrate`");
      return;
    }
    if (!f.value || f.value.IsNull()) return;
    if (!f.value.IsMap()) {
      Error(ValuePos(f),
            "migrate must map old step ids to new ones, e.g. "
            "{ remind_email: remind_email_v2 }");
      return;
    }
    for (const auto& [key, value] : Entries(f.value)) {
      Field m{key.IsScalar() ? key.Scalar() : "", key, value};
      if (m.name.empty()) {
        Error(KeyPos(m), "migrate keys must be old step ids");
        continue;
      }
      if (j_.migrate.count(m.name)) {
        Error(KeyPos(m), "duplicate key " + Quoted(m.name) + " in migrate");
        continue;
      }
      const std::string old_id = m.name;
      Ref(m, [old_id](Journey& j, int idx) { j.migrate[old_id] = j.steps[idx].id; });
    }
  }

  void CheckLifetime(int64_t ms, Pos pos, const std::string& what) {
    if (ms > j_.max_lifetime_ms) {
      Error(pos, what + " is longer than the journey's max_lifetime (" +
                     std::to_string(j_.max_lifetime_ms / kDayMs) +
                     "d); instances end before it is over");
    }
  }

  // ---- steps

  void ParseSteps(const Field& f) {
    if (!f.value || !f.value.IsSequence() || f.value.size() == 0) {
      Error(ValuePos(f), "steps must be a non-empty list (- id: ...), not " + KindOf(f.value));
      steps_broken_ = true;
      return;
    }
    for (const auto& node : f.value) {
      j_.steps.emplace_back();
      step_refs_.emplace_back();
      const size_t i = j_.steps.size() - 1;
      if (!ParseStep(node, i)) steps_broken_ = true;
    }
    // Default `next`: the step below; the last step's is "exit".
    for (size_t i = 0; i < j_.steps.size(); ++i) {
      Step& s = j_.steps[i];
      if (step_refs_[i].explicit_next) continue;
      if (s.kind == StepKind::kExit || s.kind == StepKind::kSplit) {
        s.next = kNoStep;
      } else {
        s.next = i + 1 < j_.steps.size() ? static_cast<int>(i + 1) : kNoStep;
      }
    }
    // Duplicate ids.
    std::map<std::string, size_t> seen;
    for (size_t i = 0; i < j_.steps.size(); ++i) {
      const Step& s = j_.steps[i];
      if (s.id.empty()) continue;
      auto [it, inserted] = seen.emplace(s.id, i);
      if (!inserted) {
        Error(id_pos_[i], "duplicate step id " + Quoted(s.id) + " (first at line " +
                              std::to_string(id_pos_[it->second].line) + ")");
        steps_broken_ = true;
      }
    }
  }

  bool ParseStep(const YAML::Node& node, size_t i) {
    Step& s = j_.steps[i];
    s.pos = NodePos(node);
    id_pos_.resize(i + 1, s.pos);
    step_refs_[i].next_pos = s.pos;
    Fields f;
    if (!ReadMap(node, s.pos, "a step", kStepKeys, f)) return false;
    bool ok = true;
    if (Require(f, "id", s.pos, "every step")) {
      const Field& id = *f.Get("id");
      id_pos_[i] = ValuePos(id);
      step_refs_[i].next_pos = id_pos_[i];
      if (auto n = Name(id, true, "step id")) {
        s.id = *n;
      } else {
        ok = false;
      }
    } else {
      ok = false;
    }
    std::vector<const Field*> kinds;
    for (const auto& k : kStepKinds) {
      if (auto* x = f.Get(k)) kinds.push_back(x);
    }
    if (kinds.empty()) {
      if (f.had_unknown()) return false;
      Error(s.pos, "step " + Quoted(s.id) +
                       " needs one action: send, wait, wait_for, branch, split, update, emit, "
                       "goto or exit");
      return false;
    }
    if (kinds.size() > 1) {
      Error(KeyPos(*kinds[1]), "step " + Quoted(s.id) + " has two actions (" +
                                   Quoted(kinds[0]->name) + " and " + Quoted(kinds[1]->name) +
                                   "); give each its own step");
      return false;
    }
    const Field& k = *kinds[0];
    const std::string& kind = k.name;
    if (auto* n = f.Get("next")) {
      if (kind == "branch" || kind == "split" || kind == "exit") {
        Error(KeyPos(*n), "a " + kind + " step takes no `next`" +
                              (kind == "branch"  ? "; use `- else: <step>` as its last case"
                               : kind == "split" ? "; each arm names its own `next`"
                                                 : ""));
      } else {
        step_refs_[i].explicit_next = true;
        step_refs_[i].next_pos = ValuePos(*n);
        Ref(*n, [i](Journey& j, int idx) { j.steps[i].next = idx; });
      }
    }
    if (kind == "send") {
      s.kind = StepKind::kSend;
      ParseSend(k, i);
    } else if (kind == "wait") {
      s.kind = StepKind::kWait;
      ParseWait(k, s);
    } else if (kind == "wait_for") {
      s.kind = StepKind::kWaitFor;
      ParseWaitFor(k, i);
    } else if (kind == "branch") {
      s.kind = StepKind::kBranch;
      ParseBranch(k, i);
    } else if (kind == "split") {
      s.kind = StepKind::kSplit;
      ParseSplit(k, i);
    } else if (kind == "update") {
      s.kind = StepKind::kUpdate;
      ParseUpdate(k, s);
    } else if (kind == "emit") {
      s.kind = StepKind::kEmit;
      Fields e;
      if (ReadMap(k.value, ValuePos(k), "emit", {"event", "properties"}, e)) {
        if (Require(e, "event", ValuePos(k), "emit")) {
          s.emit_event = EventName(*e.Get("event")).value_or("");
        }
        if (auto* x = e.Get("properties")) {
          s.emit_properties_json = ObjectJson(*x).value_or("{}");
        }
      }
    } else if (kind == "goto") {
      s.kind = StepKind::kGoto;
      Fields g;
      if (ReadMap(k.value, ValuePos(k), "goto", {"step", "max"}, g)) {
        if (Require(g, "step", ValuePos(k), "goto")) {
          Ref(*g.Get("step"), [i](Journey& j, int idx) { j.steps[i].goto_step = idx; });
          step_refs_[i].goto_pos = ValuePos(*g.Get("step"));
        }
        if (auto* x = g.Get("max")) {
          s.max_loops = static_cast<uint32_t>(Int(*x, 1, 1000).value_or(1));
        }
      }
    } else {
      s.kind = StepKind::kExit;
      s.exit_reason = Str(k).value_or("");
    }
    return ok;
  }

  void ParseSend(const Field& k, size_t i) {
    Step& s = j_.steps[i];
    Fields f;
    if (!ReadMap(k.value, ValuePos(k), "send", {"channel", "template", "params", "transactional"},
                 f)) {
      return;
    }
    if (auto* t = f.Get("transactional")) {
      if (auto b = Bool(*t)) s.transactional = *b ? 1 : 0;
    }
    if (Require(f, "channel", ValuePos(k), "send")) {
      const Field& c = *f.Get("channel");
      if (auto n = Name(c, true, "channel")) {
        s.channel = *n;
        sends_.push_back({i, ValuePos(c)});
      }
    }
    if (Require(f, "template", ValuePos(k), "send")) {
      s.template_name = Str(*f.Get("template")).value_or("");
    }
    if (auto* x = f.Get("params")) s.params_json = ObjectJson(*x).value_or("{}");
  }

  void ParseWait(const Field& k, Step& s) {
    if (k.value && k.value.IsScalar() && !k.value.Scalar().empty()) {
      // Shorthand: `wait: 2d`.
      s.wait_ms = Duration(k, Sign::kPositive).value_or(0);
      CheckLifetime(s.wait_ms, ValuePos(k), "this wait");
      return;
    }
    Fields f;
    if (!ReadMap(k.value, ValuePos(k), "wait", {"for", "at", "until", "offset"}, f)) return;
    if (!f.Has("for") && !f.Has("at") && !f.Has("until")) {
      Error(ValuePos(k),
            "wait needs `for` (a duration), `at` (a time of day) or `until` (a date "
            "trait)");
      return;
    }
    if (f.Has("for") && f.Has("until")) {
      Error(KeyPos(*f.Get("until")), "wait takes `for` or `until`, not both");
      return;
    }
    if (f.Has("offset") && !f.Has("until")) {
      Error(KeyPos(*f.Get("offset")), "`offset` goes with `until`");
      return;
    }
    if (auto* x = f.Get("for")) {
      s.wait_ms = Duration(*x, Sign::kPositive).value_or(0);
      CheckLifetime(s.wait_ms, ValuePos(*x), "this wait");
    }
    if (auto* x = f.Get("at")) s.at_minute = TimeOfDay(*x).value_or(-1);
    if (auto* x = f.Get("until")) {
      if (auto t = Str(*x)) {
        if (IsTraitPath(*t)) {
          s.until_trait = *t;
        } else {
          Error(ValuePos(*x), Quoted(*t) + " is not a trait name (letters, digits, _ and dots)");
        }
      }
    }
    if (auto* x = f.Get("offset")) s.until_offset_ms = Duration(*x, Sign::kAny).value_or(0);
  }

  void ParseWaitFor(const Field& k, size_t i) {
    Fields f;
    auto em = ParseEventMatch(k.value, ValuePos(k), "wait_for",
                              {"timeout", "lookback", "on_event", "on_timeout"}, f);
    if (!em) return;
    Step& s = j_.steps[i];
    s.awaited = std::move(*em);
    if (Require(f, "timeout", ValuePos(k), "wait_for")) {
      const Field& t = *f.Get("timeout");
      s.timeout_ms = Duration(t, Sign::kPositive).value_or(0);
      CheckLifetime(s.timeout_ms, ValuePos(t), "this timeout");
    }
    if (auto* x = f.Get("lookback")) {
      s.lookback_ms = Duration(*x, Sign::kNonNegative).value_or(0);
      CheckLifetime(s.lookback_ms, ValuePos(*x), "this lookback");
    }
    s.on_event = s.on_timeout = kUnset;
    if (auto* x = f.Get("on_event")) {
      Ref(*x, [i](Journey& j, int idx) { j.steps[i].on_event = idx; });
      on_event_pos_[i] = ValuePos(*x);
    }
    if (auto* x = f.Get("on_timeout")) {
      Ref(*x, [i](Journey& j, int idx) { j.steps[i].on_timeout = idx; });
      on_timeout_pos_[i] = ValuePos(*x);
    }
  }

  void ParseBranch(const Field& k, size_t i) {
    if (!k.value || !k.value.IsSequence() || k.value.size() == 0) {
      Error(ValuePos(k),
            "branch must be a list of cases (- if: ... next: ...), not " + KindOf(k.value));
      return;
    }
    const size_t n = k.value.size();
    size_t idx = 0;
    for (const auto& item : k.value) {
      ++idx;
      Fields c;
      if (!ReadMap(item, NodePos(item), "a branch case", {"if", "next", "else"}, c)) continue;
      if (auto* e = c.Get("else")) {
        if (c.Has("if") || c.Has("next")) {
          Error(KeyPos(*e), "`else` stands alone as the last case: `- else: <step>`");
          continue;
        }
        if (idx != n) {
          Error(KeyPos(*e), "`else` must be the last case of the branch");
          continue;
        }
        step_refs_[i].explicit_next = true;
        step_refs_[i].next_pos = ValuePos(*e);
        Ref(*e, [i](Journey& j, int t) { j.steps[i].next = t; });
        continue;
      }
      BranchCase bc;
      bc.pos = NodePos(item);
      if (!Require(c, "if", bc.pos, "a branch case") ||
          !Require(c, "next", bc.pos, "a branch case")) {
        continue;
      }
      bc.when = Cond(*c.Get("if"), CondPlace::kStep);
      const size_t case_index = j_.steps[i].cases.size();
      Ref(*c.Get("next"),
          [i, case_index](Journey& j, int t) { j.steps[i].cases[case_index].next = t; });
      j_.steps[i].cases.push_back(std::move(bc));
      case_pos_[{i, case_index}] = ValuePos(*c.Get("next"));
    }
    if (j_.steps[i].cases.empty()) {
      Error(ValuePos(k), "branch needs at least one `- if: ... next: ...` case");
    }
  }

  void ParseSplit(const Field& k, size_t i) {
    if (!k.value || !k.value.IsSequence() || k.value.size() < 2) {
      Error(ValuePos(k),
            "split must be a list of at least two arms "
            "(- arm: A, weight: 50, next: ...), not " +
                KindOf(k.value));
      return;
    }
    int64_t total = 0;
    bool weights_ok = true;
    std::set<std::string> names;
    for (const auto& item : k.value) {
      Fields a;
      const Pos pos = NodePos(item);
      if (!ReadMap(item, pos, "a split arm", {"arm", "weight", "next", "holdout"}, a)) {
        weights_ok = false;
        continue;
      }
      SplitArm arm;
      if (Require(a, "arm", pos, "a split arm")) {
        arm.name = Str(*a.Get("arm")).value_or("");
        if (!arm.name.empty() && !names.insert(arm.name).second) {
          Error(ValuePos(*a.Get("arm")), "duplicate arm " + Quoted(arm.name) + " in this split");
        }
      }
      if (Require(a, "weight", pos, "a split arm")) {
        auto w = Int(*a.Get("weight"), 0, 100);
        if (w) {
          arm.weight = static_cast<uint32_t>(*w);
          total += *w;
        } else {
          weights_ok = false;
        }
      } else {
        weights_ok = false;
      }
      if (auto* h = a.Get("holdout")) arm.holdout = Bool(*h).value_or(false);
      const size_t arm_index = j_.steps[i].arms.size();
      if (auto* nx = a.Get("next")) {
        if (arm.holdout) {
          Error(KeyPos(*nx), "a holdout arm sends nothing and exits; it takes no `next`");
        } else {
          Ref(*nx, [i, arm_index](Journey& j, int t) { j.steps[i].arms[arm_index].next = t; });
          arm_pos_[{i, arm_index}] = ValuePos(*nx);
        }
      } else if (!arm.holdout) {
        Error(pos, "arm " + Quoted(arm.name) +
                       " needs `next` (the step it goes to), or `holdout: true`");
      }
      j_.steps[i].arms.push_back(std::move(arm));
    }
    if (weights_ok && total != 100) {
      Error(ValuePos(k), "split weights add up to " + std::to_string(total) + ", not 100");
    }
  }

  void ParseUpdate(const Field& k, Step& s) {
    Fields f;
    if (!ReadMap(k.value, ValuePos(k), "update", {"set", "compute", "add_labels", "remove_labels"},
                 f)) {
      return;
    }
    std::set<std::string> traits;
    auto trait_key = [&](const YAML::Node& key) -> std::optional<std::string> {
      if (!key.IsScalar() || !IsTraitPath(key.Scalar())) {
        Error(NodePos(key), KindOf(key) + " is not a trait name (letters, digits, _ and dots)");
        return std::nullopt;
      }
      if (!traits.insert(key.Scalar()).second) {
        Error(NodePos(key), "trait " + Quoted(key.Scalar()) + " is set twice in this update");
        return std::nullopt;
      }
      return key.Scalar();
    };
    if (auto* x = f.Get("set")) {
      if (x->value && x->value.IsMap()) {
        for (const auto& [key, value] : Entries(x->value)) {
          auto name = trait_key(key);
          if (!name) continue;
          size_t budget = kMaxLiteralNodes;
          Field v{*name, key, value};
          auto json = Literal(value, ValuePos(v), 0, budget);
          if (!json) continue;
          s.set_traits.push_back(TraitUpdate{*name, json->dump(), {}});
        }
      } else if (x->value && !x->value.IsNull()) {
        Error(ValuePos(*x), "set must map trait names to values, not " + KindOf(x->value));
      }
    }
    if (auto* x = f.Get("compute")) {
      if (x->value && x->value.IsMap()) {
        for (const auto& [key, value] : Entries(x->value)) {
          auto name = trait_key(key);
          if (!name) continue;
          Field v{*name, key, value};
          s.set_traits.push_back(TraitUpdate{*name, "", Cond(v, CondPlace::kStep, false)});
        }
      } else if (x->value && !x->value.IsNull()) {
        Error(ValuePos(*x), "compute must map trait names to expressions, not " + KindOf(x->value));
      }
    }
    if (auto* x = f.Get("add_labels")) s.add_labels = StringList(*x);
    if (auto* x = f.Get("remove_labels")) s.remove_labels = StringList(*x);
    if (f.all().empty() && !f.had_unknown()) {
      Error(ValuePos(k), "update changes nothing; give set, compute, add_labels or remove_labels");
    }
  }

  // ---- after all steps

  void ResolveRefs() {
    std::vector<std::string> ids;
    for (const auto& s : j_.steps) {
      if (!s.id.empty()) ids.push_back(s.id);
    }
    for (auto& r : refs_) {
      const int idx = j_.StepIndex(r.id);
      if (idx == kNoStep) {
        Error(r.pos, "no step " + Quoted(r.id) + " in this journey" + DidYouMean(r.id, ids));
        steps_broken_ = true;
        continue;
      }
      r.set(j_, idx);
    }
    // wait_for: on_event / on_timeout default to `next`.
    for (size_t i = 0; i < j_.steps.size(); ++i) {
      Step& s = j_.steps[i];
      if (s.kind != StepKind::kWaitFor) continue;
      if (s.on_event == kUnset) s.on_event = s.next;
      if (s.on_timeout == kUnset) s.on_timeout = s.next;
    }
    // Graph edges with the places they were written.
    for (size_t i = 0; i < j_.steps.size(); ++i) {
      auto& sr = step_refs_[i];
      if (auto it = on_event_pos_.find(i); it != on_event_pos_.end()) sr.on_event_pos = it->second;
      if (auto it = on_timeout_pos_.find(i); it != on_timeout_pos_.end()) {
        sr.on_timeout_pos = it->second;
      }
      for (const auto& [key, pos] : case_pos_) {
        if (key.first == i) sr.case_pos.push_back(pos);
      }
      for (const auto& [key, pos] : arm_pos_) {
        if (key.first != i) continue;
        sr.arm_pos.resize(key.second + 1, sr.next_pos);
        sr.arm_pos[key.second] = pos;
      }
      sr.id_pos = id_pos_.size() > i ? id_pos_[i] : j_.steps[i].pos;
    }
  }

  void CheckSends() {
    for (const auto& [i, pos] : sends_) {
      const std::string& channel = j_.steps[i].channel;
      if (!j_.consent.count(channel)) {
        Error(pos, "channel " + Quoted(channel) + " has no consent rule; add `" + channel +
                       ": implied` (unless opted out) or `" + channel +
                       ": explicit` (only if opted in) under who.consent");
      }
    }
  }

  static constexpr int kUnset = -2;

  inline static const std::vector<std::string> kTopKeys = {
      "journey",  "version",       "description",    "owner",       "priority",
      "timezone", "max_lifetime",  "on_new_version", "migrate",     "paused",
      "when",     "who",           "entry",          "exit_when",   "goal",
      "steps",    "transactional", "on_cap",         "max_deferral"};
  inline static const std::vector<std::string> kWhenKeys = {
      "event", "trait_changed", "absence", "date", "schedule",
      "where", "for",           "offset",  "at",   "yearly"};
  inline static const std::vector<std::string> kStepKinds = {
      "send", "wait", "wait_for", "branch", "split", "update", "emit", "goto", "exit"};
  inline static const std::vector<std::string> kStepKeys = {"id",       "next",   "send",  "wait",
                                                            "wait_for", "branch", "split", "update",
                                                            "emit",     "goto",   "exit"};

  Journey j_;
  std::vector<PendingRef> refs_;
  std::vector<StepGraphRefs> step_refs_;
  std::vector<Pos> id_pos_;
  std::map<size_t, Pos> on_event_pos_;
  std::map<size_t, Pos> on_timeout_pos_;
  std::map<std::pair<size_t, size_t>, Pos> case_pos_;
  std::map<std::pair<size_t, size_t>, Pos> arm_pos_;
  std::vector<std::pair<size_t, Pos>> sends_;
  bool steps_broken_ = false;
};

bool IsJourneyFile(const std::filesystem::path& p) {
  const auto ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml";
}

}  // namespace

LoadResult LoadJourney(std::string_view yaml_text, const std::string& file) {
  return Loader(yaml_text, file).Run();
}

LoadResult LoadJourneyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadResult r;
    r.diagnostics.push_back(Diagnostic{path, Pos{}, "cannot read the file"});
    return r;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return LoadJourney(text.str(), path);
}

LoadedSet LoadJourneyPaths(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  LoadedSet set;
  std::vector<std::string> files;
  for (const auto& path : paths) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      std::vector<std::string> in_dir;
      for (const auto& entry : fs::directory_iterator(path, ec)) {
        std::error_code ec2;
        if (IsJourneyFile(entry.path()) && entry.is_regular_file(ec2)) {
          in_dir.push_back(entry.path().string());
        }
      }
      if (ec) {
        set.diagnostics.push_back(Diagnostic{path, Pos{}, "cannot list: " + ec.message()});
      }
      std::sort(in_dir.begin(), in_dir.end());
      files.insert(files.end(), in_dir.begin(), in_dir.end());
    } else if (fs::exists(path, ec)) {
      files.push_back(path);
    } else {
      set.diagnostics.push_back(Diagnostic{path, Pos{}, "no such file or directory"});
    }
  }
  std::map<std::string, std::string> names;  // journey -> the first file defining it
  std::set<std::string> seen;                // a file given twice is loaded once
  for (const auto& file : files) {
    std::error_code ec;
    const auto canonical = fs::weakly_canonical(file, ec);
    if (!seen.insert(ec ? file : canonical.string()).second) continue;
    ++set.files;
    LoadResult r = LoadJourneyFile(file);
    set.diagnostics.insert(set.diagnostics.end(), r.diagnostics.begin(), r.diagnostics.end());
    if (!r.journey) continue;
    Journey& j = *r.journey;
    auto [it, inserted] = names.emplace(j.name, file);
    if (!inserted) {
      // Point at the `journey:` line: the first line holding the name.
      Pos pos{1, 1};
      std::istringstream lines(j.source);
      int n = 0;
      for (std::string line; std::getline(lines, line);) {
        ++n;
        if (line.rfind("journey:", 0) == 0) {
          const size_t col = line.find(j.name);
          pos = Pos{n, col == std::string::npos ? 1 : static_cast<int>(col) + 1};
          break;
        }
      }
      set.diagnostics.push_back(
          Diagnostic{file, pos, "journey " + Quoted(j.name) + " is also defined in " + it->second});
      continue;
    }
    set.journeys.push_back(std::move(j));
  }
  return set;
}

LoadedSet LoadJourneyDir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    LoadedSet set;
    set.diagnostics.push_back(Diagnostic{dir, Pos{}, "not a directory"});
    return set;
  }
  return LoadJourneyPaths({dir});
}

}  // namespace cairn::journey
