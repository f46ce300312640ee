// The outbox: messages the journey runtime decided to publish (tasks to
// cairn.tasks, emitted events to cairn.events) on their way to the broker.
//
//   Stage()   puts the record into the outbox CF in the batch in hand, so it
//             lands atomically with the decision that made it;
//   Seal()    the batch in hand was handed to the writer;
//   Publish() that batch is durable: produce its records (async);
//   Collect() records the broker acknowledged are deleted, by a range
//             delete per partition, in the batch in hand;
//   Recover() on assign: records a previous run left (it died between write
//             and acknowledgement) are produced again.
//
// So no decided message is ever lost, and a crash can only repeat one: a
// record produced but not yet deleted is produced again after a restart.
// Consumers drop such duplicates by id (the `cairn.task_id` header and the
// task's task_id; an emitted event's messageId, which Cairn's own dedup
// window drops).
//
// Key: outbox CF, <partition u32 BE><seq u64 BE> -> v1::OutboxRecord; or,
// for another owner (the dispatcher's outcome events), <prefix><partition><seq>
// in that owner's column family.
// Threading: one thread (the owner's) only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "cairn/status.h"
#include "cairn/v1/state.pb.h"
#include "kafka/producer.h"
#include "state/state_store.h"

namespace cairn::outbox {

class Outbox {
 public:
  // Creates its own idempotent producer (delivery reports tell which
  // records may be deleted).
  // `cf`/`prefix`: where the rows live (default: the outbox CF, no prefix).
  static Result<std::unique_ptr<Outbox>> Create(state::StateStore* store,
                                                const kafka::ProducerOptions& options,
                                                rocksdb::ColumnFamilyHandle* cf = nullptr,
                                                std::string prefix = {});

  // Flushes the producer first: its delivery reports write to members that
  // must still be alive (unacknowledged rows stay in RocksDB for a restart).
  ~Outbox();

  void Stage(state::StateStore::Batch& batch, int32_t partition, const v1::OutboxRecord& record);
  void Seal();
  Status Publish();
  void Collect(state::StateStore::Batch& batch);
  // Serves delivery reports; true when some acknowledged rows wait for deletion.
  bool Acked();
  Status Recover(int32_t partition);
  // On revoke: stop tracking the partition (its rows stay for the new owner).
  void Forget(int32_t partition);
  // Fails when a record could not be delivered (the engine stops; a restart
  // produces it again from the outbox).
  Status health() const;
  // Waits for the broker to acknowledge what was produced.
  Status Flush(int timeout_ms) { return producer_->Flush(timeout_ms); }

  uint64_t published() const { return published_; }
  uint64_t pending() const;

 private:
  struct Row {
    int32_t partition;
    uint64_t seq;
    v1::OutboxRecord record;
  };
  struct PartitionState {
    uint64_t next_seq = 0;       // for the next Stage
    uint64_t produced_upto = 0;  // every seq below was produced
    std::set<uint64_t> unacked;  // produced, not acknowledged yet
    uint64_t deleted_upto = 0;   // rows below were range-deleted
  };
  Outbox(state::StateStore* store) : store_(store) {}
  Status Produce(const Row& row);
  void OnDelivery(uint64_t token, bool ok);
  PartitionState& Part(int32_t partition);

  state::StateStore* store_;
  rocksdb::ColumnFamilyHandle* cf_ = nullptr;
  std::string prefix_;
  std::unique_ptr<kafka::Producer> producer_;
  std::map<int32_t, PartitionState> parts_;
  std::vector<Row> staged_, sealed_;
  uint64_t published_ = 0;
  mutable std::mutex mu_;  // delivery reports may be served inside Produce/Flush
  std::vector<std::pair<uint64_t, bool>> acks_;  // guarded by mu_
  bool failed_ = false;
  std::string failure_;
};

}  // namespace cairn::outbox
