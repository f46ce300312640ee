#include "state/state_store.h"

#include <rocksdb/cache.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>

#include <algorithm>
#include <cstring>

#include "analytics/counter_merge.h"
#include "cairn/big_endian.h"

namespace cairn::state {
namespace {

constexpr const char* kCustomersCf = "customers";
constexpr const char* kHistoryCf = "history";
constexpr const char* kTimersCf = "timers";
constexpr const char* kOutboxCf = "outbox";
constexpr const char* kTraceCf = "trace";
constexpr const char* kDispatchCf = "dispatch";
constexpr const char* kAnalyticsCf = "analytics";

std::string CheckpointKey(std::string_view topic, int32_t partition) {
  std::string k = "cp/";
  k.append(topic);
  k.push_back('/');
  PutU32BE(k, static_cast<uint32_t>(partition));
  return k;
}

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  StatusCode code = s.IsCorruption() ? StatusCode::kDataLoss
                    : s.IsIOError()  ? StatusCode::kUnavailable
                                     : StatusCode::kInternal;
  return {code, std::string(what) + ": " + s.ToString()};
}

rocksdb::ColumnFamilyOptions TableOptions(const std::shared_ptr<rocksdb::Cache>& cache,
                                          size_t write_buffer, bool bloom) {
  rocksdb::ColumnFamilyOptions cf;
  cf.write_buffer_size = write_buffer;
  cf.max_write_buffer_number = 4;
  cf.compression = rocksdb::kLZ4Compression;
  cf.bottommost_compression = rocksdb::kZSTD;
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = cache;
  t.cache_index_and_filter_blocks = true;
  if (bloom) t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  return cf;
}

}  // namespace

std::string StateStore::CustomerKey(int32_t partition, std::string_view id) {
  std::string k;
  CustomerKeyInto(k, partition, id);
  return k;
}

void StateStore::CustomerKeyInto(std::string& out, int32_t partition, std::string_view id) {
  out.clear();
  out.reserve(8 + id.size());
  PutU32BE(out, static_cast<uint32_t>(partition));
  PutU32BE(out, static_cast<uint32_t>(id.size()));
  out.append(id);
}

rocksdb::ColumnFamilyOptions StateStore::ReaderOptions(const std::string& name) {
  rocksdb::ColumnFamilyOptions o;
  if (name == kAnalyticsCf) o.merge_operator = analytics::NewCounterMergeOperator();
  return o;
}

Result<std::unique_ptr<StateStore>> StateStore::Open(const StoreOptions& options) {
  std::unique_ptr<StateStore> store(new StateStore());
  store->options_ = options;

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  db_options.bytes_per_sync = 1 << 20;
  db_options.max_total_wal_size = 256ULL << 20;
  auto cache = rocksdb::NewLRUCache(options.block_cache_bytes);

  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, TableOptions(cache, 8 << 20, false)},
      {kCustomersCf, TableOptions(cache, options.write_buffer_bytes, true)},
      {kHistoryCf, TableOptions(cache, options.write_buffer_bytes, false)},
      {kTimersCf, TableOptions(cache, options.write_buffer_bytes, false)},
      {kOutboxCf, TableOptions(cache, 8 << 20, false)},
      {kTraceCf, TableOptions(cache, 16 << 20, false)},
      {kDispatchCf, TableOptions(cache, 8 << 20, false)},
      {kAnalyticsCf, TableOptions(cache, 8 << 20, false)},
  };
  for (auto& cf : cfs) cf.options.merge_operator = ReaderOptions(cf.name).merge_operator;
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::Open(db_options, options.dir, cfs, &store->handles_, &raw);
  if (!s.ok()) return FromRocks(s, "open RocksDB at " + options.dir);
  store->db_.reset(raw);
  store->meta_ = store->handles_[0];
  store->customers_ = store->handles_[1];
  store->history_ = store->handles_[2];
  store->timers_ = store->handles_[3];
  store->outbox_ = store->handles_[4];
  store->trace_ = store->handles_[5];
  store->dispatch_ = store->handles_[6];
  store->analytics_ = store->handles_[7];
  return store;
}

StateStore::~StateStore() {
  if (!db_) return;
  for (auto* h : handles_) (void)db_->DestroyColumnFamilyHandle(h);
  (void)db_->Close();
}

void StateStore::Batch::PutCustomer(int32_t partition, const v1::CustomerState& state) {
  scratch_.clear();
  state.SerializeToString(&scratch_);
  (void)batch_.Put(store_->customers_, CustomerKey(partition, state.id()), scratch_);
}

void StateStore::Batch::PutRing(rocksdb::ColumnFamilyHandle* cf, int32_t partition,
                                std::string_view id, uint64_t seq, uint32_t ring,
                                const google::protobuf::MessageLite& entry) {
  std::string key = CustomerKey(partition, id);
  PutU64BE(key, ring == 0 ? seq : seq % ring);
  scratch_.clear();
  entry.SerializeToString(&scratch_);
  (void)batch_.Put(cf, key, scratch_);
}

void StateStore::Batch::PutHistory(int32_t partition, std::string_view id,
                                   const v1::HistoryEntry& entry, uint32_t ring) {
  PutRing(store_->history_, partition, id, entry.seq(), ring, entry);
}

void StateStore::Batch::PutTrace(int32_t partition, std::string_view id,
                                 const v1::TraceEntry& entry, uint32_t ring) {
  PutRing(store_->trace_, partition, id, entry.seq(), ring, entry);
}

void StateStore::Batch::DeleteRings(int32_t partition, std::string_view id) {
  const std::string begin = CustomerKey(partition, id);
  const std::string end = begin + std::string(9, '\xff');  // past every <slot u64 BE>
  (void)batch_.DeleteRange(store_->history_, begin, end);
  (void)batch_.DeleteRange(store_->trace_, begin, end);
}

void StateStore::Batch::DeleteCustomer(int32_t partition, std::string_view id) {
  (void)batch_.Delete(store_->customers_, CustomerKey(partition, id));
  DeleteRings(partition, id);
}

void StateStore::Batch::PutCheckpoint(std::string_view topic, int32_t partition,
                                      const v1::PartitionCheckpoint& checkpoint) {
  (void)batch_.Put(store_->meta_, CheckpointKey(topic, partition), checkpoint.SerializeAsString());
}

Status StateStore::Write(Batch& batch) {
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync_writes;
  wo.disableWAL = false;
  auto s = db_->Write(wo, &batch.batch_);
  if (s.ok()) batch.Clear();
  return FromRocks(s, "write batch");
}

Result<std::optional<v1::CustomerState>> StateStore::GetCustomer(int32_t partition,
                                                                 std::string_view id) {
  std::string value;
  auto s = db_->Get(rocksdb::ReadOptions(), customers_, CustomerKey(partition, id), &value);
  if (s.IsNotFound()) return std::optional<v1::CustomerState>();
  if (!s.ok()) return FromRocks(s, "get customer");
  v1::CustomerState state;
  if (!state.ParseFromString(value)) return DataLoss("customer record does not parse");
  return std::optional<v1::CustomerState>(std::move(state));
}

Status StateStore::MultiGetCustomers(const std::vector<std::pair<int32_t, std::string>>& keys,
                                     std::vector<std::optional<v1::CustomerState>>& out) {
  out.assign(keys.size(), std::nullopt);
  if (keys.empty()) return Status::Ok();
  std::vector<std::string> key_bytes;
  key_bytes.reserve(keys.size());
  for (const auto& [p, id] : keys) key_bytes.push_back(CustomerKey(p, id));
  std::vector<rocksdb::Slice> slices(key_bytes.begin(), key_bytes.end());
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  db_->MultiGet(rocksdb::ReadOptions(), customers_, slices.size(), slices.data(), values.data(),
                statuses.data());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].IsNotFound()) continue;
    if (!statuses[i].ok()) return FromRocks(statuses[i], "multiget customers");
    v1::CustomerState state;
    if (!state.ParseFromArray(values[i].data(), static_cast<int>(values[i].size()))) {
      return DataLoss("customer record does not parse");
    }
    out[i] = std::move(state);
  }
  return Status::Ok();
}

template <typename Entry>
Result<std::vector<Entry>> StateStore::ReadRing(rocksdb::ColumnFamilyHandle* cf, int32_t partition,
                                                std::string_view id, size_t limit) {
  // The ring's slots are not in seq order: read them all, then sort.
  const std::string prefix = CustomerKey(partition, id);
  rocksdb::ReadOptions ro;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf));
  std::vector<Entry> out;
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    if (!it->key().starts_with(prefix)) break;
    if (it->key().size() != prefix.size() + 8) continue;  // a longer id sharing the prefix
    Entry e;
    if (!e.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return DataLoss("ring record does not parse");
    }
    out.push_back(std::move(e));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "read ring");
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.seq() > b.seq(); });
  if (out.size() > limit) out.resize(limit);
  return out;
}

Result<std::vector<v1::HistoryEntry>> StateStore::History(int32_t partition, std::string_view id,
                                                          size_t limit) {
  return ReadRing<v1::HistoryEntry>(history_, partition, id, limit);
}

Result<std::vector<v1::TraceEntry>> StateStore::Trace(int32_t partition, std::string_view id,
                                                      size_t limit) {
  return ReadRing<v1::TraceEntry>(trace_, partition, id, limit);
}

Status StateStore::ScanCustomers(const std::function<bool(int32_t, const v1::CustomerState&)>& fn) {
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, customers_));
  v1::CustomerState state;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() < 8) continue;
    if (!state.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return DataLoss("customer record does not parse");
    }
    if (!fn(static_cast<int32_t>(GetU32BE(it->key().data())), state)) break;
  }
  return FromRocks(it->status(), "scan customers");
}

std::optional<v1::PartitionCheckpoint> StateStore::GetCheckpoint(std::string_view topic,
                                                                 int32_t partition) {
  std::string value;
  auto s = db_->Get(rocksdb::ReadOptions(), meta_, CheckpointKey(topic, partition), &value);
  if (!s.ok()) return std::nullopt;
  v1::PartitionCheckpoint cp;
  if (!cp.ParseFromString(value)) return std::nullopt;
  return cp;
}

std::vector<std::pair<int32_t, v1::PartitionCheckpoint>> StateStore::Checkpoints(
    std::string_view topic) {
  std::string prefix = "cp/";
  prefix.append(topic);
  prefix.push_back('/');
  std::vector<std::pair<int32_t, v1::PartitionCheckpoint>> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->key().size() != prefix.size() + 4) continue;
    v1::PartitionCheckpoint cp;
    if (!cp.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) continue;
    out.emplace_back(static_cast<int32_t>(GetU32BE(it->key().data() + prefix.size())), cp);
  }
  return out;
}

}  // namespace cairn::state
