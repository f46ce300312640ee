#include "profile/values.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <nlohmann/json.hpp>
#include <vector>

#include "cairn/fnv1a.h"

namespace cairn::profile {
namespace {

using expr::Value;

bool Numeric(Aggregate a) {
  return a == Aggregate::kSum || a == Aggregate::kAvg || a == Aggregate::kMin ||
         a == Aggregate::kMax;
}

Value TimeOrJson(const ComputedTrait& t, const std::string& json, TimestampMs at) {
  if (t.of.empty()) return Value::TimestampFromMs(at);
  return Value::FromJson(json);
}

Value NumberOrTime(const ComputedTrait& t, double v) {
  if (t.of.empty()) return Value::TimestampFromMs(static_cast<TimestampMs>(v));
  return Value::Double(v);
}

// ---- windows: the w_* columns of v1::ComputedState

bool HasValue(const ComputedTrait& t) { return Numeric(t.aggregate); }
bool HasJson(const ComputedTrait& t) {
  return (t.aggregate == Aggregate::kFirst || t.aggregate == Aggregate::kLast) && !t.of.empty();
}
bool HasHash(const ComputedTrait& t) { return t.aggregate == Aggregate::kDistinct; }

// One entry as the columns hold it. An entry of merged occurrences
// (count > 1) has its smallest value in `value`, and its largest and sum.
struct Entry {
  TimestampMs at = 0;
  double value = 0;
  uint32_t count = 1;
  double max = 0;
  double sum = 0;
  std::string json;
  uint64_t hash = 0;
};

// Reads entry i of a window; a column shorter than w_at (a trait whose
// aggregate changed) reads as its defaults.
class WindowView {
 public:
  explicit WindowView(const v1::ComputedState& s) : s_(s) {}
  int size() const { return s_.w_at_size(); }
  TimestampMs at(int i) const { return s_.w_at(i); }
  uint32_t count(int i) const { return i < s_.w_count_size() ? s_.w_count(i) : 1; }
  double min(int i) const { return i < s_.w_value_size() ? s_.w_value(i) : 0; }
  double max(int i) const { return i < s_.w_max_size() ? s_.w_max(i) : min(i); }
  double sum(int i) const { return i < s_.w_sum_size() ? s_.w_sum(i) : min(i); }
  const std::string& json(int i) const {
    static const std::string kNone;
    return i < s_.w_json_size() ? s_.w_json(i) : kNone;
  }
  uint64_t hash(int i) const { return i < s_.w_hash_size() ? s_.w_hash(i) : 0; }
  // The first entry inside (from, ...]: entries are in time order.
  int FirstAfter(TimestampMs from) const {
    const auto& a = s_.w_at();
    return static_cast<int>(std::upper_bound(a.begin(), a.end(), from) - a.begin());
  }
  Entry Get(int i) const {
    return Entry{at(i), min(i), count(i), max(i), sum(i), json(i), hash(i)};
  }

 private:
  const v1::ComputedState& s_;
};

template <typename Field, typename V>
void Fit(Field* f, int n, const V& fill) {
  while (f->size() > n) f->RemoveLast();
  while (f->size() < n) f->Add(fill);
}

bool Merged(const v1::ComputedState& s) { return s.w_count_size() > 0; }

// Gives every column the trait needs as many entries as w_at and clears
// the others (a no-op unless the trait's aggregate changed).
void Normalize(const ComputedTrait& t, v1::ComputedState& s) {
  const int n = s.w_at_size();
  const WindowView w(s);
  auto fit_double = [&](google::protobuf::RepeatedField<double>* f, bool want, bool from_value) {
    if (!want) {
      f->Clear();
      return;
    }
    if (f->size() == n) return;
    const int old = f->size();
    Fit(f, n, 0.0);
    for (int i = old; i < n && from_value; ++i) f->Set(i, w.min(i));
  };
  fit_double(s.mutable_w_value(), HasValue(t), false);
  const bool merged = Merged(s);
  if (merged && s.w_count_size() != n) Fit(s.mutable_w_count(), n, 1u);
  fit_double(s.mutable_w_max(), merged && HasValue(t), true);
  fit_double(s.mutable_w_sum(), merged && HasValue(t), true);
  if (!HasHash(t)) {
    s.clear_w_hash();
  } else if (s.w_hash_size() != n) {
    Fit(s.mutable_w_hash(), n, uint64_t{0});
  }
  if (!HasJson(t)) {
    s.clear_w_json();
  } else {
    while (s.w_json_size() > n) s.mutable_w_json()->RemoveLast();
    while (s.w_json_size() < n) s.add_w_json();
  }
}

// Switches to the merged layout: a count (and max, sum) per entry.
void MakeMerged(const ComputedTrait& t, v1::ComputedState& s) {
  if (Merged(s) || s.w_at_size() == 0) return;
  const int n = s.w_at_size();
  Fit(s.mutable_w_count(), n, 1u);
  if (HasValue(t)) {
    *s.mutable_w_max() = s.w_value();
    *s.mutable_w_sum() = s.w_value();
  }
}

template <typename Field>
void EraseFront(Field* f, int n) {
  if (f->empty()) return;
  f->erase(f->begin(), f->begin() + std::min(n, f->size()));
}

void EraseFront(v1::ComputedState& s, int n) {
  EraseFront(s.mutable_w_at(), n);
  EraseFront(s.mutable_w_value(), n);
  EraseFront(s.mutable_w_hash(), n);
  EraseFront(s.mutable_w_json(), n);
  EraseFront(s.mutable_w_count(), n);
  EraseFront(s.mutable_w_max(), n);
  EraseFront(s.mutable_w_sum(), n);
}

template <typename Field, typename V>
void InsertAt(Field* f, int pos, V&& v) {
  f->Add(std::forward<V>(v));
  for (int i = f->size() - 1; i > pos; --i) f->SwapElements(i, i - 1);
}

// Keeps a window within kMaxWindowEntries: distinct drops its oldest entry
// (and its share of the running totals); the others merge the two oldest
// (count, sum, min and max stay exact; the pair expires with the newer).
void Bound(const ComputedTrait& t, v1::ComputedState& s) {
  while (s.w_at_size() > kMaxWindowEntries) {
    const WindowView w(s);
    if (t.aggregate == Aggregate::kDistinct) {
      s.set_window_count(s.window_count() - std::min<uint64_t>(s.window_count(), w.count(0)));
      EraseFront(s, 1);
      continue;
    }
    MakeMerged(t, s);
    s.set_w_count(1, s.w_count(0) + s.w_count(1));
    if (HasValue(t)) {
      s.set_w_value(1, std::min(w.min(0), w.min(1)));
      s.set_w_max(1, std::max(w.max(0), w.max(1)));
      s.set_w_sum(1, w.sum(0) + w.sum(1));
    }
    if (t.aggregate == Aggregate::kFirst && HasJson(t)) s.mutable_w_json()->SwapElements(0, 1);
    EraseFront(s, 1);
  }
}

// Adds one entry in time order (a late one goes after equal times), keeping
// the running totals and the entry cap.
void AddEntry(const ComputedTrait& t, Entry e, v1::ComputedState& s) {
  Normalize(t, s);
  const bool merged = e.count > 1 || Merged(s);
  if (merged) MakeMerged(t, s);
  int pos = s.w_at_size();
  while (pos > 0 && s.w_at(pos - 1) > e.at) --pos;
  const double sum = e.count > 1 ? e.sum : e.value;
  InsertAt(s.mutable_w_at(), pos, e.at);
  if (HasValue(t)) InsertAt(s.mutable_w_value(), pos, e.value);
  if (HasHash(t)) InsertAt(s.mutable_w_hash(), pos, e.hash);
  if (HasJson(t)) InsertAt(s.mutable_w_json(), pos, std::move(e.json));
  if (merged) {
    InsertAt(s.mutable_w_count(), pos, std::max<uint32_t>(1, e.count));
    if (HasValue(t)) {
      InsertAt(s.mutable_w_max(), pos, e.count > 1 ? e.max : e.value);
      InsertAt(s.mutable_w_sum(), pos, sum);
    }
  }
  s.set_window_count(s.window_count() + std::max<uint32_t>(1, e.count));
  if (HasValue(t)) s.set_window_sum(s.window_sum() + sum);
  Bound(t, s);
}

// Moves entries of the old layout (one message each) into the columns and
// recomputes the running totals from them.
void MigrateWindow(const ComputedTrait& t, v1::ComputedState& s) {
  if (s.window_size() == 0) return;
  google::protobuf::RepeatedPtrField<v1::WindowEntry> old;
  old.Swap(s.mutable_window());
  s.clear_expired_at_ms();
  s.clear_w_at();
  s.clear_w_value();
  s.clear_w_hash();
  s.clear_w_json();
  s.clear_w_count();
  s.clear_w_max();
  s.clear_w_sum();
  s.set_window_count(0);
  s.set_window_sum(0);
  for (auto& o : old) {
    const bool merged = o.count() > 1;
    AddEntry(
        t,
        Entry{o.at_ms(), o.value(), std::max<uint32_t>(1, o.count()), merged ? o.max() : o.value(),
              merged ? o.sum() : o.value(), std::move(*o.mutable_json()), o.hash()},
        s);
  }
}

}  // namespace

bool AlignTraits(const Model& m, v1::ProfileState& p) {
  bool aligned = p.traits_size() == static_cast<int>(m.traits.size());
  for (size_t i = 0; aligned && i < m.traits.size(); ++i) {
    aligned = p.traits(static_cast<int>(i)).name() == m.traits[i].name;
  }
  if (aligned) return false;
  google::protobuf::RepeatedPtrField<v1::ComputedState> old;
  old.Swap(p.mutable_traits());
  for (const auto& t : m.traits) {
    v1::ComputedState* s = p.add_traits();
    for (auto& o : old) {
      if (o.name() == t.name) {
        s->Swap(&o);
        break;
      }
    }
    s->set_name(t.name);
  }
  return true;
}

const v1::ComputedState* FindComputed(const v1::ProfileState& p, std::string_view name,
                                      size_t index) {
  if (index < static_cast<size_t>(p.traits_size()) &&
      p.traits(static_cast<int>(index)).name() == name) {
    return &p.traits(static_cast<int>(index));
  }
  for (const auto& s : p.traits()) {
    if (s.name() == name) return &s;
  }
  return nullptr;
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

void MergeWindow(const ComputedTrait& t, v1::ComputedState& into, const v1::ComputedState& from) {
  MigrateWindow(t, into);
  v1::ComputedState legacy;
  const v1::ComputedState* f = &from;
  if (from.window_size() > 0) {
    legacy = from;
    MigrateWindow(t, legacy);
    f = &legacy;
  }
  const WindowView w(*f);
  for (int i = 0; i < w.size(); ++i) AddEntry(t, w.Get(i), into);
}

void Fold(const ComputedTrait& t, const Occurrence& o, v1::ComputedState& s) {
  if (t.window_ms > 0) {
    MigrateWindow(t, s);
    AddEntry(t, Entry{o.at_ms, o.number, 1, o.number, o.number, o.json, o.hash}, s);
    return;
  }
  const bool had = s.count() > 0;
  s.set_count(s.count() + 1);
  switch (t.aggregate) {
    case Aggregate::kCount:
      break;
    case Aggregate::kSum:
    case Aggregate::kAvg:
      s.set_sum(s.sum() + o.number);
      break;
    case Aggregate::kMin:
      if (!had || o.number < s.min()) s.set_min(o.number);
      break;
    case Aggregate::kMax:
      if (!had || o.number > s.max()) s.set_max(o.number);
      break;
    case Aggregate::kFirst:
      if (!had || o.at_ms < s.first_at_ms()) {
        s.set_first_at_ms(o.at_ms);
        s.set_first_json(o.json);
      }
      break;
    case Aggregate::kLast:
      if (!had || o.at_ms >= s.last_at_ms()) {
        s.set_last_at_ms(o.at_ms);
        s.set_last_json(o.json);
      }
      break;
    case Aggregate::kDistinct: {
      auto* d = s.mutable_distinct();
      auto it = std::lower_bound(d->begin(), d->end(), o.hash);
      if ((it == d->end() || *it != o.hash) && d->size() < kMaxDistinct) {
        const auto at = static_cast<int>(it - d->begin());
        d->Add(o.hash);
        for (int i = d->size() - 1; i > at; --i) d->SwapElements(i, i - 1);
      }
      break;
    }
  }
}

TimestampMs Expire(const ComputedTrait& t, TimestampMs now, v1::ComputedState& s) {
  if (t.window_ms <= 0) return 0;
  if (s.window_size() == 0) {  // the usual case first: nothing has left the window
    if (s.w_at_size() == 0) return 0;
    if (s.w_at(0) > now - t.window_ms) return s.w_at(0) + t.window_ms;
  }
  MigrateWindow(t, s);
  const WindowView w(s);
  const int gone = w.FirstAfter(now - t.window_ms);
  if (gone > 0) {
    Normalize(t, s);
    uint64_t count = s.window_count();
    double sum = s.window_sum();
    for (int i = 0; i < gone; ++i) {
      count -= std::min<uint64_t>(count, w.count(i));
      if (HasValue(t)) sum -= w.sum(i);
    }
    EraseFront(s, gone);
    if (s.w_at_size() == 0) count = 0, sum = 0;  // no drift survives an empty window
    s.set_window_count(count);
    s.set_window_sum(sum);
  }
  return s.w_at_size() == 0 ? 0 : s.w_at(0) + t.window_ms;
}

Value ComputedValue(const ComputedTrait& t, const v1::ComputedState* s, TimestampMs now) {
  static const v1::ComputedState kEmpty;
  if (s == nullptr) s = &kEmpty;
  if (t.window_ms <= 0) {
    const bool any = s->count() > 0;
    switch (t.aggregate) {
      case Aggregate::kCount:
        return Value::Int(static_cast<int64_t>(s->count()));
      case Aggregate::kSum:
        return Value::Double(s->sum());
      case Aggregate::kAvg:
        return any ? Value::Double(s->sum() / static_cast<double>(s->count())) : Value::Null();
      case Aggregate::kMin:
        return any ? NumberOrTime(t, s->min()) : Value::Null();
      case Aggregate::kMax:
        return any ? NumberOrTime(t, s->max()) : Value::Null();
      case Aggregate::kFirst:
        return any ? TimeOrJson(t, s->first_json(), s->first_at_ms()) : Value::Null();
      case Aggregate::kLast:
        return any ? TimeOrJson(t, s->last_json(), s->last_at_ms()) : Value::Null();
      case Aggregate::kDistinct:
        return Value::Int(s->distinct_size());
    }
    return Value::Null();
  }
  if (s->window_size() > 0) {  // the old layout, read by a copy
    v1::ComputedState copy = *s;
    MigrateWindow(t, copy);
    return ComputedValue(t, &copy, now);
  }
  // Windowed: only the entries inside (now - window, now].
  const WindowView w(*s);
  const int begin = w.FirstAfter(now - t.window_ms);
  const int end = w.size();
  if (begin == 0) {  // nothing has left the window: the running totals are the answer
    const auto n = s->window_count();
    switch (t.aggregate) {
      case Aggregate::kCount:
        return Value::Int(static_cast<int64_t>(n));
      case Aggregate::kSum:
        return Value::Double(s->window_sum());
      case Aggregate::kAvg:
        return n > 0 ? Value::Double(s->window_sum() / static_cast<double>(n)) : Value::Null();
      default:
        break;
    }
  }
  if (begin == end) {
    switch (t.aggregate) {
      case Aggregate::kCount:
      case Aggregate::kDistinct:
        return Value::Int(0);
      case Aggregate::kSum:
        return Value::Double(0);
      default:
        return Value::Null();
    }
  }
  switch (t.aggregate) {
    case Aggregate::kFirst:
      return TimeOrJson(t, w.json(begin), w.at(begin));
    case Aggregate::kLast:
      return TimeOrJson(t, w.json(end - 1), w.at(end - 1));
    case Aggregate::kDistinct: {
      std::vector<uint64_t> hashes;
      hashes.reserve(static_cast<size_t>(end - begin));
      for (int i = begin; i < end; ++i) hashes.push_back(w.hash(i));
      std::sort(hashes.begin(), hashes.end());
      return Value::Int(std::unique(hashes.begin(), hashes.end()) - hashes.begin());
    }
    default:
      break;
  }
  uint64_t count = 0;
  double sum = 0, mn = w.min(begin), mx = w.max(begin);
  for (int i = begin; i < end; ++i) {
    mn = std::min(mn, w.min(i));
    mx = std::max(mx, w.max(i));
    count += w.count(i);
    sum += w.sum(i);
  }
  switch (t.aggregate) {
    case Aggregate::kCount:
      return Value::Int(static_cast<int64_t>(count));
    case Aggregate::kSum:
      return Value::Double(sum);
    case Aggregate::kAvg:
      return Value::Double(sum / static_cast<double>(count));
    case Aggregate::kMin:
      return NumberOrTime(t, mn);
    case Aggregate::kMax:
      return NumberOrTime(t, mx);
    default:
      break;
  }
  return Value::Null();
}

}  // namespace cairn::profile
