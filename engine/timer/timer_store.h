// Durable timers: every wait of a journey ("2 days", "no order for 90 days")
// is one row of the `timers` column family of the StateStore, written in the
// same WriteBatch as the event that caused it, and removed in the same
// WriteBatch as the effects of firing it.
//
// Key   <partition u32 BE><due_ms u64 BE, sign bit flipped><id len u32 BE><id><tag u64 BE>
// Value the caller's payload (a serialized cairn.v1.TimerPayload), may be empty.
// So a partition's timers scan in (due, customer, tag) order; customers of one
// due sort by (id length, id bytes). Negative dues sort before positive ones.
//
// Firing removes a pass's timers with ONE range tombstone (DeleteRange) from
// the partition's in-memory cursor to the last fired key; reads use
// iterate_lower_bound = cursor, so consumed ranges are never walked again
// (see README.md for the RocksDB guidance this follows).
//
// Threading: Add, Due, Consume, NextDue, Forget belong to ONE thread (the
// engine thread). CountPending and DecodeTimerKey/EncodeTimerKey may be called
// from any thread (CountPending only reads RocksDB, never the in-memory state).
//
// Writes are asynchronous (the engine hands batches to a writer thread, in
// order): a batch with Add()s or a Consume() may not have landed when Due() or
// NextDue() runs. TimerStore stays correct across that:
//  - the cursor keeps Due() from returning timers whose consuming batch is
//    still in flight;
//  - Due() never returns a timer beyond a key that was Add()ed and is not yet
//    readable, so a range tombstone never covers a timer that was not fired;
//  - a timer Add()ed at or below the cursor ("late": already due when added,
//    e.g. due = an old event's time + 0) is kept in memory and returned first
//    by the next Due(); when consumed it is removed with a point delete;
//  - a timer Add()ed between Due() and Consume() with a key at or below the
//    answer's last one (a fired step that waits 0) is put again after the
//    range tombstone, then fires as a late timer;
//  - NextDue() counts Add()ed timers at once, read or not.
// Requirements on the caller: batches are written in the order they were
// built, and `last` in Consume() is the last timer of the latest Due() answer
// for the partition (the caller fires the whole answer). If a batch holding Add()s or a Consume()
// of a partition is dropped instead of written, call Forget(partition) before going on.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cairn/clock.h"
#include "cairn/status.h"
#include "state/state_store.h"

namespace cairn::timer {

// A pending timer. Key order = (partition, due, customer, tag).
struct Timer {
  int32_t partition = 0;
  TimestampMs due_ms = 0;
  std::string customer_id;
  uint64_t tag = 0;     // caller-defined; makes the key unique per customer+due
  std::string payload;  // caller-defined bytes, may be empty

  bool operator==(const Timer&) const = default;
};

// The key of `timer` (payload is not part of it).
std::string EncodeTimerKey(const Timer& timer);
// The same, into `out` (replacing its content; reuses its capacity).
void EncodeTimerKeyInto(std::string& out, int32_t partition, TimestampMs due_ms,
                        std::string_view customer_id, uint64_t tag);
// Parses `key` into out.partition/due_ms/customer_id/tag (payload untouched).
// A malformed key (wrong size, length field out of range) is an
// kInvalidArgument error and leaves `out` unspecified; never crashes.
Status DecodeTimerKey(std::string_view key, Timer& out);
// The 4-byte prefix shared by every timer key of `partition`.
std::string TimerPartitionPrefix(int32_t partition);

class TimerStore {
 public:
  // `store` must outlive this object.
  explicit TimerStore(state::StateStore* store);
  TimerStore(const TimerStore&) = delete;
  TimerStore& operator=(const TimerStore&) = delete;

  // Puts `timer` into `batch`; it lands with the batch's other writes. A
  // timer with the key of a pending one replaces it.
  void Add(state::StateStore::Batch& batch, const Timer& timer);

  // Appends to `out`, in key order, at most `limit` timers of `partition`
  // with due_ms <= now: first late timers (see above), then stored ones after
  // the cursor (the last key Consume()d in this process), stopping before any
  // Add()ed timer that is not readable yet. Removes nothing; calling it again
  // before Consume() returns the same timers. Malformed keys are logged,
  // counted (malformed_keys()) and skipped; the next range delete removes them.
  Status Due(int32_t partition, TimestampMs now, size_t limit, std::vector<Timer>& out);

  // Removes, in `batch`, the timers of `partition` the latest Due() answer
  // returned: ONE range tombstone from the cursor to `last`'s key (plus a
  // point delete per late timer), and moves the cursor to `last`. `last` must
  // be the last timer of that answer (the caller fires all of it). Timers
  // Add()ed since that Due() with a key <= `last` are put again after the
  // tombstone; timers Add()ed after Consume() with such a key come after it in
  // the batch anyway. Both survive and fire as late timers.
  void Consume(state::StateStore::Batch& batch, int32_t partition, const Timer& last);

  // Earliest due_ms of the pending timers of `partition` (stored, Add()ed
  // since, late), or nullopt when there are none. Cached; after a Consume()
  // that passed the cached one, the next call seeks once from the cursor.
  // On a read error it returns the smallest TimestampMs, so the caller's
  // Due() runs and reports the error.
  std::optional<TimestampMs> NextDue(int32_t partition);

  // GDPR erasure: removes, in `batch`, every pending timer of `customer` on
  // `partition` (stored ones found by a scan of the partition's timers, late
  // ones, and ones Add()ed but not yet readable, which are forgotten so they
  // never hold Due() back). Returns how many were removed. O(timers of the
  // partition): erasures are rare. Engine thread.
  Result<uint64_t> EraseCustomer(state::StateStore::Batch& batch, int32_t partition,
                                 std::string_view customer);

  // Drops the in-memory state of `partition` (cursor, next due, late and
  // not-yet-readable timers). Call on revoke, after the partition's last
  // batch was written; the partition then reads afresh from RocksDB.
  void Forget(int32_t partition);

  // Rows of `partition` in RocksDB (a scan of the stored, written state;
  // timers consumed by a batch still in flight are included). Any thread.
  Result<uint64_t> CountPending(int32_t partition) const;

  // Malformed keys Due() skipped in this process (engine thread).
  uint64_t malformed_keys() const { return malformed_keys_; }

 private:
  static constexpr size_t kMinPrune = 1024;
  struct PartitionState {
    std::optional<std::string> cursor;  // key of the last consumed timer
    std::map<std::string, Timer> late;  // Add()ed with key <= cursor
    // Last key of the latest Due() answer, until Consume(); and the timers
    // Add()ed since with a key at or below it (Consume() puts them again).
    std::optional<std::string> answered;
    std::map<std::string, Timer> endangered;
    // Keys Add()ed above the cursor and not yet seen readable, in Add order.
    // Writes land in order, so the readable ones form a prefix (see Prune).
    std::deque<std::string> unproven;
    size_t prune_at = kMinPrune;
    bool next_known = false;              // next_key is valid
    std::optional<std::string> next_key;  // smallest pending key; nullopt: none
  };

  PartitionState& State(int32_t partition);
  // Drops the leading unproven keys that are readable now.
  void Prune(PartitionState& p);
  // Smallest unproven key (all are above the cursor after Prune), or nullptr.
  static const std::string* MinUnproven(const PartitionState& p);
  // Recomputes p.next_key; false on a read error.
  bool RefreshNext(int32_t partition, PartitionState& p);

  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* cf_;
  std::unordered_map<int32_t, PartitionState> partitions_;
  std::string key_;  // scratch for Add
  uint64_t malformed_keys_ = 0;
};

}  // namespace cairn::timer
