// Customer state in RocksDB, scoped by Kafka partition.
//
// Column families:
//   customers  <partition u32 BE><id len u32 BE><id>            -> v1::CustomerState
//   history    <partition u32 BE><id len u32 BE><id><slot u64 BE> -> v1::HistoryEntry
//              a ring per customer: slot = seq % ring size, so a new entry
//              overwrites the oldest and history needs no deletes
//   trace      <partition><id len><id><slot u64 BE> -> v1::TraceEntry, a ring like history
//   timers     owned by engine/timer (timer_store.h): due timers in time order
//   outbox     owned by engine/runtime: tasks and emitted events awaiting the broker's ack
//   dispatch   owned by engine/dispatch: the send queue, the delivery ledger and
//              outcome events awaiting the broker's ack
//   analytics  owned by engine/analytics: counters merged by addition (analytics/counter_merge.h)
//   default    "cp/" <topic> "/" <partition u32 BE>              -> v1::PartitionCheckpoint
//              "jv/" <journey> "/" <version u32 BE>             -> journey YAML source
//              "jp/" <journey>  -> operator pause override (flow/overrides.h)
//              "gd/" <hex SHA-256 of secret+id> -> erasure time (engine/erasure)
// Every change of one poll batch, with the checkpoints of the partitions it
// read, goes into ONE WriteBatch (Batch + Write), WAL on. That is what makes
// state exactly-once on an at-least-once input: after a crash, the stored
// checkpoint and the state it covers are from the same write.
//
// Thread-safety: reads may run on any thread (the HTTP API reads while the
// ingest thread writes); a Batch belongs to one thread.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"
#include "cairn/v1/state.pb.h"

namespace cairn::state {

struct StoreOptions {
  std::string dir = "./cairn-data";
  // fsync the WAL on every batch. Off by default: a killed process loses
  // nothing (the OS has the WAL); a power loss may lose the last batches,
  // and since offsets are in the same batch they are simply read again.
  bool sync_writes = false;
  size_t block_cache_bytes = 256ULL << 20;
  size_t write_buffer_bytes = 64ULL << 20;
};

class StateStore {
 public:
  static Result<std::unique_ptr<StateStore>> Open(const StoreOptions& options);
  // What any handle on the store's files (this one, and read-only opens:
  // backup, restore, export) needs to read column family `name` and to
  // replay the WAL into it: the analytics counters' merge operator. Without
  // it a replay stops, silently, at the first batch holding a counter.
  static rocksdb::ColumnFamilyOptions ReaderOptions(const std::string& name);
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  // One atomic write. Build it on one thread, then Write() it.
  class Batch {
   public:
    void PutCustomer(int32_t partition, const v1::CustomerState& state);
    // Writes `entry` into slot entry.seq() % ring of the customer's ring.
    void PutHistory(int32_t partition, std::string_view id, const v1::HistoryEntry& entry,
                    uint32_t ring);
    // Writes `entry` into slot entry.seq() % ring of the customer's decision trace.
    void PutTrace(int32_t partition, std::string_view id, const v1::TraceEntry& entry,
                  uint32_t ring);
    // Deletes the customer's history and decision-trace rings (its record
    // was merged into another one); puts after this in the batch survive.
    void DeleteRings(int32_t partition, std::string_view id);
    // Deletes the customer's record and their rings (GDPR erasure, engine/erasure).
    void DeleteCustomer(int32_t partition, std::string_view id);
    void PutCheckpoint(std::string_view topic, int32_t partition,
                       const v1::PartitionCheckpoint& checkpoint);
    // For the stages that own a column family (timers, outbox, journey
    // versions): their puts and deletes go into this same atomic write.
    rocksdb::WriteBatch& raw() { return batch_; }
    size_t count() const { return static_cast<size_t>(batch_.Count()); }
    size_t bytes() const { return batch_.GetDataSize(); }
    void Clear() { batch_.Clear(); }

   private:
    friend class StateStore;
    void PutRing(rocksdb::ColumnFamilyHandle* cf, int32_t partition, std::string_view id,
                 uint64_t seq, uint32_t ring, const google::protobuf::MessageLite& entry);
    explicit Batch(StateStore* store) : store_(store) {}
    StateStore* store_;
    rocksdb::WriteBatch batch_;
    std::string scratch_;
  };
  Batch NewBatch() { return Batch(this); }
  Status Write(Batch& batch);

  // nullopt when the customer has no record on that partition.
  Result<std::optional<v1::CustomerState>> GetCustomer(int32_t partition, std::string_view id);
  // Reads many at once; out[i] answers keys[i].
  Status MultiGetCustomers(const std::vector<std::pair<int32_t, std::string>>& keys,
                           std::vector<std::optional<v1::CustomerState>>& out);
  // The customer's history, newest (highest seq) first, at most `limit` entries.
  Result<std::vector<v1::HistoryEntry>> History(int32_t partition, std::string_view id,
                                                size_t limit);

  // The customer's decision trace, newest first, at most `limit` entries.
  Result<std::vector<v1::TraceEntry>> Trace(int32_t partition, std::string_view id, size_t limit);

  std::optional<v1::PartitionCheckpoint> GetCheckpoint(std::string_view topic, int32_t partition);
  // Every partition of `topic` with a checkpoint, ascending.
  std::vector<std::pair<int32_t, v1::PartitionCheckpoint>> Checkpoints(std::string_view topic);

  // Calls `fn(partition, state)` for every customer record, in key order,
  // over a consistent snapshot; stops early when `fn` returns false.
  Status ScanCustomers(const std::function<bool(int32_t, const v1::CustomerState&)>& fn);

  rocksdb::DB* db() const { return db_.get(); }
  bool sync_writes() const { return options_.sync_writes; }
  rocksdb::ColumnFamilyHandle* timers_cf() const { return timers_; }
  // Read-only use outside this class (the campaign scan); writes go through Batch.
  rocksdb::ColumnFamilyHandle* customers_cf() const { return customers_; }
  rocksdb::ColumnFamilyHandle* outbox_cf() const { return outbox_; }
  rocksdb::ColumnFamilyHandle* history_cf() const { return history_; }  // read-only use outside
  rocksdb::ColumnFamilyHandle* trace_cf() const { return trace_; }      // read-only use outside
  rocksdb::ColumnFamilyHandle* meta_cf() const { return meta_; }
  rocksdb::ColumnFamilyHandle* dispatch_cf() const { return dispatch_; }
  rocksdb::ColumnFamilyHandle* analytics_cf() const { return analytics_; }

  static std::string CustomerKey(int32_t partition, std::string_view id);
  // The same, into `out` (replacing its content; reuses its capacity).
  static void CustomerKeyInto(std::string& out, int32_t partition, std::string_view id);

 private:
  StateStore() = default;
  template <typename Entry>
  Result<std::vector<Entry>> ReadRing(rocksdb::ColumnFamilyHandle* cf, int32_t partition,
                                      std::string_view id, size_t limit);
  StoreOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // owned; destroyed before db_
  rocksdb::ColumnFamilyHandle* customers_ = nullptr;
  rocksdb::ColumnFamilyHandle* history_ = nullptr;
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;
  rocksdb::ColumnFamilyHandle* timers_ = nullptr;
  rocksdb::ColumnFamilyHandle* outbox_ = nullptr;
  rocksdb::ColumnFamilyHandle* trace_ = nullptr;
  rocksdb::ColumnFamilyHandle* dispatch_ = nullptr;
  rocksdb::ColumnFamilyHandle* analytics_ = nullptr;
};

}  // namespace cairn::state
