#include "outbox/outbox.h"

#include <rocksdb/db.h>
#include <spdlog/spdlog.h>

#include "cairn/big_endian.h"

namespace cairn::outbox {
namespace {

constexpr int kPartitionShift = 48;
constexpr uint64_t kSeqMask = (uint64_t{1} << kPartitionShift) - 1;

std::string Key(const std::string& prefix, int32_t partition, uint64_t seq) {
  std::string k = prefix;
  PutU32BE(k, static_cast<uint32_t>(partition));
  PutU64BE(k, seq);
  return k;
}

uint64_t Token(int32_t partition, uint64_t seq) {
  return (static_cast<uint64_t>(partition + 1) << kPartitionShift) | (seq & kSeqMask);
}

}  // namespace

Result<std::unique_ptr<Outbox>> Outbox::Create(state::StateStore* store,
                                               const kafka::ProducerOptions& options,
                                               rocksdb::ColumnFamilyHandle* cf,
                                               std::string prefix) {
  std::unique_ptr<Outbox> box(new Outbox(store));
  box->cf_ = cf != nullptr ? cf : store->outbox_cf();
  box->prefix_ = std::move(prefix);
  kafka::ProducerOptions opts = options;
  Outbox* raw = box.get();
  opts.on_delivery = [raw](uint64_t token, bool ok) {
    std::lock_guard lock(raw->mu_);
    raw->acks_.emplace_back(token, ok);
  };
  auto producer = kafka::Producer::Create(opts);
  if (!producer.ok()) return producer.status().WithContext("outbox producer");
  box->producer_ = std::move(producer).value();
  return box;
}

Outbox::PartitionState& Outbox::Part(int32_t partition) { return parts_[partition]; }

void Outbox::Stage(state::StateStore::Batch& batch, int32_t partition,
                   const v1::OutboxRecord& record) {
  auto& ps = Part(partition);
  const uint64_t seq = ps.next_seq++;
  (void)batch.raw().Put(cf_, Key(prefix_, partition, seq), record.SerializeAsString());
  staged_.push_back({partition, seq, record});
}

void Outbox::Seal() {
  sealed_.insert(sealed_.end(), std::make_move_iterator(staged_.begin()),
                 std::make_move_iterator(staged_.end()));
  staged_.clear();
}

Outbox::~Outbox() { producer_.reset(); }

Status Outbox::Produce(const Row& row) {
  kafka::Headers headers(row.record.headers().begin(), row.record.headers().end());
  auto& ps = Part(row.partition);
  ps.unacked.insert(row.seq);
  CAIRN_RETURN_IF_ERROR(producer_->Produce(row.record.topic(), row.record.key(), row.record.value(),
                                           headers, -1, 30000, Token(row.partition, row.seq)));
  ps.produced_upto = std::max(ps.produced_upto, row.seq + 1);
  ++published_;
  return Status::Ok();
}

Status Outbox::Publish() {
  for (const auto& row : sealed_) {
    if (parts_.count(row.partition) == 0) continue;  // revoked meanwhile: the new owner recovers it
    CAIRN_RETURN_IF_ERROR(Produce(row));
  }
  sealed_.clear();
  producer_->Poll();
  return health();
}

void Outbox::OnDelivery(uint64_t token, bool ok) {
  const auto partition = static_cast<int32_t>((token >> kPartitionShift) - 1);
  const uint64_t seq = token & kSeqMask;
  auto it = parts_.find(partition);
  if (!ok) {
    failed_ = true;
    failure_ = "an outbox record was not delivered (it is produced again after a restart)";
    return;
  }
  if (it != parts_.end()) it->second.unacked.erase(seq);
}

bool Outbox::Acked() {
  producer_->Poll();
  std::vector<std::pair<uint64_t, bool>> acks;
  {
    std::lock_guard lock(mu_);
    acks.swap(acks_);
  }
  for (const auto& [token, ok] : acks) OnDelivery(token, ok);
  for (const auto& [partition, ps] : parts_) {
    const uint64_t upto = ps.unacked.empty() ? ps.produced_upto : *ps.unacked.begin();
    if (upto > ps.deleted_upto) return true;
  }
  return false;
}

void Outbox::Collect(state::StateStore::Batch& batch) {
  if (!Acked()) return;
  for (auto& [partition, ps] : parts_) {
    // Every row below the lowest unacknowledged one is acknowledged.
    const uint64_t upto = ps.unacked.empty() ? ps.produced_upto : *ps.unacked.begin();
    if (upto <= ps.deleted_upto) continue;
    (void)batch.raw().DeleteRange(cf_, Key(prefix_, partition, ps.deleted_upto),
                                  Key(prefix_, partition, upto));
    ps.deleted_upto = upto;
  }
}

Status Outbox::Recover(int32_t partition) {
  auto& ps = Part(partition);
  ps = PartitionState();
  const std::string lo = Key(prefix_, partition, 0);
  const std::string hi = Key(prefix_, partition + 1, 0);
  rocksdb::ReadOptions ro;
  rocksdb::Slice upper(hi);
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(store_->db()->NewIterator(ro, cf_));
  uint64_t count = 0;
  bool first = true;
  for (it->Seek(lo); it->Valid(); it->Next()) {
    if (it->key().size() != prefix_.size() + 12) continue;
    const uint64_t seq = GetU64BE(it->key().data() + prefix_.size() + 4);
    if (first) {
      ps.deleted_upto = seq;  // nothing below is left
      first = false;
    }
    ps.next_seq = seq + 1;
    Row row{partition, seq, {}};
    if (!row.record.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      spdlog::error("outbox: partition {} seq {} does not parse; dropped", partition, seq);
      continue;
    }
    CAIRN_RETURN_IF_ERROR(Produce(row));
    ++count;
  }
  if (!it->status().ok()) return Unavailable("outbox scan: " + it->status().ToString());
  if (first) ps.deleted_upto = 0;
  ps.produced_upto = std::max(ps.produced_upto, ps.next_seq);
  if (count > 0) {
    spdlog::warn(
        "outbox: partition {}: producing {} record(s) again that a previous run had not "
        "seen acknowledged (consumers drop duplicates by id)",
        partition, count);
  }
  return Status::Ok();
}

void Outbox::Forget(int32_t partition) {
  parts_.erase(partition);
  std::erase_if(staged_, [&](const Row& r) { return r.partition == partition; });
}

Status Outbox::health() const {
  if (failed_) return Unavailable(failure_);
  return Status::Ok();
}

uint64_t Outbox::pending() const {
  uint64_t n = 0;
  for (const auto& [p, ps] : parts_) n += ps.unacked.size();
  return n;
}

}  // namespace cairn::outbox
