#include "analytics/reader.h"

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <chrono>
#include <memory>

#include "analytics/counter_merge.h"
#include "analytics/keys.h"
#include "cairn/big_endian.h"

namespace cairn::analytics {
namespace {

bool InRange(uint32_t hour, const Range& r) {
  if (hour == kRunningHour) return true;
  const int64_t start = int64_t{hour} * kHourMs;
  return start >= r.from && start < r.to;
}

// Calls fn(parsed key, value) for every key under `prefix` in range.
template <typename Fn>
Status Scan(state::StateStore& store, const std::string& prefix, const Range& range, Fn fn) {
  rocksdb::ReadOptions ro;
  std::unique_ptr<rocksdb::Iterator> it(store.db()->NewIterator(ro, store.analytics_cf()));
  ParsedKey k;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (!ParseKey(it->key().ToStringView(), k) || !InRange(k.hour, range)) continue;
    fn(k, DecodeCounter(it->value()));
  }
  if (!it->status().ok()) return Unavailable("analytics read: " + it->status().ToString());
  return Status::Ok();
}

}  // namespace

Result<std::map<std::string, Counters>> ReadJourneys(state::StateStore& store, const Range& range,
                                                     std::string_view journey) {
  std::map<std::string, Counters> out;
  std::string prefix(1, kJourneyKind);
  if (!journey.empty()) prefix = KeyPrefix(kJourneyKind, {journey}) + std::string(1, '\0');
  CAIRN_RETURN_IF_ERROR(Scan(store, prefix, range, [&](const ParsedKey& k, int64_t v) {
    if (k.fields.size() != 3) return;
    out[std::string(k.fields[0])][std::string(k.fields[1])][std::string(k.fields[2])] += v;
  }));
  return out;
}

Result<Heatmap> ReadHeatmap(state::StateStore& store, std::string_view event, const Range& range,
                            std::string_view tz) {
  const date::time_zone* zone = nullptr;
  try {
    zone = date::locate_zone(std::string(tz.empty() ? "UTC" : tz));
  } catch (const std::exception&) {
    return InvalidArgument("unknown time zone '" + std::string(tz) + "'");
  }
  std::map<uint32_t, uint64_t> by_hour;
  CAIRN_RETURN_IF_ERROR(Scan(store, KeyPrefix(kEventKind, {event}) + std::string(1, '\0'), range,
                             [&](const ParsedKey& k, int64_t v) {
                               if (k.fields.size() == 1 && k.hour != kRunningHour && v > 0) {
                                 by_hour[k.hour] += static_cast<uint64_t>(v);
                               }
                             }));
  Heatmap h;
  for (const auto& [hour, n] : by_hour) {
    const date::sys_seconds t{std::chrono::seconds(int64_t{hour} * 3600)};
    const auto local = zone->to_local(t);
    const auto day = date::floor<date::days>(local);
    const unsigned wd = date::weekday(day).iso_encoding() - 1;  // Mon = 0
    const auto hod = std::chrono::duration_cast<std::chrono::hours>(local - day).count();
    h.cells[wd][static_cast<size_t>(hod)] += n;
    h.total += n;
  }
  return h;
}

Result<Intervals> ReadIntervals(state::StateStore& store, std::string_view from_event,
                                std::string_view to_event, const Range& range) {
  Intervals out;
  out.counts.assign(kIntervalBuckets, 0);
  for (int b = 0; b < kIntervalBuckets; ++b) out.bounds.push_back(IntervalBucketBound(b));
  CAIRN_RETURN_IF_ERROR(Scan(store, KeyPrefix(kIntervalKind, {from_event, to_event, ""}), range,
                             [&](const ParsedKey& k, int64_t v) {
                               if (k.fields.size() != 3 || v <= 0) return;
                               int b = -1;
                               for (char c : k.fields[2]) {
                                 if (c < '0' || c > '9') return;
                                 b = (b < 0 ? 0 : b * 10) + (c - '0');
                               }
                               if (b < 0 || b >= kIntervalBuckets) return;
                               out.counts[static_cast<size_t>(b)] += static_cast<uint64_t>(v);
                               out.count += static_cast<uint64_t>(v);
                             }));
  return out;
}

Result<std::vector<PathCount>> ReadPaths(state::StateStore& store, std::string_view journey,
                                         const Range& range, size_t limit) {
  std::map<std::string, uint64_t> by_path;
  CAIRN_RETURN_IF_ERROR(
      Scan(store, KeyPrefix(kPathKind, {journey, ""}), range, [&](const ParsedKey& k, int64_t v) {
        if (k.fields.size() == 2 && v > 0) {
          by_path[std::string(k.fields[1])] += static_cast<uint64_t>(v);
        }
      }));
  std::vector<PathCount> out;
  for (const auto& [joined, n] : by_path) {
    PathCount p;
    p.count = n;
    std::string_view rest = joined;
    while (!rest.empty()) {
      const size_t at = rest.find(kPathSeparator);
      p.steps.emplace_back(rest.substr(0, at));
      if (at == std::string_view::npos) break;
      rest.remove_prefix(at + 1);
    }
    out.push_back(std::move(p));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const PathCount& a, const PathCount& b) { return a.count > b.count; });
  if (out.size() > limit) out.resize(limit);
  return out;
}

std::map<int64_t, std::map<std::string, int64_t>> ReadDaily(state::StateStore& store, bool rfm,
                                                            int64_t days) {
  constexpr std::string_view kDaily = "ph/";  // engine/profile/profile_store.h
  std::map<int32_t, std::map<int64_t, std::map<std::string, int64_t>>> by_partition;
  std::unique_ptr<rocksdb::Iterator> it(
      store.db()->NewIterator(rocksdb::ReadOptions(), store.meta_cf()));
  int64_t last_day = -1;
  for (it->Seek(std::string(kDaily)); it->Valid() && it->key().starts_with(kDaily); it->Next()) {
    const auto k = it->key();
    if (k.size() != kDaily.size() + 8) continue;
    const int64_t day = GetU32BE(k.data() + kDaily.size());
    const auto partition = static_cast<int32_t>(GetU32BE(k.data() + kDaily.size() + 4));
    v1::ProfileStats s;
    if (!s.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) continue;
    auto& row = by_partition[partition][day];
    for (const auto& [name, n] : rfm ? s.rfm_groups() : s.stages()) row[name] = n;
    last_day = std::max(last_day, day);
  }
  std::map<int64_t, std::map<std::string, int64_t>> out;
  if (last_day < 0 || days <= 0) return out;
  const int64_t first_day = last_day - days + 1;
  for (const auto& [partition, rows] : by_partition) {
    for (int64_t day = std::max(first_day, rows.begin()->first); day <= last_day; ++day) {
      auto at = rows.upper_bound(day);
      if (at == rows.begin()) continue;
      --at;  // the partition's last counts on or before `day`
      auto& d = out[day];
      for (const auto& [name, n] : at->second) d[name] += n;
    }
  }
  for (int64_t day = first_day; day <= last_day; ++day) {
    if (day >= 0) out[day];  // a day nothing was recorded for yet is present, empty
  }
  return out;
}

}  // namespace cairn::analytics
