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

// A merged entry's smallest / largest / summed value.
double EntryMin(const v1::WindowEntry& e) { return e.value(); }
double EntryMax(const v1::WindowEntry& e) { return e.count() > 1 ? e.max() : e.value(); }
double EntrySum(const v1::WindowEntry& e) { return e.count() > 1 ? e.sum() : e.value(); }

Value TimeOrJson(const ComputedTrait& t, const std::string& json, TimestampMs at) {
  if (t.of.empty()) return Value::TimestampFromMs(at);
  return Value::FromJson(json);
}

Value NumberOrTime(const ComputedTrait& t, double v) {
  if (t.of.empty()) return Value::TimestampFromMs(static_cast<TimestampMs>(v));
  return Value::Double(v);
}

// Keeps a window within kMaxWindowEntries: distinct drops its oldest
// entries (and their share of the running totals), the others merge the
// two oldest (count, sum, min and max stay exact).
void Bound(const ComputedTrait& t, v1::ComputedState& s) {
  auto* w = s.mutable_window();
  const int over = w->size() - kMaxWindowEntries;
  if (over <= 0) return;
  if (t.aggregate == Aggregate::kDistinct) {
    for (int i = 0; i < over; ++i) {
      s.set_window_count(s.window_count() - w->Get(i).count());
      s.set_window_sum(s.window_sum() - EntrySum(w->Get(i)));
    }
    w->DeleteSubrange(0, over);
    return;
  }
  // Merge the `over + 1` oldest into one, pair by pair from the oldest.
  for (int i = 0; i < over; ++i) {
    const auto& a = w->Get(i);
    v1::WindowEntry& b = *w->Mutable(i + 1);
    const double mn = std::min(EntryMin(a), EntryMin(b));
    const double mx = std::max(EntryMax(a), EntryMax(b));
    const double sum = EntrySum(a) + EntrySum(b);
    if (t.aggregate == Aggregate::kFirst) b.set_json(a.json());
    b.set_count(a.count() + b.count());
    b.set_value(mn);
    b.set_max(mx);
    b.set_sum(sum);
  }
  w->DeleteSubrange(0, over);
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

void AddWindowEntry(const ComputedTrait& t, v1::WindowEntry e, v1::ComputedState& s) {
  auto* w = s.mutable_window();
  const TimestampMs at = e.at_ms();
  const uint32_t count = std::max<uint32_t>(1, e.count());
  const double sum = EntrySum(e);
  // Keep time order; a late event goes where it belongs (after equal times).
  int pos = w->size();
  while (pos > 0 && w->Get(pos - 1).at_ms() > at) --pos;
  w->Add(std::move(e));
  for (int i = w->size() - 1; i > pos; --i) w->SwapElements(i, i - 1);
  s.set_window_count(s.window_count() + count);
  s.set_window_sum(s.window_sum() + sum);
  if (w->size() > kMaxWindowEntries) {
    if (t.aggregate == Aggregate::kDistinct) {
      s.set_window_count(s.window_count() - w->Get(0).count());
      s.set_window_sum(s.window_sum() - EntrySum(w->Get(0)));
      w->DeleteSubrange(0, 1);
    } else {  // merge the two oldest
      const auto& a = w->Get(0);
      v1::WindowEntry& b = *w->Mutable(1);
      const double mn = std::min(EntryMin(a), EntryMin(b));
      const double mx = std::max(EntryMax(a), EntryMax(b));
      const double merged_sum = EntrySum(a) + EntrySum(b);
      if (t.aggregate == Aggregate::kFirst) b.set_json(a.json());
      b.set_count(a.count() + b.count());
      b.set_value(mn);
      b.set_max(mx);
      b.set_sum(merged_sum);
      w->DeleteSubrange(0, 1);
    }
  }
}

void Fold(const ComputedTrait& t, const Occurrence& o, v1::ComputedState& s) {
  if (t.window_ms > 0) {
    auto* w = s.mutable_window();
    // Keep time order; a late event goes where it belongs (after equal times).
    int pos = w->size();
    while (pos > 0 && w->Get(pos - 1).at_ms() > o.at_ms) --pos;
    v1::WindowEntry& e = *w->Add();  // built in place
    e.set_at_ms(o.at_ms);
    e.set_value(o.number);
    e.set_count(1);
    if ((t.aggregate == Aggregate::kFirst || t.aggregate == Aggregate::kLast) && !o.json.empty()) {
      e.set_json(o.json);
    }
    if (t.aggregate == Aggregate::kDistinct) e.set_hash(o.hash);
    for (int i = w->size() - 1; i > pos; --i) w->SwapElements(i, i - 1);
    s.set_window_count(s.window_count() + 1);
    s.set_window_sum(s.window_sum() + o.number);
    Bound(t, s);
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
  auto* w = s.mutable_window();
  int gone = 0;
  while (gone < w->size() && w->Get(gone).at_ms() <= now - t.window_ms) ++gone;
  if (gone > 0) {
    uint64_t count = s.window_count();
    double sum = s.window_sum();
    for (int i = 0; i < gone; ++i) {
      count -= std::min<uint64_t>(count, w->Get(i).count());
      sum -= EntrySum(w->Get(i));
    }
    w->DeleteSubrange(0, gone);
    if (w->empty()) sum = 0;  // no drift survives an empty window
    s.set_window_count(count);
    s.set_window_sum(sum);
  }
  s.set_expired_at_ms(now);
  return w->empty() ? 0 : w->Get(0).at_ms() + t.window_ms;
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
  // Windowed: only the entries inside (now - window, now].
  const TimestampMs from = now - t.window_ms;
  // Pruned at this very time (the profile stage does that first): the
  // running totals and the ends of the window are the answer.
  const bool pruned =
      s->expired_at_ms() == now && (s->window().empty() || s->window(0).at_ms() > from);
  if (pruned) {
    const auto n = s->window_count();
    switch (t.aggregate) {
      case Aggregate::kCount:
        return Value::Int(static_cast<int64_t>(n));
      case Aggregate::kSum:
        return Value::Double(s->window_sum());
      case Aggregate::kAvg:
        return n > 0 ? Value::Double(s->window_sum() / static_cast<double>(n)) : Value::Null();
      case Aggregate::kFirst:
        return n > 0 ? TimeOrJson(t, s->window(0).json(), s->window(0).at_ms()) : Value::Null();
      case Aggregate::kLast: {
        if (n == 0) return Value::Null();
        const auto& e = s->window(s->window_size() - 1);
        return TimeOrJson(t, e.json(), e.at_ms());
      }
      default:
        break;  // min, max, distinct: scan
    }
  }
  uint64_t count = 0;
  double sum = 0, mn = 0, mx = 0;
  const v1::WindowEntry* first = nullptr;
  const v1::WindowEntry* last = nullptr;
  std::vector<uint64_t> hashes;
  for (const auto& e : s->window()) {
    if (e.at_ms() <= from) continue;
    if (count == 0 || EntryMin(e) < mn) mn = EntryMin(e);
    if (count == 0 || EntryMax(e) > mx) mx = EntryMax(e);
    count += e.count();
    sum += EntrySum(e);
    if (first == nullptr) first = &e;
    last = &e;
    if (t.aggregate == Aggregate::kDistinct) hashes.push_back(e.hash());
  }
  switch (t.aggregate) {
    case Aggregate::kCount:
      return Value::Int(static_cast<int64_t>(count));
    case Aggregate::kSum:
      return Value::Double(sum);
    case Aggregate::kAvg:
      return count > 0 ? Value::Double(sum / static_cast<double>(count)) : Value::Null();
    case Aggregate::kMin:
      return count > 0 ? NumberOrTime(t, mn) : Value::Null();
    case Aggregate::kMax:
      return count > 0 ? NumberOrTime(t, mx) : Value::Null();
    case Aggregate::kFirst:
      return first != nullptr ? TimeOrJson(t, first->json(), first->at_ms()) : Value::Null();
    case Aggregate::kLast:
      return last != nullptr ? TimeOrJson(t, last->json(), last->at_ms()) : Value::Null();
    case Aggregate::kDistinct: {
      std::sort(hashes.begin(), hashes.end());
      return Value::Int(std::unique(hashes.begin(), hashes.end()) - hashes.begin());
    }
  }
  return Value::Null();
}

}  // namespace cairn::profile
