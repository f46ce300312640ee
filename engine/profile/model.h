// The customer profile model: what Cairn computes about every customer
// beyond the raw events — computed traits (aggregates over events, with
// optional sliding windows), RFM scores and groups, lifecycle stages,
// rule-based labels and segments — plus the governance policy applied at
// send time. Declared in YAML files in <journeys>/profile/ (docs/profiles.md,
// JSON Schema journeys/schema/profile.schema.json) and loaded by
// profile/loader.h. Immutable once loaded; read from any thread.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "cairn/fnv1a.h"
#include "governance/policy.h"
#include "journey/model.h"

namespace cairn::profile {

enum class Aggregate : uint8_t { kCount, kSum, kMin, kMax, kAvg, kFirst, kLast, kDistinct };

// "count", "sum", ...
std::string_view AggregateName(Aggregate a);

// One computed trait: an aggregate over the occurrences of an event, seen by
// conditions as traits.<name>.
struct ComputedTrait {
  std::string name;
  Aggregate aggregate = Aggregate::kCount;
  std::string event;            // the event name counted
  std::vector<std::string> of;  // property path; empty: the event's time (min/max/first/last)
  journey::Condition where;     // optional filter on the event (`event` is set)
  int64_t window_ms = 0;        // 0: all time; else a sliding window ending now
  journey::Pos pos;
};

// Where a computed trait's state lives in a customer's v1::ComputedTraits
// (engine/profile/values.h), given by its definition. Built by
// Model::Finish().
struct TraitLayout {
  // aggregate | windowed << 3 | has `of` << 4: a trait whose code changes
  // (another aggregate, a window added or removed) starts again empty.
  uint8_t code = 0;
  int num = 0;        // its first number in `num`
  int num_width = 0;  // how many
  int stride = 0;     // 64-bit words per entry in `var`; 0: it keeps no entries
  bool json = false;  // it keeps JSON values (first/last of a property)
};

enum class RfmMode : uint8_t { kThresholds, kQuantiles };

struct RfmGroup {
  std::string name;
  journey::Condition when;  // the first group whose condition holds is the customer's
};

struct Rfm {
  bool declared = false;
  int recency_trait = -1;    // index of a computed trait giving a time (last/max of an event)
  int frequency_trait = -1;  // index of a computed trait giving a number
  int monetary_trait = -1;
  RfmMode mode = RfmMode::kThresholds;
  // Thresholds: recency in ms, ascending (<= t[0] scores 5 ... > t[3] scores 1);
  // frequency and monetary ascending (>= t[3] scores 5 ... < t[0] scores 1).
  std::array<double, 4> recency_ms{}, frequency{}, monetary{};
  int64_t refresh_ms = 3600 * 1000;  // quantiles: how often cut points are recomputed
  std::vector<RfmGroup> groups;
};

struct Transition {
  std::vector<std::string> from;  // empty: from any stage
  std::string to;
  journey::Condition when;  // optional condition over the profile
  std::string on_event;     // optional: only when this event arrives
  std::string idle_event;   // optional: no such event for idle_ms
  int64_t idle_ms = 0;      // since its last occurrence, or since first seen
  journey::Pos pos;
};

struct Lifecycle {
  bool declared = false;
  std::string initial;
  std::vector<std::string> stages;
  std::vector<Transition> transitions;
};

struct LabelRule {
  std::string label;
  journey::Condition when;  // true: the label is set; false: a label this rule set is removed
};

struct Segment {
  std::string name;
  std::string description;
  journey::Condition when;
  std::string event_properties;  // {"segment":"<name>"}, built by Model::Finish()
};

// A condition the profile stage evaluates over the record's computed
// traits without the interpreter: && and || over comparisons of a numeric
// computed trait (count, distinct, sum, avg; min and max of a property)
// with a number (Program::Comparisons). Built by Model::Finish(), which
// must run again whenever a condition is replaced; empty when the condition
// is not of that form. EvalNumericTest() (values.h) answers it.
struct NumericTest {
  using Op = expr::Program::Comparison::Op;
  struct Node {
    Op op = Op::kAnd;
    int32_t a = -1, b = -1;  // kAnd, kOr: the operands' nodes
    int32_t trait = -1;      // a comparison: the trait's index in `traits`,
    bool trait_left = true;  // its side,
    double constant = 0;     // and the number it is compared with
  };
  std::vector<Node> nodes;  // the root first
  bool empty() const { return nodes.empty(); }
};

struct Model {
  std::vector<ComputedTrait> traits;
  Rfm rfm;
  Lifecycle lifecycle;
  std::vector<LabelRule> labels;
  std::vector<Segment> segments;
  governance::Policy governance;
  std::vector<std::string> files;  // the files it was loaded from
  // Of the files it was loaded from (names without their directory, and
  // texts): records derived with another model are re-derived in full.
  uint64_t fingerprint = 0;

  // Indexes, built by Finish(): computed traits by event name.
  std::unordered_map<std::string, std::vector<int>> traits_by_event;
  bool empty() const {
    return traits.empty() && !rfm.declared && !lifecycle.declared && labels.empty() &&
           segments.empty();
  }
  int TraitIndex(std::string_view name) const;
  // A computed trait's or an RFM trait's name (they replace identify traits).
  bool IsComputedName(std::string_view name) const {
    return computed_index.find(name) != computed_index.end();
  }
  // TraitIndex by one hash lookup, once Finish() built the index.
  int FindTrait(std::string_view name) const { return std::max(ComputedCode(name), -1); }
  // One lookup for both: the trait's index, kRfmName, or kNotComputed.
  static constexpr int kRfmName = -1, kNotComputed = -2;
  int ComputedCode(std::string_view name) const {
    auto it = computed_index.find(name);
    return it != computed_index.end() ? it->second : kNotComputed;
  }
  // ComputedCode for a field name of one of this model's own conditions,
  // found by the name's address (Program::ForEachField) instead of hashing
  // it; any other name falls back to ComputedCode.
  int ComputedCodeAt(std::string_view name) const {
    if (!field_codes.empty()) {
      const size_t mask = field_codes.size() - 1;
      for (size_t h = FieldSlot(name.data(), mask);; h = (h + 1) & mask) {
        const FieldCode& f = field_codes[h];
        if (f.name == nullptr) break;
        if (f.name == name.data() && f.size == name.size()) return f.code;
      }
    }
    return ComputedCode(name);
  }
  // Names are short and come from the validated YAML: FNV-1a is cheaper
  // than std::hash for them, and looked up on every condition's field read.
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return Fnv1a64(s); }
  };
  // Computed names -> the trait's index; the RFM names (rfm_r, rfm_f, rfm_m,
  // rfm_group, when RFM is declared) -> kRfmName. Built by Finish().
  std::unordered_map<std::string, int, NameHash, std::equal_to<>> computed_index;
  // The table of ComputedCodeAt: open addressing, a power of two in size,
  // at most half full. Built by Finish(), which must run again whenever a
  // condition's program is replaced (the addresses are its names').
  struct FieldCode {
    const char* name = nullptr;
    size_t size = 0;
    int code = kNotComputed;
  };
  std::vector<FieldCode> field_codes;
  static size_t FieldSlot(const char* p, size_t mask) {
    return static_cast<size_t>((reinterpret_cast<uintptr_t>(p) * 0x9E3779B97F4A7C15ull) >> 32) &
           mask;
  }
  // Conditions of label rules and segments that read `customer` (its
  // events, labels, stage, segments), not only `traits`: evaluated on every
  // event; the others only when the customer's traits changed.
  std::vector<bool> label_reads_customer, segment_reads_customer;
  bool rfm_groups_read_customer = false;
  // What a condition reads of `traits`, so the stage re-evaluates it only
  // when one of those changed: computed traits by index, the RFM scores and
  // group, or everything (a use other than naming fields, or the clock).
  // Identify traits change only with identify events, which change all.
  struct TraitReads {
    bool all = false;
    bool rfm = false;
    std::vector<int> traits;  // indexes into `traits`
  };
  std::vector<TraitReads> label_reads, segment_reads;
  // The label rules' and segments' conditions as NumericTests (by index).
  std::vector<NumericTest> label_tests, segment_tests;
  // Segment names -> their index in `segments`. Built by Finish().
  std::unordered_map<std::string, int, NameHash, std::equal_to<>> segment_index;
  // Segment indices in the order of their names: a customer's
  // ProfileState.segment_names is written from a membership mask in this
  // order. Built by Finish() for models of up to 64 segments (else empty:
  // membership is read from the names).
  std::vector<int> segments_by_name;
  // The computed traits some profile condition reads (trait `where`s, RFM
  // groups, transitions, label rules, segments): the only ones the stage
  // builds for them. Empty when they read all of them.
  std::vector<bool> traits_read;
  // Where each computed trait's state lives (by index), the numbers they
  // take in all, and their names' hashes and codes as a laid-out record
  // keeps them.
  std::vector<TraitLayout> layout;
  int num_size = 0;
  bool json_traits = false;           // some trait keeps JSON values (first/last of a property)
  std::vector<uint32_t> name_hashes;  // the low 32 bits of FNV-1a 64
  std::string codes;
  uint64_t layout_hash = 0;  // of codes and name_hashes, never 0
  void Finish();
};

}  // namespace cairn::profile
