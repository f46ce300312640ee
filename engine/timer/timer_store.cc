#include "timer/timer_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <set>

#include "cairn/big_endian.h"

namespace cairn::timer {
namespace {

constexpr size_t kFixedKeyBytes = 4 + 8 + 4 + 8;  // partition, due, id length, tag
constexpr uint64_t kSignBit = uint64_t{1} << 63;

uint64_t EncodeDue(TimestampMs due) { return static_cast<uint64_t>(due) ^ kSignBit; }
TimestampMs DecodeDue(uint64_t v) { return static_cast<TimestampMs>(v ^ kSignBit); }

// The due of a key known to be well formed (one this object encoded or decoded).
TimestampMs KeyDue(const std::string& key) { return DecodeDue(GetU64BE(key.data() + 4)); }

// First key after every timer key of `partition`; nullopt for partition
// 0xFFFFFFFF (no 4-byte successor): callers also check the prefix.
std::optional<std::string> PartitionEnd(int32_t partition) {
  const auto p = static_cast<uint32_t>(partition);
  if (p == std::numeric_limits<uint32_t>::max()) return std::nullopt;
  std::string out;
  PutU32BE(out, p + 1);
  return out;
}

// First key after every timer of `partition` due at or before `now`.
std::optional<std::string> DueEnd(int32_t partition, TimestampMs now) {
  if (now == std::numeric_limits<TimestampMs>::max()) return PartitionEnd(partition);
  std::string out = TimerPartitionPrefix(partition);
  PutU64BE(out, EncodeDue(now + 1));
  return out;
}

// The smallest key of `partition` still pending after the cursor.
std::string LowerBound(int32_t partition, const std::optional<std::string>& cursor) {
  if (!cursor) return TimerPartitionPrefix(partition);
  std::string out = *cursor;
  out.push_back('\0');  // the immediate successor in bytewise order
  return out;
}

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  StatusCode code = s.IsCorruption() ? StatusCode::kDataLoss
                    : s.IsIOError()  ? StatusCode::kUnavailable
                                     : StatusCode::kInternal;
  return {code, std::string(what) + ": " + s.ToString()};
}

}  // namespace

std::string TimerPartitionPrefix(int32_t partition) {
  std::string out;
  PutU32BE(out, static_cast<uint32_t>(partition));
  return out;
}

void EncodeTimerKeyInto(std::string& out, int32_t partition, TimestampMs due_ms,
                        std::string_view customer_id, uint64_t tag) {
  out.clear();
  out.reserve(kFixedKeyBytes + customer_id.size());
  PutU32BE(out, static_cast<uint32_t>(partition));
  PutU64BE(out, EncodeDue(due_ms));
  PutU32BE(out, static_cast<uint32_t>(customer_id.size()));
  out.append(customer_id);
  PutU64BE(out, tag);
}

std::string EncodeTimerKey(const Timer& timer) {
  std::string out;
  EncodeTimerKeyInto(out, timer.partition, timer.due_ms, timer.customer_id, timer.tag);
  return out;
}

Status DecodeTimerKey(std::string_view key, Timer& out) {
  if (key.size() < kFixedKeyBytes) {
    return InvalidArgument("timer key too short (" + std::to_string(key.size()) + " bytes)");
  }
  const uint32_t id_len = GetU32BE(key.data() + 12);
  if (id_len != key.size() - kFixedKeyBytes) {
    return InvalidArgument("timer key: customer id length " + std::to_string(id_len) +
                           " does not match key size " + std::to_string(key.size()));
  }
  out.partition = static_cast<int32_t>(GetU32BE(key.data()));
  out.due_ms = DecodeDue(GetU64BE(key.data() + 4));
  out.customer_id.assign(key.data() + 16, id_len);
  out.tag = GetU64BE(key.data() + 16 + id_len);
  return Status::Ok();
}

TimerStore::TimerStore(state::StateStore* store) : db_(store->db()), cf_(store->timers_cf()) {}

TimerStore::PartitionState& TimerStore::State(int32_t partition) { return partitions_[partition]; }

void TimerStore::Add(state::StateStore::Batch& batch, const Timer& timer) {
  EncodeTimerKeyInto(key_, timer.partition, timer.due_ms, timer.customer_id, timer.tag);
  (void)batch.raw().Put(cf_, key_, timer.payload);
  PartitionState& p = State(timer.partition);
  if (p.cursor && key_ <= *p.cursor) {
    // Already due: the range tombstones before it do not cover it (it is
    // written after them), but Due() reads above the cursor only.
    p.late.insert_or_assign(key_, timer);
  } else {
    if (p.answered && key_ <= *p.answered) p.endangered.insert_or_assign(key_, timer);
    p.unproven.push_back(key_);
    if (p.unproven.size() >= p.prune_at) Prune(p);
  }
  if (p.next_known && (!p.next_key || key_ < *p.next_key)) p.next_key = key_;
}

void TimerStore::Prune(PartitionState& p) {
  auto& q = p.unproven;
  if (!q.empty()) {
    rocksdb::PinnableSlice value;
    auto readable = [&](const std::string& key) {
      if (p.cursor && key <= *p.cursor) return true;  // consumed, so it was read
      value.Reset();
      return db_->Get(rocksdb::ReadOptions(), cf_, key, &value).ok();  // errors: not proven
    };
    // Batches land in the order they were built, so the readable keys are a
    // prefix of `q`: find its end with O(log n) point reads.
    if (readable(q.back())) {
      q.clear();
    } else {
      size_t lo = 0;
      size_t hi = q.size() - 1;  // q[hi] is not readable
      while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        if (readable(q[mid])) {
          lo = mid + 1;
        } else {
          hi = mid;
        }
      }
      q.erase(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(lo));
    }
  }
  p.prune_at = std::max(kMinPrune, 2 * q.size());
}

const std::string* TimerStore::MinUnproven(const PartitionState& p) {
  if (p.unproven.empty()) return nullptr;
  return &*std::min_element(p.unproven.begin(), p.unproven.end());
}

Status TimerStore::Due(int32_t partition, TimestampMs now, size_t limit, std::vector<Timer>& out) {
  PartitionState& p = State(partition);
  // A new answer: timers added since the previous one are read like any
  // other (returned when readable, a bound for this answer when not).
  p.answered.reset();
  p.endangered.clear();
  if (limit == 0) return Status::Ok();
  const size_t first = out.size();
  size_t n = 0;
  for (const auto& [key, timer] : p.late) {
    if (n == limit || timer.due_ms > now) break;  // keys sort by due
    out.push_back(timer);
    ++n;
  }
  if (n == limit) {
    p.answered = EncodeTimerKey(out.back());
    return Status::Ok();
  }

  const std::string prefix = TimerPartitionPrefix(partition);
  const std::string lower = LowerBound(partition, p.cursor);
  std::optional<std::string> upper = DueEnd(partition, now);
  // Stop before a timer Add()ed but not readable yet: a range tombstone
  // reaching past it would delete it, unfired, once its batch lands.
  const std::string* pending = MinUnproven(p);
  if (pending != nullptr && (!upper || *pending < *upper)) {
    Prune(p);
    pending = MinUnproven(p);
    if (pending != nullptr && (!upper || *pending < *upper)) upper = *pending;
  }
  if (upper && lower >= *upper) return Status::Ok();

  const rocksdb::Slice lower_slice(lower);
  rocksdb::Slice upper_slice;
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = &lower_slice;
  if (upper) {
    upper_slice = *upper;
    ro.iterate_upper_bound = &upper_slice;
  }
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf_));
  size_t malformed = 0;
  for (it->Seek(lower_slice); it->Valid() && n < limit; it->Next()) {
    const rocksdb::Slice key = it->key();
    if (!key.starts_with(prefix)) break;  // only without an upper bound
    Timer& t = out.emplace_back();
    if (!DecodeTimerKey(std::string_view(key.data(), key.size()), t).ok()) {
      out.pop_back();
      ++malformed;
      continue;
    }
    if (t.due_ms > now) {  // only without an upper bound
      out.pop_back();
      break;
    }
    t.payload.assign(it->value().data(), it->value().size());
    ++n;
  }
  if (out.size() > first) p.answered = EncodeTimerKey(out.back());
  if (malformed > 0) {
    malformed_keys_ += malformed;
    spdlog::warn("timers: partition {}: skipped {} malformed key(s); the next firing removes them",
                 partition, malformed);
  }
  return FromRocks(it->status(), "read due timers");
}

void TimerStore::Consume(state::StateStore::Batch& batch, int32_t partition, const Timer& last) {
  PartitionState& p = State(partition);
  std::string key;
  EncodeTimerKeyInto(key, partition, last.due_ms, last.customer_id, last.tag);
  auto& wb = batch.raw();
  for (auto it = p.late.begin(); it != p.late.end() && it->first <= key;) {
    (void)wb.Delete(cf_, it->first);
    it = p.late.erase(it);
  }
  if (p.next_known && p.next_key && *p.next_key <= key) p.next_known = false;
  if (!p.cursor || *p.cursor < key) {
    // [cursor, last]: disjoint from the previous passes' tombstones, so the
    // fragmented tombstone list stays linear in the number of passes.
    std::string end = key;
    end.push_back('\0');
    (void)wb.DeleteRange(cf_, LowerBound(partition, p.cursor), end);
    // Timers added since the answer, below its end: their puts came before
    // the tombstone (in this batch or an earlier one). Put them again after it.
    const auto rescued = p.endangered.upper_bound(key);
    if (rescued != p.endangered.begin()) {
      for (auto it = p.endangered.begin(); it != rescued; ++it) {
        (void)wb.Put(cf_, it->first, it->second.payload);
      }
      // Now below the cursor: late, no longer a bound for Due().
      std::erase_if(p.unproven, [&](const std::string& k) { return k <= key; });
      p.late.insert(std::make_move_iterator(p.endangered.begin()),
                    std::make_move_iterator(rescued));
    }
    p.cursor = std::move(key);
  }
  p.answered.reset();
  p.endangered.clear();
}

bool TimerStore::RefreshNext(int32_t partition, PartitionState& p) {
  Prune(p);
  std::optional<std::string> best;
  if (!p.late.empty()) best = p.late.begin()->first;
  if (const std::string* m = MinUnproven(p); m != nullptr && (!best || *m < *best)) best = *m;

  const std::string prefix = TimerPartitionPrefix(partition);
  const std::string lower = LowerBound(partition, p.cursor);
  std::optional<std::string> upper = PartitionEnd(partition);
  if (best && (!upper || *best < *upper)) upper = best;  // only a smaller key matters
  if (!upper || lower < *upper) {
    const rocksdb::Slice lower_slice(lower);
    rocksdb::Slice upper_slice;
    rocksdb::ReadOptions ro;
    ro.iterate_lower_bound = &lower_slice;
    if (upper) {
      upper_slice = *upper;
      ro.iterate_upper_bound = &upper_slice;
    }
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf_));
    Timer scratch;
    for (it->Seek(lower_slice); it->Valid(); it->Next()) {
      const rocksdb::Slice key = it->key();
      if (!key.starts_with(prefix)) break;
      if (!DecodeTimerKey(std::string_view(key.data(), key.size()), scratch).ok()) continue;
      best = key.ToString();  // below `upper`, so below every other candidate
      break;
    }
    if (!it->status().ok()) {
      spdlog::error("timers: partition {}: next due: {}", partition, it->status().ToString());
      return false;
    }
  }
  p.next_key = std::move(best);
  p.next_known = true;
  return true;
}

std::optional<TimestampMs> TimerStore::NextDue(int32_t partition) {
  PartitionState& p = State(partition);
  if (!p.next_known && !RefreshNext(partition, p)) {
    return std::numeric_limits<TimestampMs>::min();
  }
  if (!p.next_key) return std::nullopt;
  return KeyDue(*p.next_key);
}

void TimerStore::Forget(int32_t partition) { partitions_.erase(partition); }

Result<uint64_t> TimerStore::EraseCustomer(state::StateStore::Batch& batch, int32_t partition,
                                           std::string_view customer) {
  PartitionState& p = State(partition);
  std::set<std::string> keys;
  auto mine = [&](const std::string& key) {
    Timer t;
    return DecodeTimerKey(key, t).ok() && t.customer_id == customer;
  };
  // Stored above the cursor (below it everything is consumed, or late).
  const std::string lower = LowerBound(partition, p.cursor);
  const std::optional<std::string> upper = PartitionEnd(partition);
  rocksdb::Slice lower_slice(lower);
  rocksdb::Slice upper_slice(upper ? *upper : std::string());
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = &lower_slice;
  if (upper) ro.iterate_upper_bound = &upper_slice;
  ro.fill_cache = false;
  const std::string prefix = TimerPartitionPrefix(partition);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf_));
  for (it->Seek(lower); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    std::string key = it->key().ToString();
    if (mine(key)) keys.insert(std::move(key));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "erase timers");
  for (auto l = p.late.begin(); l != p.late.end();) {
    if (l->second.customer_id == customer) {
      keys.insert(l->first);
      l = p.late.erase(l);
    } else {
      ++l;
    }
  }
  for (auto e = p.endangered.begin(); e != p.endangered.end();) {
    e = e->second.customer_id == customer ? p.endangered.erase(e) : std::next(e);
  }
  // Not yet readable: deleted after their Put (this batch or one in flight);
  // forgotten so Due() does not wait for them to appear.
  for (auto u = p.unproven.begin(); u != p.unproven.end();) {
    if (mine(*u)) {
      keys.insert(*u);
      u = p.unproven.erase(u);
    } else {
      ++u;
    }
  }
  for (const auto& key : keys) (void)batch.raw().Delete(cf_, key);
  p.next_known = false;
  return static_cast<uint64_t>(keys.size());
}

Result<uint64_t> TimerStore::CountPending(int32_t partition) const {
  const std::string prefix = TimerPartitionPrefix(partition);
  const std::optional<std::string> upper = PartitionEnd(partition);
  const rocksdb::Slice lower_slice(prefix);
  rocksdb::Slice upper_slice;
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  ro.iterate_lower_bound = &lower_slice;
  if (upper) {
    upper_slice = *upper;
    ro.iterate_upper_bound = &upper_slice;
  }
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf_));
  uint64_t count = 0;
  for (it->Seek(lower_slice); it->Valid() && it->key().starts_with(prefix); it->Next()) ++count;
  if (!it->status().ok()) return FromRocks(it->status(), "count timers");
  return count;
}

}  // namespace cairn::timer
