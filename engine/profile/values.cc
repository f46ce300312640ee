#include "profile/values.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <vector>

#include "cairn/fnv1a.h"

namespace cairn::profile {
namespace {

using expr::Value;
using Words = google::protobuf::RepeatedField<uint64_t>;

bool Numeric(Aggregate a) {
  return a == Aggregate::kSum || a == Aggregate::kAvg || a == Aggregate::kMin ||
         a == Aggregate::kMax;
}

// ---- the layout (ComputedTraits in proto/cairn/v1/state.proto)
//
// All-time traits: `num` holds [count, value] (count: [count]; sum/avg: the
// sum; min/max: the extreme; first/last: the time, with the JSON value in
// `json` when of a property); distinct keeps its sorted hashes as entries.
// Windowed traits keep one entry per occurrence, oldest first: [time] or
// [time, value bits] (sum/avg/min/max; without `of` the value is the time)
// or [time, hash] (distinct), and in `num` for sum/avg/min/max the
// window's running sum. Occurrences beyond the entry cap are merged into
// the window's head (`head_of`, `head`): [count, newest time, extreme, sum].

constexpr int kCount = 0, kValue = 1;  // all-time
constexpr int kWindowSum = 0;          // windowed
constexpr int kHeadCount = 0, kHeadAt = 1, kHeadValue = 2, kHeadSum = 3, kHeadWidth = 4;
constexpr double kNoHead[kHeadWidth] = {0, 0, 0, 0};

int HeadIndex(const v1::ComputedTraits& c, size_t i) {
  for (int k = 0; k < c.head_of_size(); ++k) {
    if (c.head_of(k) == i) return k;
  }
  return -1;
}
// Trait i's head; kNoHead (all zero) when it has none.
const double* HeadOf(const v1::ComputedTraits& c, size_t i) {
  const int k = HeadIndex(c, i);
  return k < 0 ? kNoHead : c.head().data() + k * kHeadWidth;
}
// Trait i's head, made (all zero) when it has none.
double* MutableHead(v1::ComputedTraits& c, size_t i) {
  int k = HeadIndex(c, i);
  if (k < 0) {
    k = 0;
    while (k < c.head_of_size() && c.head_of(k) < i) ++k;
    c.add_head_of(0);
    for (int j = c.head_of_size() - 1; j > k; --j) c.set_head_of(j, c.head_of(j - 1));
    c.set_head_of(k, static_cast<uint32_t>(i));
    auto* h = c.mutable_head();
    const int at = k * kHeadWidth;
    h->Resize(h->size() + kHeadWidth, 0.0);
    double* d = h->mutable_data();
    std::memmove(d + at + kHeadWidth, d + at,
                 static_cast<size_t>(h->size() - kHeadWidth - at) * sizeof(double));
    std::fill_n(d + at, kHeadWidth, 0.0);
  }
  return c.mutable_head()->mutable_data() + k * kHeadWidth;
}
void DropHead(v1::ComputedTraits& c, size_t i) {
  const int k = HeadIndex(c, i);
  if (k < 0) return;
  c.mutable_head_of()->erase(c.mutable_head_of()->begin() + k);
  auto* h = c.mutable_head();
  h->erase(h->begin() + k * kHeadWidth, h->begin() + (k + 1) * kHeadWidth);
}

Aggregate AggregateOf(uint8_t code) { return static_cast<Aggregate>(code & 7); }
bool Windowed(uint8_t code) { return (code & 8) != 0; }
bool HasOf(uint8_t code) { return (code & 16) != 0; }

TraitLayout LayoutOfCode(uint8_t code) {
  TraitLayout l;
  l.code = code;
  const Aggregate a = AggregateOf(code);
  const bool first_last = a == Aggregate::kFirst || a == Aggregate::kLast;
  l.json = first_last && HasOf(code);
  if (Windowed(code)) {
    l.stride = Numeric(a) || a == Aggregate::kDistinct ? 2 : 1;
    l.num_width = Numeric(a) ? 1 : 0;
  } else {
    l.stride = a == Aggregate::kDistinct ? 1 : 0;
    l.num_width = a == Aggregate::kDistinct ? 0 : a == Aggregate::kCount ? 1 : 2;
  }
  return l;
}

// The second word of a window entry: the value's bits (sum/avg/min/max),
// the hash (distinct), or unused.
uint64_t SecondWord(Aggregate a, double number, uint64_t hash) {
  if (Numeric(a)) return std::bit_cast<uint64_t>(number);
  return a == Aggregate::kDistinct ? hash : 0;
}

// JSON values trait i keeps with `entries` entries.
int JsonCount(const TraitLayout& l, int entries) {
  if (!l.json) return 0;
  return Windowed(l.code) ? 1 + entries : 1;
}

int VarBegin(const v1::ComputedTraits& c, size_t i) {
  return i == 0 ? 0 : static_cast<int>(c.var_end(static_cast<int>(i) - 1));
}
int VarEnd(const v1::ComputedTraits& c, size_t i) {
  return static_cast<int>(c.var_end(static_cast<int>(i)));
}
int JsonBegin(const v1::ComputedTraits& c, size_t i) {
  return i == 0 ? 0 : static_cast<int>(c.json_end(static_cast<int>(i) - 1));
}

// Whether `c`'s columns agree with the layouts its own codes give.
bool Consistent(const v1::ComputedTraits& c) {
  const auto n = static_cast<int>(c.code().size());
  if (c.name_hash_size() != n || c.var_end_size() != n || c.json_end_size() != n) return false;
  uint32_t var = 0, json = 0;
  int num = 0;
  for (int i = 0; i < n; ++i) {
    const TraitLayout l = LayoutOfCode(static_cast<uint8_t>(c.code()[static_cast<size_t>(i)]));
    num += l.num_width;
    const uint32_t v = c.var_end(i), j = c.json_end(i);
    if (v < var || j < json) return false;
    const uint32_t words = v - var;
    if (l.stride == 0 ? words != 0 : words % static_cast<uint32_t>(l.stride) != 0) return false;
    const int entries = l.stride == 0 ? 0 : static_cast<int>(words) / l.stride;
    if (j - json != static_cast<uint32_t>(JsonCount(l, entries))) return false;
    var = v;
    json = j;
  }
  if (c.head_size() != c.head_of_size() * kHeadWidth) return false;
  for (int k = 0; k < c.head_of_size(); ++k) {
    const uint32_t t = c.head_of(k);
    if (t >= static_cast<uint32_t>(n) || (k > 0 && t <= c.head_of(k - 1)) ||
        !Windowed(static_cast<uint8_t>(c.code()[t]))) {
      return false;
    }
  }
  return num == c.num_size() && var == static_cast<uint32_t>(c.var_size()) &&
         json == static_cast<uint32_t>(c.json_size());
}

// A window's entries, read in place.
struct Window {
  const uint64_t* w = nullptr;
  int n = 0;
  int stride = 1;
  TimestampMs at(int k) const { return std::bit_cast<int64_t>(w[k * stride]); }
  uint64_t second(int k) const { return w[k * stride + 1]; }
  double value(int k) const { return std::bit_cast<double>(second(k)); }
  // The first entry inside (from, ...]: entries are in time order.
  int FirstAfter(TimestampMs from) const {
    if (n == 0 || at(0) > from) return 0;
    int lo = 0, hi = n;
    while (lo < hi) {
      const int mid = (lo + hi) / 2;
      if (at(mid) <= from) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }
};

Window WindowOf(const Model& m, size_t i, const v1::ComputedTraits& c) {
  const TraitLayout& l = m.layout[i];
  const int b = VarBegin(c, i);
  const int stride = std::max(1, l.stride);
  return Window{c.var().data() + b, (VarEnd(c, i) - b) / stride, stride};
}

// Inserts entry `pos` of trait i (`json`: its JSON value, for traits that
// keep one).
void InsertEntry(const Model& m, size_t i, v1::ComputedTraits& c, int pos, uint64_t first,
                 uint64_t second, std::string json) {
  const TraitLayout& l = m.layout[i];
  Words* var = c.mutable_var();
  const int at = VarBegin(c, i) + pos * l.stride;
  const int old = var->size();
  var->Resize(old + l.stride, 0);
  uint64_t* d = var->mutable_data();
  std::memmove(d + at + l.stride, d + at, static_cast<size_t>(old - at) * sizeof(uint64_t));
  d[at] = first;
  if (l.stride > 1) d[at + 1] = second;
  uint32_t* ends = c.mutable_var_end()->mutable_data();
  for (size_t j = i; j < m.traits.size(); ++j) ends[j] += static_cast<uint32_t>(l.stride);
  if (!l.json) return;
  auto* js = c.mutable_json();
  const int jat = JsonBegin(c, i) + 1 + pos;
  js->Add(std::move(json));
  for (int k = js->size() - 1; k > jat; --k) js->SwapElements(k, k - 1);
  uint32_t* jends = c.mutable_json_end()->mutable_data();
  for (size_t j = i; j < m.traits.size(); ++j) ++jends[j];
}

// Drops the first `k` entries of trait i.
void EraseFront(const Model& m, size_t i, v1::ComputedTraits& c, int k) {
  if (k <= 0) return;
  const TraitLayout& l = m.layout[i];
  Words* var = c.mutable_var();
  const int b = VarBegin(c, i);
  var->erase(var->begin() + b, var->begin() + b + k * l.stride);
  uint32_t* ends = c.mutable_var_end()->mutable_data();
  for (size_t j = i; j < m.traits.size(); ++j) ends[j] -= static_cast<uint32_t>(k * l.stride);
  if (!l.json) return;
  c.mutable_json()->DeleteSubrange(JsonBegin(c, i) + 1, k);
  uint32_t* jends = c.mutable_json_end()->mutable_data();
  for (size_t j = i; j < m.traits.size(); ++j) jends[j] -= static_cast<uint32_t>(k);
}

double* Nums(const Model& m, size_t i, v1::ComputedTraits& c) {
  return c.mutable_num()->mutable_data() + m.layout[i].num;
}
const double* Nums(const Model& m, size_t i, const v1::ComputedTraits& c) {
  return c.num().data() + m.layout[i].num;
}

// Merges an occurrence (or a merged head: `count` of them, `newest` the
// latest time, `value` their extreme and `sum` their sum) into the head.
void IntoHead(const ComputedTrait& t, double* h, uint64_t count, TimestampMs newest, double value,
              double sum) {
  const bool had = h[kHeadCount] > 0;
  h[kHeadCount] += static_cast<double>(count);
  h[kHeadAt] =
      had ? std::max(h[kHeadAt], static_cast<double>(newest)) : static_cast<double>(newest);
  if (!Numeric(t.aggregate)) return;
  if (!had || (t.aggregate == Aggregate::kMin ? value < h[kHeadValue] : value > h[kHeadValue])) {
    h[kHeadValue] = value;
  }
  h[kHeadSum] += sum;
}

// Keeps a window within kMaxWindowEntries: distinct drops its oldest entry;
// the others merge it into the head.
void Bound(const Model& m, size_t i, v1::ComputedTraits& c) {
  const ComputedTrait& t = m.traits[i];
  Window w = WindowOf(m, i, c);
  if (w.n <= kMaxWindowEntries) return;
  const int over = w.n - kMaxWindowEntries;
  if (t.aggregate != Aggregate::kDistinct) {
    double* h = MutableHead(c, i);
    const int jb = JsonBegin(c, i);
    for (int k = 0; k < over; ++k) {
      const double v = Numeric(t.aggregate) ? w.value(k) : 0;
      if (m.layout[i].json && (t.aggregate == Aggregate::kLast || h[kHeadCount] == 0)) {
        c.mutable_json()->Mutable(jb)->swap(*c.mutable_json()->Mutable(jb + 1 + k));
      }
      IntoHead(t, h, 1, w.at(k), v, v);
    }
  }
  EraseFront(m, i, c, over);
}

// Adds one entry in time order (a late one goes after equal times).
void AddEntry(const Model& m, size_t i, v1::ComputedTraits& c, TimestampMs at, uint64_t second,
              std::string json) {
  const Window w = WindowOf(m, i, c);
  int pos = w.n;
  while (pos > 0 && w.at(pos - 1) > at) --pos;
  InsertEntry(m, i, c, pos, std::bit_cast<uint64_t>(at), second, std::move(json));
  if (Numeric(m.traits[i].aggregate)) Nums(m, i, c)[kWindowSum] += std::bit_cast<double>(second);
  if (w.n + 1 > kMaxWindowEntries) Bound(m, i, c);
}

// Inserts `hash` among trait i's sorted distinct values, if absent.
void AddDistinct(const Model& m, size_t i, v1::ComputedTraits& c, uint64_t hash) {
  const Window w = WindowOf(m, i, c);
  const uint64_t* b = w.w;
  const uint64_t* it = std::lower_bound(b, b + w.n, hash);
  if ((it != b + w.n && *it == hash) || w.n >= kMaxDistinct) return;
  InsertEntry(m, i, c, static_cast<int>(it - b), hash, 0, {});
}

// An empty ComputedTraits laid out for `m`.
void Empty(const Model& m, v1::ComputedTraits& c) {
  c.Clear();
  c.mutable_name_hash()->Assign(m.name_hashes.begin(), m.name_hashes.end());
  c.set_code(m.codes);
  c.set_layout(m.layout_hash);
  c.mutable_num()->Resize(m.num_size, 0.0);
  uint32_t json = 0;
  for (const auto& l : m.layout) {
    c.add_var_end(0);
    for (int k = 0; k < JsonCount(l, 0); ++k) c.add_json();
    json += static_cast<uint32_t>(JsonCount(l, 0));
    c.add_json_end(json);
  }
}

// Copies trait k of `from` (consistent, the same code) into trait i of
// `into`, which is empty.
void CopyTrait(const Model& m, size_t i, v1::ComputedTraits& into, const v1::ComputedTraits& from,
               int k) {
  const TraitLayout l = LayoutOfCode(static_cast<uint8_t>(from.code()[static_cast<size_t>(k)]));
  int num = 0;
  for (int j = 0; j < k; ++j) {
    num += LayoutOfCode(static_cast<uint8_t>(from.code()[static_cast<size_t>(j)])).num_width;
  }
  std::copy_n(from.num().data() + num, l.num_width, Nums(m, i, into));
  if (HeadIndex(from, static_cast<size_t>(k)) >= 0) {
    std::copy_n(HeadOf(from, static_cast<size_t>(k)), kHeadWidth, MutableHead(into, i));
  }
  const auto kk = static_cast<size_t>(k);
  const int vb = VarBegin(from, kk), ve = VarEnd(from, kk);
  const int stride = std::max(1, l.stride);
  const int jb = JsonBegin(from, kk);
  if (l.json) *into.mutable_json(JsonBegin(into, i)) = from.json(jb);  // the value or the head's
  const int skip = l.json && Windowed(l.code) ? 1 : 0;
  for (int e = 0; e < (ve - vb) / stride; ++e) {
    const uint64_t* w = from.var().data() + vb + e * stride;
    InsertEntry(m, i, into, e, w[0], stride > 1 ? w[1] : 0,
                l.json ? from.json(jb + skip + e) : std::string());
  }
}

// ---- the old layout: one v1::ComputedState per trait

// Moves an old state into trait i of `c` (empty). Reading the deprecated
// fields is its purpose.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
void MigrateState(const Model& m, size_t i, const v1::ComputedState& s, v1::ComputedTraits& c) {
  const ComputedTrait& t = m.traits[i];
  const TraitLayout& l = m.layout[i];
  if (t.window_ms <= 0) {
    if (t.aggregate == Aggregate::kDistinct) {
      for (uint64_t d : s.distinct()) AddDistinct(m, i, c, d);
      return;
    }
    double* h = Nums(m, i, c);
    h[kCount] = static_cast<double>(s.count());
    if (l.num_width < 2 || s.count() == 0) return;
    switch (t.aggregate) {
      case Aggregate::kSum:
      case Aggregate::kAvg:
        h[kValue] = s.sum();
        break;
      case Aggregate::kMin:
        h[kValue] = s.min();
        break;
      case Aggregate::kMax:
        h[kValue] = s.max();
        break;
      case Aggregate::kFirst:
        h[kValue] = static_cast<double>(s.first_at_ms());
        if (l.json) *c.mutable_json(JsonBegin(c, i)) = s.first_json();
        break;
      case Aggregate::kLast:
        h[kValue] = static_cast<double>(s.last_at_ms());
        if (l.json) *c.mutable_json(JsonBegin(c, i)) = s.last_json();
        break;
      default:
        break;
    }
    return;
  }
  // Windowed: entries of the oldest layout (one message each) or of the
  // w_* columns; merged ones (count > 1) go into the head.
  auto add = [&](TimestampMs at, double value, uint32_t count, double max, double sum,
                 const std::string& json, uint64_t hash) {
    const double extreme = t.aggregate == Aggregate::kMax ? max : value;
    if (count > 1) {
      IntoHead(t, MutableHead(c, i), count, at, extreme, sum);
      if (Numeric(t.aggregate)) Nums(m, i, c)[kWindowSum] += sum;
      if (l.json) *c.mutable_json(JsonBegin(c, i)) = json;
      return;
    }
    AddEntry(m, i, c, at, SecondWord(t.aggregate, value, hash), json);
  };
  for (const auto& e : s.window()) {
    add(e.at_ms(), e.value(), std::max<uint32_t>(1, e.count()), e.count() > 1 ? e.max() : e.value(),
        e.count() > 1 ? e.sum() : e.value(), e.json(), e.hash());
  }
  if (s.window_size() > 0) return;
  static const std::string kNone;
  for (int k = 0; k < s.w_at_size(); ++k) {
    const double v = k < s.w_value_size() ? s.w_value(k) : 0;
    const uint32_t n = k < s.w_count_size() ? std::max<uint32_t>(1, s.w_count(k)) : 1;
    add(s.w_at(k), v, n, k < s.w_max_size() ? s.w_max(k) : v, k < s.w_sum_size() ? s.w_sum(k) : v,
        k < s.w_json_size() ? s.w_json(k) : kNone, k < s.w_hash_size() ? s.w_hash(k) : 0);
  }
}

#pragma GCC diagnostic pop

Value TimeOrJson(const ComputedTrait& t, const std::string& json, double at) {
  if (t.of.empty()) return Value::TimestampFromMs(static_cast<TimestampMs>(at));
  return Value::FromJson(json);
}

Value NumberOrTime(const ComputedTrait& t, double v) {
  if (t.of.empty()) return Value::TimestampFromMs(static_cast<TimestampMs>(v));
  return Value::Double(v);
}

Value NoneYet(Aggregate a) {
  switch (a) {
    case Aggregate::kCount:
    case Aggregate::kDistinct:
      return Value::Int(0);
    case Aggregate::kSum:
      return Value::Double(0);
    default:
      return Value::Null();
  }
}

}  // namespace

TraitLayout LayoutOf(const ComputedTrait& t) {
  return LayoutOfCode(static_cast<uint8_t>(static_cast<uint8_t>(t.aggregate) |
                                           (t.window_ms > 0 ? 8 : 0) | (t.of.empty() ? 0 : 16)));
}

bool Fits(const Model& m, const v1::ComputedTraits& c) {
  const size_t n = m.traits.size();
  if (c.code() != m.codes || static_cast<size_t>(c.name_hash_size()) != n ||
      c.num_size() != m.num_size) {
    return false;
  }
  if (n > 0 && std::memcmp(c.name_hash().data(), m.name_hashes.data(), n * sizeof(uint32_t)) != 0) {
    return false;
  }
  return Consistent(c);
}

bool Align(const Model& m, v1::ProfileState& p) {
  v1::ComputedTraits& c = *p.mutable_computed();
  if (p.traits_size() == 0 && Fits(m, c)) {
    c.set_layout(m.layout_hash);  // a record of an earlier binary may not have it
    return false;
  }
  v1::ComputedTraits old;
  old.Swap(&c);
  // Old-layout states present are the newer (every Align clears them, so
  // they come from a binary of the earlier layout that ran since).
  const bool old_ok = p.traits_size() == 0 && Consistent(old);
  Empty(m, c);
  for (size_t i = 0; i < m.traits.size(); ++i) {
    bool found = false;
    for (int k = 0; old_ok && k < old.name_hash_size(); ++k) {
      if (old.name_hash(k) == m.name_hashes[i] &&
          static_cast<uint8_t>(old.code()[static_cast<size_t>(k)]) == m.layout[i].code) {
        CopyTrait(m, i, c, old, k);
        found = true;
        break;
      }
    }
    if (found) continue;
    for (const auto& s : p.traits()) {
      if (s.name() == m.traits[i].name) {
        MigrateState(m, i, s, c);
        break;
      }
    }
  }
  p.clear_traits();
  return true;
}

bool LaidOut(const Model& m, const v1::ProfileState& p) {
  const auto& c = p.computed();
  const int n = static_cast<int>(m.traits.size());
  // The layout hash Align set, not the codes (reading them costs cache
  // misses on every event). Every record has a JSON end per trait; the last
  // one is compared with the JSON values only when some trait keeps any.
  return p.traits_size() == 0 && c.layout() == m.layout_hash && c.num_size() == m.num_size &&
         c.var_end_size() == n && c.json_end_size() == n && c.name_hash_size() == n &&
         c.head_size() == kHeadWidth * c.head_of_size() &&
         (c.head_of_size() == 0 || c.head_of(c.head_of_size() - 1) < static_cast<uint32_t>(n)) &&
         (n == 0 || (c.var_end(n - 1) == static_cast<uint32_t>(c.var_size()) &&
                     (m.json_traits ? c.json_end(n - 1) == static_cast<uint32_t>(c.json_size())
                                    : c.json_size() == 0)));
}

const v1::ComputedTraits& ForReading(const Model& m, const v1::ProfileState& p,
                                     v1::ProfileState& scratch) {
  if (p.traits_size() == 0 && Fits(m, p.computed())) return p.computed();
  scratch = p;
  Align(m, scratch);
  return scratch.computed();
}

const void* PropertyCache::Node(const std::vector<std::string>& path) {
  if (!parsed_) {
    auto j = std::make_shared<nlohmann::json>(
        nlohmann::json::parse(event_.properties_json, nullptr, false));
    parsed_ = j;
  }
  const auto* node = static_cast<const nlohmann::json*>(parsed_.get());
  for (const auto& key : path) {
    if (!node->is_object()) return nullptr;
    auto it = node->find(key);
    if (it == node->end()) return nullptr;
    node = &*it;
  }
  return node->is_null() ? nullptr : node;
}

std::optional<std::string> PropertyCache::JsonAt(const std::vector<std::string>& path) {
  const auto* n = static_cast<const nlohmann::json*>(Node(path));
  if (n == nullptr) return std::nullopt;
  return n->dump();
}

std::optional<double> PropertyCache::NumberAt(const std::vector<std::string>& path) {
  if (path.size() == 1) {  // the ingest parser already read the top-level numbers
    for (const auto& [name, v] : event_.numeric_properties) {
      if (name == path[0]) return v;
    }
    return std::nullopt;
  }
  const auto* n = static_cast<const nlohmann::json*>(Node(path));
  if (n == nullptr || !n->is_number()) return std::nullopt;
  const double d = n->get<double>();
  if (!std::isfinite(d)) return std::nullopt;
  return d;
}

std::optional<Occurrence> Extract(const ComputedTrait& t, const Event& event,
                                  PropertyCache& cache) {
  Occurrence o;
  o.at_ms = event.timestamp_ms;
  if (t.aggregate == Aggregate::kCount) return o;
  if (t.of.empty()) {  // min/max/first/last of the event's time
    o.number = static_cast<double>(event.timestamp_ms);
    return o;
  }
  if (Numeric(t.aggregate)) {
    auto v = cache.NumberAt(t.of);
    if (!v) return std::nullopt;
    o.number = *v;
    return o;
  }
  auto json = cache.JsonAt(t.of);
  if (!json) return std::nullopt;
  if (t.aggregate == Aggregate::kDistinct) {
    o.hash = Fnv1a64(*json);
  } else {
    o.json = std::move(*json);
  }
  return o;
}

void Fold(const Model& m, size_t i, const Occurrence& o, v1::ComputedTraits& c) {
  const ComputedTrait& t = m.traits[i];
  if (t.window_ms > 0) {
    AddEntry(m, i, c, o.at_ms, SecondWord(t.aggregate, o.number, o.hash), o.json);
    return;
  }
  if (t.aggregate == Aggregate::kDistinct) {
    AddDistinct(m, i, c, o.hash);
    return;
  }
  double* h = Nums(m, i, c);
  const bool had = h[kCount] > 0;
  h[kCount] += 1;
  const auto at = static_cast<double>(o.at_ms);
  switch (t.aggregate) {
    case Aggregate::kSum:
    case Aggregate::kAvg:
      h[kValue] += o.number;
      break;
    case Aggregate::kMin:
      if (!had || o.number < h[kValue]) h[kValue] = o.number;
      break;
    case Aggregate::kMax:
      if (!had || o.number > h[kValue]) h[kValue] = o.number;
      break;
    case Aggregate::kFirst:
    case Aggregate::kLast:
      if (!had || (t.aggregate == Aggregate::kFirst ? at < h[kValue] : at >= h[kValue])) {
        h[kValue] = at;
        if (m.layout[i].json) *c.mutable_json(JsonBegin(c, i)) = o.json;
      }
      break;
    default:
      break;
  }
}

void FoldAll(const Model& m, const std::vector<TraitOccurrence>& os, v1::ComputedTraits& c) {
  // The appends at a window's end, by ascending trait; the others one by one.
  struct Append {
    size_t trait;
    uint64_t first, second;
    int stride;
  };
  std::array<Append, 64> appends;
  size_t n = 0;
  int grow = 0;
  for (const auto& [i, o] : os) {
    const ComputedTrait& t = m.traits[i];
    const TraitLayout& l = m.layout[i];
    const Window w = t.window_ms > 0 && !l.json ? WindowOf(m, i, c) : Window{};
    if (t.window_ms <= 0 || l.json || n == appends.size() || w.n + 1 > kMaxWindowEntries ||
        (w.n > 0 && w.at(w.n - 1) > o.at_ms)) {
      Fold(m, i, o, c);
      continue;
    }
    const uint64_t second = SecondWord(t.aggregate, o.number, o.hash);
    appends[n++] = {i, std::bit_cast<uint64_t>(o.at_ms), second, l.stride};
    grow += l.stride;
    if (Numeric(t.aggregate)) Nums(m, i, c)[kWindowSum] += std::bit_cast<double>(second);
  }
  if (n == 0) return;
  // From the back: what follows each appended trait's entries moves up by
  // the words appended to it and every trait before it.
  Words* var = c.mutable_var();
  int hi = var->size();
  var->Resize(hi + grow, 0);
  uint64_t* d = var->mutable_data();
  uint32_t* ends = c.mutable_var_end()->mutable_data();
  int shift = grow;
  for (size_t k = n; k-- > 0;) {
    const Append& a = appends[k];
    const int end = static_cast<int>(ends[a.trait]);
    std::memmove(d + end + shift, d + end, static_cast<size_t>(hi - end) * sizeof(uint64_t));
    shift -= a.stride;
    d[end + shift] = a.first;
    if (a.stride > 1) d[end + shift + 1] = a.second;
    hi = end;
  }
  uint32_t add = 0;
  for (size_t j = appends[0].trait, k = 0; j < m.traits.size(); ++j) {
    for (; k < n && appends[k].trait == j; ++k) add += static_cast<uint32_t>(appends[k].stride);
    ends[j] += add;
  }
}

TimestampMs Expire(const Model& m, size_t i, TimestampMs now, v1::ComputedTraits& c,
                   bool* changed) {
  const ComputedTrait& t = m.traits[i];
  if (t.window_ms <= 0) return 0;
  const TimestampMs cutoff = now - t.window_ms;
  Window w = WindowOf(m, i, c);
  const double* h = HeadOf(c, i);
  const int gone = w.FirstAfter(cutoff);
  const bool head_gone = h[kHeadCount] > 0 && h[kHeadAt] <= static_cast<double>(cutoff);
  if (gone > 0 || head_gone) {
    if (changed != nullptr) *changed = true;
    const bool numeric = Numeric(t.aggregate);
    double sum = numeric ? Nums(m, i, c)[kWindowSum] : 0;
    for (int k = 0; numeric && k < gone; ++k) sum -= w.value(k);
    EraseFront(m, i, c, gone);
    if (head_gone) {
      if (numeric) sum -= h[kHeadSum];
      DropHead(c, i);
      if (m.layout[i].json) c.mutable_json(JsonBegin(c, i))->clear();
    }
    h = HeadOf(c, i);
    w = WindowOf(m, i, c);
    if (w.n == 0 && h[kHeadCount] == 0) sum = 0;  // no drift survives an empty window
    if (numeric) Nums(m, i, c)[kWindowSum] = sum;
  }
  TimestampMs next = 0;
  if (h[kHeadCount] > 0) next = static_cast<TimestampMs>(h[kHeadAt]) + t.window_ms;
  if (w.n > 0 && (next == 0 || w.at(0) + t.window_ms < next)) next = w.at(0) + t.window_ms;
  return next;
}

TimestampMs ExpireAll(const Model& m, const char* selected, TimestampMs now, v1::ComputedTraits& c,
                      char* changed) {
  // The entries that leave, trait by trait: [begin, begin + words) of var.
  // Traits with a head or JSON values expire one by one (Expire), which
  // moves only what follows them: the cuts before stay where they are.
  struct Cut {
    size_t trait;
    int begin, words;
  };
  std::array<Cut, 64> cuts;
  size_t n = 0;
  TimestampMs next = 0;
  auto soonest = [&next](TimestampMs t) {
    if (t > 0 && (next == 0 || t < next)) next = t;
  };
  for (size_t i = 0; i < m.traits.size(); ++i) {
    const ComputedTrait& t = m.traits[i];
    if (selected[i] == 0 || t.window_ms <= 0) continue;
    if (m.layout[i].json || n == cuts.size() || HeadIndex(c, i) >= 0) {
      bool gone = false;
      soonest(Expire(m, i, now, c, &gone));
      if (gone) changed[i] = 1;
      continue;
    }
    const Window w = WindowOf(m, i, c);
    const int gone = w.FirstAfter(now - t.window_ms);
    if (w.n > gone) soonest(w.at(gone) + t.window_ms);
    if (gone == 0) continue;
    changed[i] = 1;
    if (Numeric(t.aggregate)) {
      double& sum = Nums(m, i, c)[kWindowSum];
      for (int k = 0; k < gone; ++k) sum -= w.value(k);
      if (gone == w.n) sum = 0;  // no drift survives an empty window
    }
    cuts[n++] = {i, VarBegin(c, i), gone * w.stride};
  }
  if (n == 0) return next;
  Words* var = c.mutable_var();
  uint64_t* d = var->mutable_data();
  const int size = var->size();
  int to = cuts[0].begin, from = cuts[0].begin + cuts[0].words;
  for (size_t k = 1; k <= n; ++k) {
    const int until = k < n ? cuts[k].begin : size;
    std::memmove(d + to, d + from, static_cast<size_t>(until - from) * sizeof(uint64_t));
    to += until - from;
    if (k < n) from = cuts[k].begin + cuts[k].words;
  }
  var->Truncate(to);
  uint32_t* ends = c.mutable_var_end()->mutable_data();
  uint32_t removed = 0;
  for (size_t j = cuts[0].trait, k = 0; j < m.traits.size(); ++j) {
    for (; k < n && cuts[k].trait == j; ++k) removed += static_cast<uint32_t>(cuts[k].words);
    ends[j] -= removed;
  }
  return next;
}

int Entries(const Model& m, size_t i, const v1::ComputedTraits& c) {
  return m.layout[i].stride == 0 ? 0 : WindowOf(m, i, c).n;
}

namespace {

// The number behind a count, distinct, sum, avg, min or max (min and max
// without `of`: the time in ms); nullopt when there is none (avg, min and
// max of no occurrence). `c` Fits `m`.
// What of windowed trait i is inside (now - window, now] (`cutoff` is
// now - window): its entries from `begin` on, and its head (`hd`, all zero
// when it has none) while the head's newest occurrence is inside.
struct Inside {
  const double* hd;
  int begin;
  bool head;
};
Inside InsideOf(const v1::ComputedTraits& c, size_t i, const Window& w, TimestampMs cutoff) {
  const double* hd = HeadOf(c, i);
  return {hd, w.FirstAfter(cutoff),
          hd[kHeadCount] > 0 && hd[kHeadAt] > static_cast<double>(cutoff)};
}

std::optional<double> NumberOf(const Model& m, size_t i, const v1::ComputedTraits& c,
                               TimestampMs now) {
  const ComputedTrait& t = m.traits[i];
  const double* h = Nums(m, i, c);
  const Window w = WindowOf(m, i, c);
  if (t.window_ms <= 0) {
    if (t.aggregate == Aggregate::kDistinct) return w.n;
    const bool any = h[kCount] > 0;
    switch (t.aggregate) {
      case Aggregate::kCount:
        return static_cast<double>(static_cast<int64_t>(h[kCount]));
      case Aggregate::kSum:
        return h[kValue];
      case Aggregate::kAvg:
        if (!any) return std::nullopt;
        return h[kValue] / h[kCount];
      case Aggregate::kMin:
      case Aggregate::kMax:
        if (!any) return std::nullopt;
        return h[kValue];
      default:
        return std::nullopt;
    }
  }
  const auto [hd, begin, head] = InsideOf(c, i, w, now - t.window_ms);
  const auto count =
      static_cast<int64_t>(w.n - begin) + (head ? static_cast<int64_t>(hd[kHeadCount]) : 0);
  switch (t.aggregate) {
    case Aggregate::kCount:
      return static_cast<double>(count);
    case Aggregate::kDistinct: {
      std::vector<uint64_t> hashes;
      hashes.reserve(static_cast<size_t>(w.n - begin));
      for (int k = begin; k < w.n; ++k) hashes.push_back(w.second(k));
      std::sort(hashes.begin(), hashes.end());
      return static_cast<double>(std::unique(hashes.begin(), hashes.end()) - hashes.begin());
    }
    case Aggregate::kSum:
    case Aggregate::kAvg: {
      double sum = 0;
      if (begin == 0) {  // the running sum, less a head that has left
        sum = h[kWindowSum] - (hd[kHeadCount] > 0 && !head ? hd[kHeadSum] : 0);
      } else {
        for (int k = begin; k < w.n; ++k) sum += w.value(k);
        if (head) sum += hd[kHeadSum];
      }
      if (t.aggregate == Aggregate::kSum) return count == 0 ? 0.0 : sum;
      if (count == 0) return std::nullopt;
      return sum / static_cast<double>(count);
    }
    case Aggregate::kMin:
    case Aggregate::kMax: {
      if (count == 0) return std::nullopt;
      const bool min = t.aggregate == Aggregate::kMin;
      double v = head ? hd[kHeadValue] : w.value(begin);
      for (int k = begin; k < w.n; ++k) v = min ? std::min(v, w.value(k)) : std::max(v, w.value(k));
      return v;
    }
    default:
      return std::nullopt;
  }
}

}  // namespace

Value ComputedValue(const Model& m, size_t i, const v1::ComputedTraits* c, TimestampMs now) {
  const ComputedTrait& t = m.traits[i];
  if (c == nullptr) return NoneYet(t.aggregate);
  if (t.aggregate != Aggregate::kFirst && t.aggregate != Aggregate::kLast) {
    const auto n = NumberOf(m, i, *c, now);
    if (!n) return Value::Null();
    switch (t.aggregate) {
      case Aggregate::kCount:
      case Aggregate::kDistinct:
        return Value::Int(static_cast<int64_t>(*n));
      case Aggregate::kMin:
      case Aggregate::kMax:
        return NumberOrTime(t, *n);
      default:
        return Value::Double(*n);
    }
  }
  // first, last: the time (or the JSON value of the property) of the
  // oldest / newest occurrence inside the window.
  const Window w = WindowOf(m, i, *c);
  const int jb = m.layout[i].json ? JsonBegin(*c, i) : 0;  // read only when it keeps JSON
  static const std::string kNone;
  auto json = [&](int k) -> const std::string& { return m.layout[i].json ? c->json(k) : kNone; };
  if (t.window_ms <= 0) {
    if (Nums(m, i, *c)[kCount] <= 0) return Value::Null();
    return TimeOrJson(t, json(jb), Nums(m, i, *c)[kValue]);
  }
  const auto [hd, begin, head] = InsideOf(*c, i, w, now - t.window_ms);
  if (w.n == begin && !head) return Value::Null();
  if (t.aggregate == Aggregate::kFirst) {
    if (head) return TimeOrJson(t, json(jb), hd[kHeadAt]);
    return TimeOrJson(t, json(jb + 1 + begin), static_cast<double>(w.at(begin)));
  }
  if (w.n > begin) return TimeOrJson(t, json(jb + w.n), static_cast<double>(w.at(w.n - 1)));
  return TimeOrJson(t, json(jb), hd[kHeadAt]);
}

bool HasNumber(const ComputedTrait& t) {
  switch (t.aggregate) {
    case Aggregate::kCount:
    case Aggregate::kDistinct:
    case Aggregate::kSum:
    case Aggregate::kAvg:
      return true;
    case Aggregate::kMin:
    case Aggregate::kMax:
      return !t.of.empty();  // else a timestamp
    default:
      return false;
  }
}

namespace {

// Node `i` of the test. Walks as expr's EvalFlat (program.cc) does: keep
// the two in step.
std::optional<bool> EvalNode(const Model& m, const NumericTest& test, const v1::ComputedTraits& c,
                             TimestampMs now, int32_t i) {
  using Op = NumericTest::Op;
  const NumericTest::Node& n = test.nodes[static_cast<size_t>(i)];
  if (n.op == Op::kAnd || n.op == Op::kOr) {
    const bool decider = n.op == Op::kOr;
    const auto l = EvalNode(m, test, c, now, n.a);
    if (!l) return std::nullopt;
    if (*l == decider) return decider;
    return EvalNode(m, test, c, now, n.b);
  }
  const auto v = NumberOf(m, static_cast<size_t>(n.trait), c, now);
  if (!v) return std::nullopt;  // Null: the interpreter says what that gives
  const double l = n.trait_left ? *v : n.constant;
  const double r = n.trait_left ? n.constant : *v;
  switch (n.op) {  // NaN compares false but unequal, as expr's Compare and Equals
    case Op::kEq:
      return l == r;
    case Op::kNe:
      return l != r;
    case Op::kLt:
      return l < r;
    case Op::kLe:
      return l <= r;
    case Op::kGt:
      return l > r;
    case Op::kGe:
      return l >= r;
    default:
      return std::nullopt;
  }
}

}  // namespace

std::optional<bool> EvalNumericTest(const Model& m, const NumericTest& test,
                                    const v1::ComputedTraits& c, TimestampMs now) {
  if (test.empty()) return std::nullopt;
  return EvalNode(m, test, c, now, 0);
}

void MergeTrait(const Model& m, size_t i, v1::ComputedTraits& into,
                const v1::ComputedTraits& from) {
  const ComputedTrait& t = m.traits[i];
  const Window w = WindowOf(m, i, from);
  const int fjb = JsonBegin(from, i);
  const bool json = m.layout[i].json;
  if (t.aggregate == Aggregate::kDistinct && t.window_ms <= 0) {
    for (int k = 0; k < w.n; ++k) AddDistinct(m, i, into, w.w[k]);
    return;
  }
  if (t.window_ms <= 0) {
    const double* f = Nums(m, i, from);
    if (f[kCount] <= 0) return;
    if (t.aggregate == Aggregate::kCount) {
      Nums(m, i, into)[kCount] += f[kCount];
      return;
    }
    double* h = Nums(m, i, into);
    const bool had = h[kCount] > 0;
    h[kCount] += f[kCount];
    bool take = false;
    switch (t.aggregate) {
      case Aggregate::kSum:
      case Aggregate::kAvg:
        h[kValue] += f[kValue];
        break;
      case Aggregate::kMin:
        take = !had || f[kValue] < h[kValue];
        break;
      case Aggregate::kMax:
        take = !had || f[kValue] > h[kValue];
        break;
      case Aggregate::kFirst:
        take = !had || f[kValue] < h[kValue];
        break;
      case Aggregate::kLast:
        take = !had || f[kValue] >= h[kValue];
        break;
      default:
        break;
    }
    if (take) {
      h[kValue] = f[kValue];
      if (json) *into.mutable_json(JsonBegin(into, i)) = from.json(fjb);
    }
    return;
  }
  for (int k = 0; k < w.n; ++k) {
    AddEntry(m, i, into, w.at(k), w.stride > 1 ? w.second(k) : 0,
             json ? from.json(fjb + 1 + k) : std::string());
  }
  const double* fh = HeadOf(from, i);
  if (fh[kHeadCount] <= 0) return;
  double* h = MutableHead(into, i);
  const bool take_json =
      h[kHeadCount] == 0 || (t.aggregate == Aggregate::kLast && fh[kHeadAt] >= h[kHeadAt]);
  IntoHead(t, h, static_cast<uint64_t>(fh[kHeadCount]), static_cast<TimestampMs>(fh[kHeadAt]),
           fh[kHeadValue], fh[kHeadSum]);
  if (Numeric(t.aggregate)) Nums(m, i, into)[kWindowSum] += fh[kHeadSum];
  if (json && take_json) *into.mutable_json(JsonBegin(into, i)) = from.json(fjb);
}

}  // namespace cairn::profile
