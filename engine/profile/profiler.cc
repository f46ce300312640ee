#include "profile/profiler.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

#include "cairn/fnv1a.h"
#include "cairn/json_text.h"
#include "cairn/quantile_sketch.h"
#include "cairn/time.h"
#include "profile/eval_scope.h"
#include "profile/values.h"

namespace cairn::profile {
namespace {

constexpr int64_t kDayMs = int64_t{24} * 3600 * 1000;
constexpr TimestampMs kNever = std::numeric_limits<TimestampMs>::max();

bool Contains(const google::protobuf::RepeatedPtrField<std::string>& list, std::string_view v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

void Remove(google::protobuf::RepeatedPtrField<std::string>* list, std::string_view v) {
  for (int i = 0; i < list->size(); ++i) {
    if (list->Get(i) == v) {
      list->DeleteSubrange(i, 1);
      return;
    }
  }
}

void InsertSorted(google::protobuf::RepeatedPtrField<std::string>* list, const std::string& v) {
  list->Add(std::string(v));
  for (int i = list->size() - 1; i > 0 && list->Get(i - 1) > list->Get(i); --i) {
    list->SwapElements(i, i - 1);
  }
}

// Moves one customer from the `from` bucket to the `to` bucket ("" = none).
void Count(google::protobuf::Map<std::string, int64_t>& counts, const std::string& from,
           const std::string& to) {
  if (!from.empty()) {
    auto it = counts.find(from);
    if (it != counts.end() && --it->second <= 0) counts.erase(it);
  }
  if (!to.empty()) counts[to]++;
}

int ScoreAscending(double v, const std::array<double, 4>& t) {
  int s = 1;
  for (double x : t) {
    if (v >= x) ++s;
  }
  return s;
}

// EventRecord for the stage's own events, written directly into `rec` (the
// same bytes: keys in nlohmann's sorted order, properties already compact
// JSON), without building a JSON tree. `rec` is refilled in place: its
// strings and header keep their buffers, as a segment may change with every
// event. `name` and `message_id` need no escaping (the stage's own event
// names; "prof-<hex>-<n>").
void FillProfileEventRecord(std::string_view topic, std::string_view customer,
                            std::string_view name, std::string_view message_id, TimestampMs now,
                            std::string_view properties_json, v1::OutboxRecord& rec) {
  std::string& value = *rec.mutable_value();
  value.clear();
  value += R"({"context":{"cairn":{"source":"profile"}},"event":")";
  value += name;
  value += R"(","messageId":")";
  value += message_id;
  value += R"(","properties":)";
  value += properties_json;
  value += R"(,"timestamp":")";
  AppendTimestamp(now, value);
  value += R"(","type":"track","userId":)";
  AppendJsonString(customer, value);
  value += '}';
  rec.mutable_topic()->assign(topic);
  rec.mutable_key()->assign(customer);
  if (rec.headers().empty()) (*rec.mutable_headers())["content-type"] = "application/json";
}

// "prof-<16 hex digits of the customer's hash>-<n>": the stage's own
// events' messageIds, formatted without an allocation.
struct MessageId {
  MessageId(uint64_t customer_hash, uint64_t n) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::memcpy(text, "prof-", 5);
    for (int k = 15; k >= 0; --k, customer_hash >>= 4) text[5 + k] = kHex[customer_hash & 15];
    text[21] = '-';
    char digits[20];
    int d = 0;
    do {
      digits[d++] = static_cast<char>('0' + n % 10);
      n /= 10;
    } while (n > 0);
    size = 22;
    while (d > 0) text[size++] = digits[--d];
  }
  std::string_view view() const { return {text, size}; }
  char text[42];
  size_t size = 0;
};

// A flag per index (computed trait, segment), without a heap allocation
// for up to 256.
class IndexFlags {
 public:
  explicit IndexFlags(size_t n) : n_(n) {
    if (n > inline_.size()) {
      heap_.assign(n, 0);
    } else {
      std::fill_n(inline_.begin(), n, 0);  // only the flags in use
    }
  }
  char& operator[](size_t i) { return n_ > inline_.size() ? heap_[i] : inline_[i]; }
  char operator[](size_t i) const { return n_ > inline_.size() ? heap_[i] : inline_[i]; }

 private:
  size_t n_;
  std::array<char, 256> inline_;
  std::vector<char> heap_;
};

// One derivation pass over one customer.
class Deriver {
 public:
  Deriver(const Model& m, const Context& ctx, v1::CustomerState& c)
      : m_(m),
        ctx_(ctx),
        c_(c),
        p_(*c.mutable_profile()),
        scope_(c, ctx.now),
        dirty_(m.traits.size()) {
    // A new model (or a customer never derived): evaluate everything once.
    // The fingerprint catches a model changed across a restart, where the
    // catalog generation starts again at 1.
    if (p_.generation() != ctx.generation || p_.model_fingerprint() != m.fingerprint ||
        !LaidOut(m, p_)) {
      Align(m, p_);
      MarkTraitsDirty();
      p_.set_model_fingerprint(m.fingerprint);
      p_.set_segment_mask_check(0);  // the names say who is in which segment
    }
    if (p_.segments_size() > 0) {  // the list of an older record (or binary): the truth
      WriteNames(SegmentNames(p_));
      p_.clear_segments();
      p_.set_segment_mask_check(0);
    }
    scope_.SetProfile(&m, /*aligned=*/true);
    if (!m.traits_read.empty()) scope_.SetTraitFilter(&m.traits_read);
    p_.set_generation(ctx.generation);
  }

  // Everything a condition may read of `traits` changed.
  void MarkTraitsDirty() { traits_dirty_ = all_dirty_ = true; }

  EvalScope& scope() { return scope_; }

  void FoldEvent(const Event& e) {
    if (e.name == kLabelsUpdated) ApplyLabels(e);
    if (e.type == EventType::kIdentify) MarkTraitsDirty();
    auto it = m_.traits_by_event.find(e.name);
    if (it == m_.traits_by_event.end()) return;
    PropertyCache cache(e);
    EventView view;
    bool view_set = false;
    // One list per thread, emptied: it keeps its capacity from event to event.
    thread_local std::vector<TraitOccurrence> occurrences;
    occurrences.clear();
    for (int i : it->second) {
      const ComputedTrait& t = m_.traits[static_cast<size_t>(i)];
      if (!t.where.empty()) {
        // It may read traits this event folded into already.
        FoldAll(m_, occurrences, *p_.mutable_computed());
        occurrences.clear();
        if (!view_set) {
          view = EventView::Of(e);
          scope_.SetEvent(&view);
          view_set = true;
        }
        std::string error;
        if (!scope_.Test(t.where, &error)) {
          if (!error.empty()) Trace("trait", t.name, "where: " + error);
          continue;
        }
      }
      auto o = Extract(t, e, cache);
      if (!o) continue;
      occurrences.push_back({static_cast<size_t>(i), std::move(*o)});
      traits_dirty_ = true;
      dirty_[static_cast<size_t>(i)] = 1;
    }
    FoldAll(m_, occurrences, *p_.mutable_computed());
    if (view_set) scope_.SetEvent(nullptr);
    scope_.InvalidateCustomer();
  }

  void Derive(const Event* e) {
    // Prune windows. Until window_due_ms no first entry leaves its window,
    // so only the windows this event added to are looked at (a late event
    // may be out of its window on arrival).
    TimestampMs due = p_.window_due_ms();
    const bool all = all_dirty_ || due == 0 || ctx_.now >= due;
    if (all) due = kNever;
    IndexFlags selected(m_.traits.size()), changed(m_.traits.size());
    for (size_t i = 0; i < m_.traits.size(); ++i) selected[i] = all || dirty_[i] != 0;
    const TimestampMs first_out =
        ExpireAll(m_, &selected[0], ctx_.now, *p_.mutable_computed(), &changed[0]);
    if (first_out > 0) due = std::min(due, first_out);
    for (size_t i = 0; i < m_.traits.size(); ++i) {
      if (changed[i] == 0) continue;
      traits_dirty_ = true;
      dirty_[i] = 1;
    }
    p_.set_window_due_ms(due);
    next_ = due;
    if (traits_dirty_) scope_.InvalidateTraits();
    if (m_.rfm.declared) Rfm();
    if (m_.lifecycle.declared) Lifecycle(e);
    if (!m_.labels.empty()) LabelRules();
    if (!m_.segments.empty()) Segments();
    ArmTimer();
  }

 private:
  // ---- labels from events

  void ApplyLabels(const Event& e) {
    auto j = nlohmann::json::parse(e.properties_json, nullptr, false);
    if (!j.is_object()) return;
    auto* labels = c_.mutable_labels();
    std::vector<std::string> added, removed;
    if (auto it = j.find("remove"); it != j.end() && it->is_array()) {
      for (const auto& l : *it) {
        if (!l.is_string() || !Contains(*labels, l.get<std::string>())) continue;
        Remove(labels, l.get<std::string>());
        removed.push_back(l.get<std::string>());
      }
    }
    if (auto it = j.find("add"); it != j.end() && it->is_array()) {
      for (const auto& l : *it) {
        if (!l.is_string() || l.get<std::string>().empty() ||
            Contains(*labels, l.get<std::string>())) {
          continue;
        }
        labels->Add(l.get<std::string>());
        added.push_back(l.get<std::string>());
      }
    }
    if (!added.empty() || !removed.empty()) {
      Trace("labels", "",
            fmt::format("+[{}] -[{}]", fmt::join(added, ", "), fmt::join(removed, ", ")));
    }
  }

  // ---- RFM

  void Rfm() {
    const auto& r = m_.rfm;
    const RfmThresholds* th = nullptr;
    RfmThresholds own;
    if (r.mode == RfmMode::kThresholds) {
      own.recency_ms = r.recency_ms;
      own.frequency = r.frequency;
      own.monetary = r.monetary;
      own.ready = true;
      th = &own;
    } else if (ctx_.rfm_quantiles != nullptr && ctx_.rfm_quantiles->ready) {
      th = ctx_.rfm_quantiles;
    }
    auto value = [&](int trait) {
      return ComputedValue(m_, static_cast<size_t>(trait), &p_.computed(), ctx_.now);
    };
    const expr::Value rv = value(r.recency_trait);
    const expr::Value fv = value(r.frequency_trait);
    const expr::Value mv = value(r.monetary_trait);
    auto number = [](const expr::Value& v) {
      switch (v.kind()) {
        case expr::Kind::kInt:
          return static_cast<double>(v.int_value());
        case expr::Kind::kUint:
          return static_cast<double>(v.uint_value());
        case expr::Kind::kDouble:
          return v.double_value();
        default:
          return 0.0;
      }
    };
    const bool has_recency = rv.kind() == expr::Kind::kTimestamp;
    const TimestampMs recency_at = has_recency ? rv.millis() : 0;
    const double f = number(fv);
    const double mo = number(mv);
    UpdateRfmStats(has_recency, recency_at, f, mo);

    int rs = 0, fs = 0, ms = 0;
    if (has_recency && th != nullptr) {
      const double age = static_cast<double>(ctx_.now - recency_at);
      rs = 1;
      for (int i = 3; i >= 0; --i) {
        if (age <= th->recency_ms[static_cast<size_t>(i)]) rs = 5 - i;
      }
      // The score drops when the age passes the threshold it is under.
      for (double x : th->recency_ms) {
        const auto due = recency_at + static_cast<TimestampMs>(x) + 1;
        if (due > ctx_.now) {
          next_ = std::min(next_, due);
          break;
        }
      }
      fs = ScoreAscending(f, th->frequency);
      ms = ScoreAscending(mo, th->monetary);
    }
    const bool changed = rs != p_.rfm_r() || fs != p_.rfm_f() || ms != p_.rfm_m();
    if (changed) {
      p_.set_rfm_r(rs);
      p_.set_rfm_f(fs);
      p_.set_rfm_m(ms);
      traits_dirty_ = rfm_dirty_ = true;
      scope_.InvalidateTraits();
    }
    if (!traits_dirty_ && !m_.rfm_groups_read_customer) return;
    std::string group;
    if (rs > 0) {
      for (const auto& g : r.groups) {
        std::string error;
        if (scope_.Test(g.when, &error)) {
          group = g.name;
          break;
        }
        if (!error.empty()) Trace("rfm", g.name, "group condition: " + error);
      }
    }
    if (group != p_.rfm_group()) {
      Trace("rfm", group, fmt::format("R{} F{} M{}", rs, fs, ms));
      if (ctx_.stats != nullptr) Count(*ctx_.stats->mutable_rfm_groups(), p_.rfm_group(), group);
      p_.set_rfm_group(group);
      traits_dirty_ = rfm_dirty_ = true;
      scope_.InvalidateTraits();
    }
  }

  void UpdateRfmStats(bool has_recency, TimestampMs recency_at, double f, double mo) {
    const int64_t day = has_recency ? recency_at / kDayMs : -1;
    const bool was = p_.in_rfm_stats() && p_.rfm_recency_day() >= 0;  // was a scored customer
    if (ctx_.stats != nullptr && (day != p_.rfm_recency_day() || !p_.in_rfm_stats())) {
      auto& days = *ctx_.stats->mutable_recency_days();
      if (was) {
        auto it = days.find(p_.rfm_recency_day());
        if (it != days.end() && it->second > 0 && --it->second == 0) days.erase(it);
      }
      if (day >= 0) days[day]++;
    }
    if (ctx_.stats != nullptr) {
      // Frequency and monetary of scored customers, for quantile cut points.
      MoveInSketch(*ctx_.stats->mutable_frequency(), was, p_.rfm_frequency(), day >= 0, f);
      MoveInSketch(*ctx_.stats->mutable_monetary(), was, p_.rfm_monetary(), day >= 0, mo);
    }
    p_.set_in_rfm_stats(true);
    p_.set_rfm_recency_day(day);
    p_.set_rfm_frequency(f);
    p_.set_rfm_monetary(mo);
  }

  static void MoveInSketch(v1::QuantileSketch& proto, bool had, double old_value, bool has,
                           double value) {
    if (had == has && (!has || old_value == value)) return;
    QuantileSketch sketch;  // an unreadable one starts again
    if (proto.relative_accuracy() > 0) {
      if (auto r = QuantileSketch::FromProto(proto); r.ok()) sketch = std::move(*r);
    }
    if (had) (void)sketch.Remove(std::max(0.0, old_value));
    if (has) (void)sketch.Add(std::max(0.0, value));
    proto.Clear();
    sketch.ToProto(&proto);
  }

  // ---- lifecycle

  TimestampMs LastSeenOf(const std::string& event) const {
    for (const auto& s : c_.events()) {
      if (s.name() == event) return s.last_at_ms();
    }
    return c_.first_seen_ms();
  }

  void Lifecycle(const Event* e) {
    const auto& lc = m_.lifecycle;
    if (p_.stage().empty()) {
      SetStage(lc.initial, "initial stage");
    }
    for (size_t round = 0; round <= lc.stages.size(); ++round) {
      const Transition* taken = nullptr;
      for (const auto& t : lc.transitions) {
        if (t.to == p_.stage()) continue;
        if (!t.from.empty() &&
            std::find(t.from.begin(), t.from.end(), p_.stage()) == t.from.end()) {
          continue;
        }
        if (!t.on_event.empty() && (round > 0 || e == nullptr || e->name != t.on_event)) continue;
        if (t.idle_ms > 0) {
          const TimestampMs due = LastSeenOf(t.idle_event) + t.idle_ms;
          if (due > ctx_.now) {
            next_ = std::min(next_, due);
            continue;
          }
        }
        std::string error;
        if (!scope_.Test(t.when, &error)) {
          if (!error.empty()) Trace("stage", t.to, "transition condition: " + error);
          continue;
        }
        taken = &t;
        break;
      }
      if (taken == nullptr) break;
      std::string why = taken->on_event.empty() ? "" : "on " + taken->on_event;
      if (taken->idle_ms > 0) {
        why += (why.empty() ? "" : ", ") +
               fmt::format("no {} for {}", taken->idle_event, FormatDurationMs(taken->idle_ms));
      }
      if (!taken->when.empty()) why += (why.empty() ? "" : ", ") + taken->when.source;
      SetStage(taken->to, why);
    }
    // Timers of idle transitions out of the final stage.
    for (const auto& t : lc.transitions) {
      if (t.idle_ms <= 0 || t.to == p_.stage()) continue;
      if (!t.from.empty() && std::find(t.from.begin(), t.from.end(), p_.stage()) == t.from.end()) {
        continue;
      }
      const TimestampMs due = LastSeenOf(t.idle_event) + t.idle_ms;
      if (due > ctx_.now) next_ = std::min(next_, due);
    }
  }

  void SetStage(const std::string& to, const std::string& why) {
    const std::string from = p_.stage();
    if (ctx_.stats != nullptr) Count(*ctx_.stats->mutable_stages(), from, to);
    p_.set_stage(to);
    p_.set_stage_since_ms(ctx_.now);
    scope_.InvalidateCustomerOnly();
    std::string props = R"({"from":)";
    if (from.empty()) {
      props += "null";
    } else {
      AppendJsonString(from, props);
    }
    props += R"(,"to":)";
    AppendJsonString(to, props);
    props += '}';
    EmitEvent(kStageChanged, props);
    Trace(
        "stage", to,
        (from.empty() ? std::string("entered") : "from " + from) + (why.empty() ? "" : ": " + why));
  }

  // ---- rule labels and segments

  // `when`, read straight from the computed traits when `tests[i]` (the
  // model's NumericTests of these conditions) answers, else through the
  // scope.
  bool Test(const std::vector<NumericTest>& tests, size_t i, const journey::Condition& when,
            std::string* error) {
    if (i < tests.size()) {  // always, after Model::Finish()
      if (auto holds = EvalNumericTest(m_, tests[i], p_.computed(), ctx_.now)) return *holds;
    }
    return scope_.Test(when, error);
  }

  // Whether something the condition reads of `traits` changed in this pass
  // (a condition over unchanged inputs gives the same answer again).
  bool Changed(const Model::TraitReads& r) const {
    if (!traits_dirty_) return false;
    if (all_dirty_ || r.all || (r.rfm && rfm_dirty_)) return true;
    for (int i : r.traits) {
      if (dirty_[static_cast<size_t>(i)] != 0) return true;
    }
    return false;
  }

  void LabelRules() {
    for (size_t i = 0; i < m_.labels.size(); ++i) {
      const auto& rule = m_.labels[i];
      if (!m_.label_reads_customer[i] && !Changed(m_.label_reads[i])) continue;
      std::string error;
      const bool holds = Test(m_.label_tests, i, rule.when, &error);
      if (!error.empty()) Trace("label", rule.label, "rule condition: " + error);
      const bool owned = Contains(p_.rule_labels(), rule.label);
      if (holds && !owned) {
        InsertSorted(p_.mutable_rule_labels(), rule.label);
        if (!Contains(c_.labels(), rule.label)) c_.add_labels(rule.label);
        scope_.InvalidateCustomerOnly();
        Trace("label", rule.label, "added by rule");
      } else if (!holds && owned && error.empty()) {
        Remove(p_.mutable_rule_labels(), rule.label);
        Remove(c_.mutable_labels(), rule.label);
        scope_.InvalidateCustomerOnly();
        Trace("label", rule.label, "removed by rule");
      }
    }
  }

  // Membership before this pass, by segment index, into `member`; returns
  // it as a mask when the model allows one (up to 64 segments) and every
  // name is one of its segments. Reads the stored mask when it is valid
  // (see ProfileState.segment_mask), else the names.
  std::optional<uint64_t> SegmentMask(IndexFlags& member) const {
    const bool masked = !m_.segments_by_name.empty();
    const std::string& names = p_.segment_names();
    // The bit count guards against an earlier binary that read this record
    // as in no segment and left a valid mask of none behind.
    if (masked && p_.segment_mask_check() == p_.emitted() + 1 &&
        std::popcount(p_.segment_mask()) == std::count(names.begin(), names.end(), '\n')) {
      const uint64_t mask = p_.segment_mask();
      for (size_t i = 0; i < m_.segments.size(); ++i) member[i] = (mask >> i) & 1;
      return mask;
    }
    uint64_t mask = 0;
    bool exact = masked;
    for (std::string_view name : SegmentNames(p_)) {
      auto it = m_.segment_index.find(name);
      if (it == m_.segment_index.end()) {
        exact = false;
        continue;
      }
      member[static_cast<size_t>(it->second)] = 1;
      mask |= uint64_t{1} << (it->second & 63);
    }
    if (!exact) return std::nullopt;
    return mask;
  }

  // segment_names from sorted names (which may point into it).
  void WriteNames(const std::vector<std::string_view>& sorted) {
    std::string joined;
    for (std::string_view n : sorted) {
      joined += n;
      joined += '\n';
    }
    p_.set_segment_names(std::move(joined));
  }

  // segment_names from a membership mask over the model's segments, in
  // place (the string keeps its capacity).
  void WriteNames(uint64_t mask) {
    std::string& names = *p_.mutable_segment_names();
    names.clear();
    for (int i : m_.segments_by_name) {
      if (((mask >> i) & 1) == 0) continue;
      names += m_.segments[static_cast<size_t>(i)].name;
      names += '\n';
    }
  }

  void Segments() {
    IndexFlags member(m_.segments.size());
    std::optional<uint64_t> mask;
    std::vector<std::string_view> names;  // without a mask: the sorted names, edited
    bool read = false;
    for (size_t i = 0; i < m_.segments.size(); ++i) {
      const auto& seg = m_.segments[i];
      if (!m_.segment_reads_customer[i] && !Changed(m_.segment_reads[i])) continue;
      std::string error;
      const bool holds = Test(m_.segment_tests, i, seg.when, &error);
      if (!error.empty()) {
        Trace("segment", seg.name, "condition: " + error);
        continue;  // an error changes nothing (no flapping on bad data)
      }
      if (!read) {
        mask = SegmentMask(member);
        if (!mask) names = SegmentNames(p_);
        read = true;
      }
      if (holds == (member[i] != 0)) continue;
      member[i] = holds ? 1 : 0;
      // The names are written at once: a later condition may read
      // customer.segments.
      if (mask) {
        *mask ^= uint64_t{1} << i;
        WriteNames(*mask);
      } else {
        auto it = std::lower_bound(names.begin(), names.end(), std::string_view(seg.name));
        if (holds) {
          names.insert(it, seg.name);
        } else if (it != names.end() && *it == seg.name) {
          names.erase(it);
        }
        WriteNames(names);  // copies first: `names` may point into the old string
        names = SegmentNames(p_);
      }
      if (ctx_.stats != nullptr) {
        Count(*ctx_.stats->mutable_segments(), holds ? "" : seg.name, holds ? seg.name : "");
      }
      if (ctx_.sink != nullptr)
        ctx_.sink->SetSegmentMember(seg.name, ctx_.partition, c_.id(), holds);
      EmitEvent(holds ? kSegmentEntered : kSegmentExited, seg.event_properties);
      Trace("segment", seg.name, holds ? "entered" : "exited");
      scope_.InvalidateCustomerOnly();
    }
    if (!read) return;
    p_.set_segment_mask(mask.value_or(0));
    p_.set_segment_mask_check(mask ? p_.emitted() + 1 : 0);
  }

 public:
  // ---- leaving (identity merge)

  // Takes the customer out of the partition's live counts and member index.
  void Forget() {
    if (ctx_.stats != nullptr) ForgetCustomer(p_, *ctx_.stats);
    if (ctx_.sink != nullptr) {
      for (std::string_view seg : SegmentNames(p_))
        ctx_.sink->SetSegmentMember(seg, ctx_.partition, c_.id(), false);
    }
    c_.clear_profile();
  }

 private:
  // ---- effects

  // `properties_json`: a compact JSON object.
  void EmitEvent(std::string_view name, std::string_view properties_json) {
    if (ctx_.sink == nullptr) return;
    // A valid segment mask stays valid: this binary keeps it in step.
    if (p_.segment_mask_check() == p_.emitted() + 1) p_.set_segment_mask_check(p_.emitted() + 2);
    p_.set_emitted(p_.emitted() + 1);
    // One record per thread, refilled: a fresh one costs a dozen allocations.
    thread_local v1::OutboxRecord rec;
    FillProfileEventRecord(ctx_.events_topic, c_.id(), name,
                           MessageId(Fnv1a64(c_.id()), p_.emitted()).view(), ctx_.now,
                           properties_json, rec);
    ctx_.sink->Publish(rec);
  }

  void Trace(std::string_view action, std::string_view subject, std::string_view reason) {
    if (ctx_.sink == nullptr) return;
    // One entry per thread, refilled (as the record above); the stage sets
    // no other field.
    thread_local v1::TraceEntry e;
    e.set_at_ms(ctx_.now);
    e.mutable_customer()->assign(c_.id());
    e.mutable_action()->assign(action);
    e.mutable_step()->assign(subject);
    e.mutable_reason()->assign(reason);
    e.set_seq(c_.next_trace_seq());
    c_.set_next_trace_seq(c_.next_trace_seq() + 1);
    ctx_.sink->Record(e);
  }

  void ArmTimer() {
    const TimestampMs due = next_ == kNever ? 0 : std::max(next_, ctx_.now + 1);
    if (due == p_.due_ms()) return;
    // A timer armed earlier and still ahead is kept: it fires early, finds
    // nothing due and arms the next. Cheaper than replacing it each time an
    // event moves the due later (most events do, as windows slide); the
    // armed time never passes the true one, so expiry stays exact.
    if (p_.due_ms() > ctx_.now && (due == 0 || p_.due_ms() < due)) return;
    p_.set_due_ms(due);
    if (due == 0 || ctx_.sink == nullptr) {
      p_.set_due_tag(0);
      return;
    }
    c_.set_next_timer_tag(c_.next_timer_tag() + 1);
    timer::Timer t;
    t.partition = ctx_.partition;
    t.due_ms = due;
    t.customer_id = c_.id();
    t.tag = c_.next_timer_tag();
    v1::TimerPayload payload;
    payload.set_kind(v1::TimerPayload::PROFILE);
    payload.SerializeToString(&t.payload);
    p_.set_due_tag(t.tag);
    ctx_.sink->AddTimer(t);
  }

  const Model& m_;
  const Context& ctx_;
  v1::CustomerState& c_;
  v1::ProfileState& p_;
  EvalScope scope_;
  TimestampMs next_ = kNever;
  bool traits_dirty_ = false;  // computed values or scores changed in this pass
  bool all_dirty_ = false;     // ... all of them (identify, new model, time passed)
  bool rfm_dirty_ = false;     // ... the RFM scores or group
  IndexFlags dirty_;           // ... this computed trait (by index)
};

}  // namespace

void OnEvent(const Model& model, const Context& ctx, v1::CustomerState& customer,
             const Event& event) {
  if (model.empty() && event.name != kLabelsUpdated) return;
  Deriver d(model, ctx, customer);
  d.FoldEvent(event);
  d.Derive(&event);
}

void OnTimer(const Model& model, const Context& ctx, v1::CustomerState& customer,
             const timer::Timer& timer) {
  auto& p = *customer.mutable_profile();
  if (timer.tag != p.due_tag() || p.due_ms() == 0) return;  // stale: a later one replaced it
  p.set_due_ms(0);
  p.set_due_tag(0);
  if (model.empty()) return;
  Deriver d(model, ctx, customer);
  d.MarkTraitsDirty();  // time passed: windows, recency
  d.Derive(nullptr);
}

std::vector<std::string_view> SegmentNames(const v1::ProfileState& p) {
  std::vector<std::string_view> out;
  if (p.segments_size() > 0) {  // an older record, or one an older binary wrote since
    for (const auto& s : p.segments()) out.push_back(s);
    return out;
  }
  std::string_view names = p.segment_names();
  for (size_t nl = names.find('\n'); nl != std::string_view::npos; nl = names.find('\n')) {
    out.push_back(names.substr(0, nl));
    names.remove_prefix(nl + 1);
  }
  return out;
}

void ForgetCustomer(const v1::ProfileState& p, v1::ProfileStats& stats) {
  for (std::string_view seg : SegmentNames(p))
    Count(*stats.mutable_segments(), std::string(seg), "");
  if (!p.stage().empty()) Count(*stats.mutable_stages(), p.stage(), "");
  if (!p.rfm_group().empty()) Count(*stats.mutable_rfm_groups(), p.rfm_group(), "");
  if (p.in_rfm_stats() && p.rfm_recency_day() >= 0) {
    auto& days = *stats.mutable_recency_days();
    auto it = days.find(p.rfm_recency_day());
    if (it != days.end() && it->second > 0 && --it->second == 0) days.erase(it);
    for (auto [proto, value] : {std::pair{stats.mutable_frequency(), p.rfm_frequency()},
                                std::pair{stats.mutable_monetary(), p.rfm_monetary()}}) {
      if (proto->relative_accuracy() <= 0) continue;
      auto sketch = QuantileSketch::FromProto(*proto);
      if (!sketch.ok()) continue;
      (void)sketch->Remove(std::max(0.0, value));
      proto->Clear();
      sketch->ToProto(proto);
    }
  }
}

void Rederive(const Model& model, const Context& ctx, v1::CustomerState& customer) {
  if (model.empty()) return;
  Deriver d(model, ctx, customer);
  d.MarkTraitsDirty();
  d.Derive(nullptr);
}

void Forget(const Model& model, const Context& ctx, v1::CustomerState& customer) {
  Deriver d(model, ctx, customer);
  d.Forget();
}

RfmThresholds QuantileThresholds(const std::vector<const v1::ProfileStats*>& stats,
                                 TimestampMs now) {
  RfmThresholds t;
  std::map<int64_t, uint64_t> days;
  uint64_t n = 0;
  for (const auto* s : stats) {
    for (const auto& [day, count] : s->recency_days()) {
      days[day] += count;
      n += count;
    }
  }
  if (n == 0) return t;
  QuantileSketch f, m;
  for (const auto* s : stats) {
    for (auto [proto, sketch] :
         {std::make_pair(&s->frequency(), &f), std::make_pair(&s->monetary(), &m)}) {
      if (proto->relative_accuracy() <= 0) continue;
      auto one = QuantileSketch::FromProto(*proto);
      if (one.ok()) (void)sketch->Merge(*one);
    }
  }
  if (f.empty() || m.empty()) return t;
  for (size_t k = 0; k < 4; ++k) {
    const double q = 0.2 * static_cast<double>(k + 1);
    t.frequency[k] = f.Quantile(q).value_or(0);
    t.monetary[k] = m.Quantile(q).value_or(0);
  }
  // Age quantiles: the newest 20% score 5. Walk days from the newest.
  size_t k = 0;
  uint64_t seen = 0;
  for (auto it = days.rbegin(); it != days.rend() && k < 4; ++it) {
    seen += it->second;
    while (k < 4 && seen * 5 >= n * (k + 1)) {
      // Everyone on this day or newer is within this age.
      t.recency_ms[k] = static_cast<double>(now - it->first * kDayMs);
      ++k;
    }
  }
  for (; k < 4; ++k) t.recency_ms[k] = t.recency_ms[k > 0 ? k - 1 : 0] + 1;
  for (size_t i = 1; i < 4; ++i) {
    t.recency_ms[i] = std::max(t.recency_ms[i], t.recency_ms[i - 1] + 1);
  }
  t.ready = true;
  return t;
}

v1::OutboxRecord EventRecord(std::string_view topic, std::string_view customer,
                             std::string_view name, std::string_view message_id, TimestampMs now,
                             std::string properties_json, std::string context_json) {
  nlohmann::json e;
  e["type"] = "track";
  e["userId"] = customer;
  e["event"] = name;
  e["messageId"] = message_id;
  e["timestamp"] = FormatTimestamp(now);
  e["properties"] = nlohmann::json::parse(properties_json, nullptr, false);
  if (e["properties"].is_discarded()) e["properties"] = nlohmann::json::object();
  e["context"] = nlohmann::json::parse(context_json, nullptr, false);
  if (e["context"].is_discarded()) e["context"] = nlohmann::json::object();
  v1::OutboxRecord rec;
  rec.set_topic(std::string(topic));
  rec.set_key(std::string(customer));
  rec.set_value(e.dump());
  (*rec.mutable_headers())["content-type"] = "application/json";
  return rec;
}

}  // namespace cairn::profile
