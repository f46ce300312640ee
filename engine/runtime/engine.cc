#include "runtime/engine.h"

#include <google/protobuf/io/coded_stream.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <unordered_map>

#include "cairn/crash_point.h"
#include "profile/profile_store.h"

namespace cairn::runtime {
namespace {

constexpr size_t kBatchRing = 1024;
constexpr int kDeadLetterFlushMs = 60000;

double MsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

// A record holding nothing but its id: what an erased customer (or an id
// never seen) looks like in the cache. Never written, never walked.
bool IdOnly(const v1::CustomerState& s) {
  const size_t n = s.id().size();
  const size_t id_bytes =
      n == 0
          ? 0
          : 1 + google::protobuf::io::CodedOutputStream::VarintSize32(static_cast<uint32_t>(n)) + n;
  return s.ByteSizeLong() == id_bytes;
}

std::string_view View(const void* p, size_t n) {
  return p == nullptr ? std::string_view() : std::string_view(static_cast<const char*>(p), n);
}

// The message's headers as the parser sees them (views into librdkafka memory).
void ReadHeaders(const rd_kafka_message_t& msg,
                 std::vector<std::pair<std::string_view, std::string_view>>& out) {
  out.clear();
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(&msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  for (size_t i = 0;
       rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
    out.emplace_back(name, View(value, size));
  }
}

}  // namespace

namespace {
EngineOptions WithTopics(EngineOptions o) {
  o.journeys.tasks_topic = o.topics.tasks;
  o.journeys.events_topic = o.topics.events;
  o.identity.dedup_window = o.state.dedup_window;
  return o;
}
}  // namespace

Engine::Engine(const EngineOptions& options, state::StateStore* store, const Clock* clock)
    : options_(WithTopics(options)),
      store_(store),
      clock_(clock),
      parser_(options.parse),
      cache_(options.cache_capacity),
      runtime_(options_.journeys),
      timers_(store),
      campaigns_(store, options.campaigns),
      analytics_(options.analytics),
      batch_a_(store->NewBatch()),
      batch_b_(store->NewBatch()),
      writer_(store) {}

Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::Create(const EngineOptions& options,
                                               state::StateStore* store, const Clock* clock,
                                               dispatch::Dispatcher* dispatcher) {
  std::unique_ptr<Engine> engine(new Engine(options, store, clock));
  engine->dispatcher_ = dispatcher;
  CAIRN_RETURN_IF_ERROR(engine->analytics_.Load(*store));
  auto producer = kafka::Producer::Create({options.brokers, options.producer_properties});
  if (!producer.ok()) return producer.status().WithContext("dead-letter producer");
  engine->producer_ = std::move(producer).value();
  auto outbox = outbox::Outbox::Create(store, {options.brokers, options.producer_properties, {}});
  if (!outbox.ok()) return outbox.status();
  engine->outbox_ = std::move(outbox).value();
  kafka::ConsumerOptions copts;
  copts.brokers = options.brokers;
  copts.group_id = options.group_id;
  copts.instance_id = options.instance_id;
  copts.topics = {options.topics.events};
  copts.extra = options.consumer_properties;
  auto consumer = kafka::Consumer::Create(copts, engine.get());
  if (!consumer.ok()) return consumer.status().WithContext("consumer");
  engine->consumer_ = std::move(consumer).value();
  {
    // Tombstone keys are "gd/" + hex; the secret "gd/!secret" sorts before them.
    std::unique_ptr<rocksdb::Iterator> it(
        store->db()->NewIterator(rocksdb::ReadOptions(), store->meta_cf()));
    it->Seek("gd/0");
    engine->tombstones_ = it->Valid() && it->key().starts_with("gd/");
  }
  return engine;
}

Status Engine::Run(const std::atomic<bool>& stop) {
  while (!stop.load(std::memory_order_relaxed) && fatal_.ok()) {
    const auto start = std::chrono::steady_clock::now();
    PollBatch();
    poll_ms_ += MsSince(start);
    CollectDueTimers();
    CollectCampaignWork();
    if (pending_count_ == 0 && fired_count_ == 0 && campaign_in_hand_.empty() &&
        !campaigns_.dirty()) {
      // Idle: let the last write land so its offsets are published, and
      // delete the outbox rows the broker has acknowledged meanwhile.
      if (Status s = FinishWrite(); !s.ok()) fatal_ = s;
      // Event time: with nothing left to read, every partition has reached
      // the stream's watermark, so their timers may fire up to it.
      if (options_.event_time_clock) {
        for (auto& [part, ps] : partitions_) ps.clock = std::max(ps.clock, event_clock_);
      }
      if (fatal_.ok() && outbox_->Acked()) {
        if (Status s = SubmitWrite(); !s.ok()) fatal_ = s;
      }
      std::lock_guard lock(metrics_mu_);
      metrics_.tasks_published = outbox_->published();
      metrics_.outbox_unacked = outbox_->pending();
      continue;
    }
    ProcessBatch();
  }
  if (fatal_.ok()) consumer_->Close();  // OnRevoke writes whatever is in hand
  if (Status s = FinishWrite(); !s.ok() && fatal_.ok()) fatal_ = s;
  return fatal_;
}

void Engine::PollBatch() {
  if (pending_count_ >= options_.max_batch || !fatal_.ok()) return;
  polled_.clear();
  // Messages carried over (held behind timers) are work in hand: don't wait.
  // So is a campaign with more to scan now.
  consumer_->PollBatch(pending_count_ > 0 || campaigns_.busy() ? 0 : options_.poll_timeout_ms,
                       options_.max_batch - pending_count_, polled_);
  for (auto& msg : polled_) {
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        std::lock_guard lock(metrics_mu_);
        if (metrics_.consumer_errors++ % 100 == 0) {
          spdlog::warn("kafka consumer: {}", rd_kafka_message_errstr(msg.get()));
        }
      }
      continue;
    }
    // A rebalance served inside the poll may have revoked the partition (its
    // new owner reads it from its checkpoint), and a message below the
    // checkpoint is already in state. Neither may be applied.
    auto part = partitions_.find(msg->partition);
    if (part == partitions_.end() || msg->offset < part->second.checkpoint.next_offset()) {
      continue;
    }
    if (pending_count_ == pending_.size()) pending_.emplace_back();
    Pending& p = pending_[pending_count_++];
    p.msg = std::move(msg);
    p.parsed = false;
    p.seen = false;
    p.entry = nullptr;
  }
}

void Engine::DeadLetter(const rd_kafka_message_t& msg, const ingest::ParseError& error) {
  kafka::Headers headers;
  std::vector<std::pair<std::string_view, std::string_view>> original;
  ReadHeaders(msg, original);
  for (const auto& [k, v] : original) headers.emplace_back(std::string(k), std::string(v));
  headers.emplace_back("cairn.dlq.reason", std::string(ingest::DeadLetterReasonName(error.reason)));
  dead_by_reason_[static_cast<size_t>(error.reason)]++;
  headers.emplace_back("cairn.dlq.detail", error.detail);
  headers.emplace_back("cairn.source.topic", rd_kafka_topic_name(msg.rkt));
  headers.emplace_back("cairn.source.partition", std::to_string(msg.partition));
  headers.emplace_back("cairn.source.offset", std::to_string(msg.offset));
  Status s = producer_->Produce(options_.topics.dlq, View(msg.key, msg.key_len),
                                View(msg.payload, msg.len), headers);
  if (!s.ok()) fatal_ = s.WithContext("dead-letter");
  dead_letters_in_flight_ = true;
}

void Engine::LoadCustomers() {
  // Collect the customers of this batch (events and due timers) that the
  // cache does not hold, read them with one MultiGet, and point every item
  // at its entry. Allocates per distinct missing customer, not per event.
  miss_index_.clear();
  miss_keys_.clear();
  auto want_key = [&](int32_t partition, const std::string& customer,
                      state::CustomerCache::Entry*& entry, size_t& miss) {
    entry = nullptr;
    state::StateStore::CustomerKeyInto(key_scratch_, partition, customer);
    if (auto* e = cache_.Find(key_scratch_)) {
      entry = e;
      return;
    }
    auto [it, inserted] = miss_index_.try_emplace(key_scratch_, miss_keys_.size());
    if (inserted) miss_keys_.emplace_back(partition, customer);
    miss = it->second;
  };
  auto want = [&](Pending& p) { want_key(p.partition(), p.customer(), p.entry, p.miss); };
  for (size_t i = 0; i < fired_count_; ++i) want(fired_[i]);
  campaign_entries_.assign(campaign_in_hand_.size(), nullptr);
  campaign_miss_.assign(campaign_in_hand_.size(), 0);
  for (size_t i = 0; i < campaign_in_hand_.size(); ++i) {
    want_key(campaign_in_hand_[i].partition, campaign_in_hand_[i].customer, campaign_entries_[i],
             campaign_miss_[i]);
  }
  for (size_t i = 0; i < pending_count_; ++i) {
    if (pending_[i].parsed && pending_[i].entry == nullptr) want(pending_[i]);
  }
  if (miss_keys_.empty()) return;
  Status s = store_->MultiGetCustomers(miss_keys_, miss_found_);
  if (!s.ok()) {
    fatal_ = s;
    return;
  }
  miss_entries_.clear();
  for (size_t k = 0; k < miss_keys_.size(); ++k) {
    auto& [partition, id] = miss_keys_[k];
    v1::CustomerState st = miss_found_[k] ? std::move(*miss_found_[k]) : v1::CustomerState();
    if (!miss_found_[k]) st.set_id(id);
    miss_entries_.push_back(
        cache_.Insert(partition, state::StateStore::CustomerKey(partition, id), std::move(st)));
  }
  for (size_t i = 0; i < fired_count_; ++i) {
    if (fired_[i].entry == nullptr) fired_[i].entry = miss_entries_[fired_[i].miss];
  }
  for (size_t i = 0; i < campaign_entries_.size(); ++i) {
    if (campaign_entries_[i] == nullptr) campaign_entries_[i] = miss_entries_[campaign_miss_[i]];
  }
  for (size_t i = 0; i < pending_count_; ++i) {
    Pending& p = pending_[i];
    if (p.parsed && p.entry == nullptr) p.entry = miss_entries_[p.miss];
  }
}

TimestampMs Engine::Now(const PartitionState& ps) const {
  return options_.event_time_clock ? ps.clock : clock_->NowMs();
}

void Engine::CollectDueTimers() {
  fired_count_ = 0;
  if (!fatal_.ok()) return;
  if (blocked_) {
    // Events were held back behind timers: let every timer land first.
    blocked_ = false;
    if (Status s = FinishWrite(); !s.ok()) {
      fatal_ = s;
      return;
    }
  }
  size_t budget = options_.max_timers_per_batch;
  for (auto& [partition, ps] : partitions_) {
    if (budget == 0) break;
    const TimestampMs now = Now(ps);
    auto next = timers_.NextDue(partition);
    if (!next || *next > now) continue;
    due_scratch_.clear();
    if (Status s = timers_.Due(partition, now, budget, due_scratch_); !s.ok()) {
      fatal_ = s.WithContext("timers");
      return;
    }
    for (auto& t : due_scratch_) {
      if (fired_count_ == fired_.size()) fired_.emplace_back();
      Pending& p = fired_[fired_count_++];
      p.msg.reset();
      p.parsed = false;
      p.entry = nullptr;
      p.timer = std::move(t);
    }
    budget -= std::min(budget, due_scratch_.size());
  }
}

void Engine::FireTimers() {
  // Timers first: they were due before anything in this batch was polled.
  // A partition's timers come in key order, so its last one is the end of
  // the range that Consume() deletes.
  for (size_t i = 0; i < fired_count_ && fatal_.ok(); ++i) {
    Pending& p = fired_[i];
    effects_entry_ = p.entry;
    analytics_.Begin(p.timer.partition, p.entry->state, nullptr, batch_catalog_.get());
    PartitionState& ps = partitions_[p.timer.partition];
    if (ps.checkpoint.next_offset() > 0)
      ps.dirty = true;  // the profile stage may change its counts
    flow::Context ctx{p.timer.partition,
                      options_.event_time_clock ? p.timer.due_ms : clock_->NowMs(), this,
                      ps.checkpoint.mutable_profile(), &rfm_quantiles_};
    if (observer_ != nullptr && !options_.event_time_clock) {
      lateness_scratch_.push_back(
          static_cast<double>(std::max<TimestampMs>(0, ctx.now - p.timer.due_ms)) / 1000.0);
    }
    // A merged-away id's timers do nothing; so do those of an id without a
    // record (an erased customer's timer not deleted yet).
    if (p.entry->state.identity().forwarded_to().empty() && !IdOnly(p.entry->state)) {
      runtime_.OnTimer(ctx, p.entry->state, p.timer);
      MarkDirty(*p.entry);
    }
    if (i + 1 == fired_count_ || fired_[i + 1].timer.partition != p.timer.partition) {
      timers_.Consume(*building_, p.timer.partition, p.timer);
    }
  }
  timers_fired_ += fired_count_;
  effects_entry_ = nullptr;
}

void Engine::CollectCampaignWork() {
  campaign_in_hand_.clear();
  if (!fatal_.ok()) return;
  auto catalog = runtime_.catalog();
  if (catalog == nullptr) return;
  auto now = [this](int32_t partition) {
    auto it = partitions_.find(partition);
    return it == partitions_.end() ? clock_->NowMs() : Now(it->second);
  };
  if (Status s = campaigns_.Step(catalog, now, std::chrono::steady_clock::now(), campaign_in_hand_);
      !s.ok()) {
    fatal_ = s.WithContext("campaigns");
  }
}

void Engine::EnterCampaigns() {
  // After the due timers, before the messages: the run came due before them.
  for (size_t i = 0; i < campaign_in_hand_.size() && fatal_.ok(); ++i) {
    const campaign::Candidate& c = campaign_in_hand_[i];
    auto* entry = campaign_entries_[i];
    auto part = partitions_.find(c.partition);
    if (entry == nullptr || part == partitions_.end()) continue;
    if (!entry->state.identity().forwarded_to().empty()) {  // merged away, or an identifier node
      campaigns_.Entered(c, false);
      continue;
    }
    effects_entry_ = entry;
    analytics_.Begin(c.partition, entry->state, nullptr, batch_catalog_.get());
    PartitionState& ps = part->second;
    // The profile stage may change the partition's counts. A partition that
    // has read nothing yet keeps no checkpoint: it must start from the group's offset.
    if (ps.checkpoint.next_offset() > 0) ps.dirty = true;
    flow::Context ctx{c.partition, Now(ps), this, ps.checkpoint.mutable_profile(), &rfm_quantiles_};
    const bool entered = runtime_.EnterScheduled(ctx, entry->state, c.journey, c.run_at_ms);
    campaigns_.Entered(c, entered);
    if (!entry->dirty) {
      entry->dirty = true;
      dirty_.push_back(entry);
    }
  }
  effects_entry_ = nullptr;
  campaign_in_hand_.clear();
}

void Engine::AddTimer(const timer::Timer& timer) { timers_.Add(*building_, timer); }

void Engine::Publish(const v1::OutboxRecord& record) {
  if (record.topic() == options_.topics.events) ++emitted_in_hand_;
  outbox_->Stage(*building_, effects_entry_->partition, record);
}

void Engine::Dispatch(const v1::Task& task) {
  if (dispatcher_ != nullptr && dispatcher_->Handles(task)) {
    dispatcher_->Stage(*building_, effects_entry_->partition, task);
  }
}

void Engine::Record(const v1::TraceEntry& entry) {
  if (!entry.journey().empty())
    counts_in_hand_[entry.journey() + "/" + (entry.step().empty() ? "-" : entry.step()) + "/" +
                    entry.action()]++;
  analytics_.OnTrace(entry, effects_entry_->state);
  if (options_.trace_limit == 0) return;
  building_->PutTrace(effects_entry_->partition, effects_entry_->state.id(), entry,
                      options_.trace_limit);
}

void Engine::SetSegmentMember(std::string_view segment, int32_t partition,
                              std::string_view customer, bool member) {
  profile::PutSegmentMember(*building_, store_->meta_cf(), segment, partition, customer, member);
}

void Engine::RefreshRfm() {
  const flow::Catalog* catalog = batch_catalog_.get();
  if (catalog == nullptr || !catalog->profile().rfm.declared ||
      catalog->profile().rfm.mode != profile::RfmMode::kQuantiles) {
    return;
  }
  const TimestampMs now = clock_->NowMs();
  if (rfm_quantiles_.ready && now - rfm_refreshed_ms_ < catalog->profile().rfm.refresh_ms) return;
  std::vector<const v1::ProfileStats*> stats;
  for (const auto& [part, ps] : partitions_) stats.push_back(&ps.checkpoint.profile());
  rfm_quantiles_ =
      profile::QuantileThresholds(stats, options_.event_time_clock ? event_clock_ : now);
  rfm_refreshed_ms_ = now;
}

std::optional<TimestampMs> Engine::ErasedAt(const std::string& id) {
  if (auto it = erased_building_.find(id); it != erased_building_.end()) return it->second;
  if (auto it = erased_writing_.find(id); it != erased_writing_.end()) return it->second;
  if (!tombstones_) return std::nullopt;
  return erasure::ReadTombstone(*store_, options_.erasure_secret, id);
}

void Engine::EraseCustomer(Pending& p, PartitionState& ps) {
  auto& entry = *p.entry;
  const v1::CustomerState* record = entry.state.events_total() > 0 ? &entry.state : nullptr;
  auto r = erasure::Erase(*building_, *store_, timers_, entry.partition, p.erasure, record,
                          ps.checkpoint.mutable_profile(), options_.erasure_secret);
  if (!r.ok()) {
    fatal_ = r.status().WithContext("erasure");
    return;
  }
  // The person's other ids go with it, under the same request: the ids
  // linked to or merged into this record (forward pointers, claim nodes of
  // hashed identifiers) and the survivor a pointer forwards to. One signed
  // control event each, through the outbox in this batch; an id already
  // erased has no record left to cascade from, so this ends.
  const std::string id = entry.state.id();
  {
    const auto& identity = entry.state.identity();
    std::set<std::string> others(identity.linked().begin(), identity.linked().end());
    others.insert(identity.merged_from().begin(), identity.merged_from().end());
    if (!identity.forwarded_to().empty()) others.insert(identity.forwarded_to());
    others.erase(id);
    for (const auto& other : others) {
      erasure::Request request = p.erasure;
      request.customer_id = other;
      const auto m = erasure::ControlMessage(options_.erasure_secret, request);
      v1::OutboxRecord rec;
      rec.set_topic(options_.topics.events);
      rec.set_key(m.key);
      rec.set_value(m.payload);
      for (const auto& [k, v] : m.headers) (*rec.mutable_headers())[k] = v;
      PublishInternal(entry.partition, rec);
    }
    if (!others.empty()) {
      spdlog::info("erasure {}: {} linked id(s) erased with it", p.erasure.erasure_id,
                   others.size());
    }
  }
  // The cached record becomes "no record": SubmitWrite writes none, so the
  // delete in the batch stands; a newer event starts a new customer.
  entry.state.Clear();
  entry.state.set_id(id);
  auto& at = erased_building_[id];
  at = std::max(at, p.erasure.at_ms);
  tombstones_ = true;
  counts_.erasures++;
  CrashPoint("engine.erasure_staged");  // crash tests: erased in hand, not written
  spdlog::info("erasure {}: applied on partition {} (record: {}, timers: {}, ledger rows: {})",
               p.erasure.erasure_id, entry.partition, r->had_record, r->timers, r->ledger_rows);
}

void Engine::ApplyEvent(Pending& p, PartitionState& ps) {
  if (ApplyIdentity(p, ps)) return;  // an identity record, or an event of a merged-away id
  auto& entry = *p.entry;
  const bool is_new = entry.state.events_total() == 0;
  if (is_new) {
    // An erased customer's old events (redelivered, replayed) stay erased.
    if (auto at = ErasedAt(entry.state.id()); at && p.event.timestamp_ms <= *at) {
      counts_.erased_dropped++;
      return;
    }
  }
  const uint64_t seq = entry.state.next_history_seq();
  const flow::Catalog* catalog = batch_catalog_.get();
  const bool trait_triggers =
      catalog != nullptr && catalog->has_trait_triggers() && p.event.type == EventType::kIdentify;
  if (trait_triggers) old_traits_ = entry.state.traits_json();
  if (state::Apply(options_.state, p.event, entry.state, &history_scratch_) ==
      state::ApplyResult::kDuplicate) {
    ps.checkpoint.set_duplicates(ps.checkpoint.duplicates() + 1);
    counts_.duplicates++;
    counts_.duplicates_by_type[static_cast<size_t>(p.event.type)]++;
    return;
  }
  ps.checkpoint.set_events(ps.checkpoint.events() + 1);
  counts_.events++;
  counts_.events_by_type[static_cast<size_t>(p.event.type)]++;
  if (is_new) {
    ps.checkpoint.set_customers(ps.checkpoint.customers() + 1);
    counts_.customers++;
  }
  if (options_.state.history_limit > 0) {
    history_scratch_.set_seq(seq);
    building_->PutHistory(entry.partition, entry.state.id(), history_scratch_,
                          options_.state.history_limit);
  }
  entry.state.set_next_history_seq(seq + 1);
  LinkIdentities(p, options_.event_time_clock ? p.event.timestamp_ms : clock_->NowMs());
  analytics_.OnEvent(entry.partition, p.event, entry.state, catalog);
  if (catalog != nullptr) {
    event_clock_ = std::max(event_clock_, p.event.timestamp_ms);
    latest_event_ms_.store(event_clock_, std::memory_order_relaxed);
    ps.clock = std::max(ps.clock, p.event.timestamp_ms);
    effects_entry_ = &entry;
    flow::Context ctx{entry.partition,
                      options_.event_time_clock ? p.event.timestamp_ms : clock_->NowMs(), this,
                      ps.checkpoint.mutable_profile(), &rfm_quantiles_};
    runtime_.OnEvent(ctx, entry.state, p.event, trait_triggers ? &old_traits_ : nullptr);
    effects_entry_ = nullptr;
  }
  if (!entry.dirty) {
    entry.dirty = true;
    dirty_.push_back(&entry);
  }
}

void Engine::NoteGap(int32_t partition, int64_t offset, PartitionState& ps) {
  const int64_t expected = ps.checkpoint.next_offset();
  // next_offset 0: nothing read or stored yet (a stored checkpoint is always
  // past its first message), so the start is wherever the group's offset or
  // the log's start put us and there is nothing to compare with.
  if (offset <= expected || expected == 0) return;
  const auto skipped = static_cast<uint64_t>(offset - expected);
  ps.checkpoint.set_offsets_skipped(ps.checkpoint.offsets_skipped() + skipped);
  if (skipped > 1) {
    spdlog::error(
        "partition {}[{}]: expected offset {} but the log continues at {}: {} messages "
        "were deleted (retention) before they were read",
        options_.topics.events, partition, expected, offset, skipped);
  }
}

void Engine::ProcessBatch() {
  if ((pending_count_ == 0 && fired_count_ == 0 && campaign_in_hand_.empty() &&
       !campaigns_.dirty()) ||
      !fatal_.ok()) {
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  uint64_t dead = 0;

  // 1. Parse. Bad input goes to the dead-letter topic; nothing else stops.
  //    (Messages carried over from the previous batch are parsed already.)
  ingest::RawMessage raw;
  for (size_t i = 0; i < pending_count_ && fatal_.ok(); ++i) {
    Pending& p = pending_[i];
    if (p.seen) continue;
    p.seen = true;
    const rd_kafka_message_t& m = *p.msg;
    ReadHeaders(m, raw.headers);
    raw.payload = View(m.payload, m.len);
    raw.key = View(m.key, m.key_len);
    rd_kafka_timestamp_type_t tstype;
    raw.broker_timestamp_ms = rd_kafka_message_timestamp(&m, &tstype);
    if (raw.broker_timestamp_ms < 0) raw.broker_timestamp_ms = clock_->NowMs();
    if (auto err = parser_.Parse(raw, p.event)) {
      DeadLetter(m, *err);
      ++dead;
      auto& cp = partitions_[m.partition].checkpoint;
      cp.set_dead_letters(cp.dead_letters() + 1);
    } else {
      p.parsed = true;
      p.control =
          erasure::Inspect(options_.erasure_secret, raw.headers, p.event.customer_id(), p.erasure);
      if (options_.erasure_secret.empty() && p.control == erasure::Control::kErase) {
        p.control = erasure::Control::kForged;
      }
    }
  }

  const double parse_ms = MsSince(start);

  // The journeys for this batch (a reload swaps them between batches).
  batch_catalog_ = runtime_.catalog();
  RefreshRfm();

  // 2. Read the customers the cache lacks.
  auto stage = std::chrono::steady_clock::now();
  if (fatal_.ok()) LoadCustomers();
  const double load_ms = MsSince(stage);

  // 3. Fire due timers, then fold events in offset order. On the event-time
  //    clock, a partition's event that is later than one of its timers ends
  //    the batch, so the timer fires first (next iteration) and the journeys
  //    see time in order.
  stage = std::chrono::steady_clock::now();
  if (fatal_.ok()) FireTimers();
  if (fatal_.ok()) EnterCampaigns();
  const double timer_ms = MsSince(stage);
  stage = std::chrono::steady_clock::now();
  counts_ = {};
  size_t held = 0;  // messages held back, moved to the front in order
  for (size_t i = 0; i < pending_count_ && fatal_.ok(); ++i) {
    Pending& p = pending_[i];
    PartitionState& ps = partitions_[p.msg->partition];
    if (options_.event_time_clock && !ps.blocked && p.parsed) {
      const auto next = timers_.NextDue(p.msg->partition);
      if (next && *next <= p.event.timestamp_ms) {
        ps.blocked = true;  // this and the partition's later messages wait
        ps.clock = std::max(ps.clock, p.event.timestamp_ms - 1);
        blocked_ = true;
      }
    }
    if (ps.blocked) {
      if (held != i) std::swap(pending_[held], pending_[i]);
      pending_[held].entry = nullptr;
      ++held;
      continue;
    }
    if (p.parsed) {
      switch (p.control) {
        case erasure::Control::kNone:
          ApplyEvent(p, ps);
          break;
        case erasure::Control::kErase:
          EraseCustomer(p, ps);
          break;
        case erasure::Control::kForged:
          counts_.refused++;
          break;
      }
    }
    NoteGap(p.msg->partition, p.msg->offset, ps);
    ps.checkpoint.set_next_offset(p.msg->offset + 1);
    ps.dirty = true;
    p.msg.reset();
  }
  for (auto& [part, ps] : partitions_) ps.blocked = false;
  const size_t done = pending_count_ - held;

  const double apply_ms = MsSince(stage);

  // 4. Write, then tell Kafka.
  stage = std::chrono::steady_clock::now();
  if (fatal_.ok()) {
    Status s = SubmitWrite();
    if (!s.ok()) fatal_ = s;
  }
  const double write_ms = MsSince(stage);
  pending_count_ = held;  // carried to the next batch, in order
  const size_t messages = done;
  const size_t fired = fired_count_;
  fired_count_ = 0;
  if (!fatal_.ok()) {
    spdlog::critical("engine stops: {}", fatal_.ToString());
    return;
  }

  const double ms = MsSince(start);
  if (observer_ != nullptr) {
    observer_->OnBatch(ms / 1000.0);
    if (!lateness_scratch_.empty()) observer_->OnTimersFired(lateness_scratch_);
  }
  lateness_scratch_.clear();
  std::lock_guard lock(metrics_mu_);
  metrics_.poll_ms = poll_ms_;
  metrics_.parse_ms += parse_ms;
  metrics_.load_ms += load_ms;
  metrics_.timer_ms += timer_ms;
  metrics_.apply_ms += apply_ms;
  metrics_.write_ms += write_ms;
  metrics_.messages += messages;
  metrics_.events += counts_.events;
  metrics_.duplicates += counts_.duplicates;
  metrics_.customers_created += counts_.customers;
  metrics_.dead_letters += dead + counts_.dead;
  metrics_.forwarded += counts_.forwarded;
  metrics_.identity_records += counts_.identity;
  metrics_.merged_away += counts_.merged;
  for (size_t i = 0; i < kEventTypeCount; ++i) {
    metrics_.events_by_type[i] += counts_.events_by_type[i];
    metrics_.duplicates_by_type[i] += counts_.duplicates_by_type[i];
  }
  for (size_t i = 0; i < kDeadLetterReasonCount; ++i) {
    metrics_.dead_letters_by_reason[i] += dead_by_reason_[i];
  }
  dead_by_reason_ = {};
  metrics_.erasures += counts_.erasures;
  metrics_.erased_dropped += counts_.erased_dropped;
  metrics_.controls_refused += counts_.refused;
  metrics_.timers_fired += fired;
  metrics_.tasks_published = outbox_->published();
  metrics_.outbox_unacked = outbox_->pending();
  metrics_.batches++;
  metrics_.last_batch_ms = ms;
  for (const auto& [k, n] : counts_in_hand_) journey_counts_[k] += n;
  counts_in_hand_.clear();
  metrics_.events_emitted += emitted_in_hand_;
  emitted_in_hand_ = 0;
  if (batch_ms_ring_.size() < kBatchRing) {
    batch_ms_ring_.push_back(ms);
  } else {
    batch_ms_ring_[metrics_.batches % kBatchRing] = ms;
  }
}

Status Engine::SubmitWrite() {
  // Dead letters must be on the broker before the offsets that skip them are.
  if (dead_letters_in_flight_) {
    CAIRN_RETURN_IF_ERROR(producer_->Flush(kDeadLetterFlushMs).WithContext("dead-letter flush"));
    dead_letters_in_flight_ = false;
  }
  // One write in flight at a time keeps writes in order, and the cache is
  // evicted only while none is in flight, so a MultiGet never reads a record
  // older than one still waiting to be written.
  CAIRN_RETURN_IF_ERROR(FinishWrite());
  outbox_->Collect(*building_);
  // Campaign cursors ride with the customers their slice entered.
  campaigns_.Stage(*building_);
  for (auto* entry : dirty_) {
    // Only an id: no record (erased in this batch, or a timer of one).
    if (!IdOnly(entry->state)) building_->PutCustomer(entry->partition, entry->state);
    entry->dirty = false;
  }
  dirty_.clear();
  erased_writing_.insert(erased_building_.begin(), erased_building_.end());
  erased_building_.clear();
  analytics_.Stage(*building_, store_->analytics_cf());
  const bool daily = batch_catalog_ != nullptr && (batch_catalog_->profile().lifecycle.declared ||
                                                   !batch_catalog_->profile().segments.empty());
  for (auto& [part, ps] : partitions_) {
    if (!ps.dirty) continue;
    building_->PutCheckpoint(options_.topics.events, part, ps.checkpoint);
    if (daily) {
      const TimestampMs now = Now(ps);
      profile::PutDailyCounts(*building_, store_->meta_cf(), now / (int64_t{86400} * 1000), part,
                              ps.checkpoint.profile());
    }
    writing_offsets_.push_back({options_.topics.events, part, ps.checkpoint.next_offset()});
    ps.dirty = false;
  }
  outbox_->Seal();
  if (dispatcher_ != nullptr) {
    if (dispatcher_->HasStaged()) CrashPoint("engine.before_write");
    dispatcher_->Seal();
  }
  CrashPoint("engine.write_staged");  // crash tests: the whole batch built, not written
  std::swap(building_, writing_);
  writer_.Submit(writing_);
  return Status::Ok();
}

Status Engine::FinishWrite() {
  if (!writer_.in_flight()) return Status::Ok();
  CAIRN_RETURN_IF_ERROR(writer_.Wait());
  if (observer_ != nullptr) observer_->OnWrite(writer_.last_write_seconds());
  // The outbox records of that write are durable: hand them to the broker.
  CAIRN_RETURN_IF_ERROR(outbox_->Publish());
  // Its send tasks go to the dispatcher once the WAL is synced: a message
  // must never go out for a decision a power loss could undo.
  if (dispatcher_ != nullptr && dispatcher_->HasSealed()) {
    CrashPoint("engine.before_dispatch");
    if (!store_->sync_writes()) {
      auto s = store_->db()->FlushWAL(/*sync=*/true);
      if (!s.ok()) return Unavailable("WAL sync before dispatch: " + s.ToString());
    }
    dispatcher_->Submit();
  }
  {
    std::lock_guard lock(metrics_mu_);
    for (const auto& tp : writing_offsets_) committed_[tp.partition] = tp.offset;
  }
  // Kafka's committed offset only trails RocksDB's; a failed commit is harmless.
  Status s = consumer_->Commit(writing_offsets_, /*async=*/true);
  if (!s.ok()) spdlog::debug("offset commit: {}", s.ToString());
  writing_offsets_.clear();
  erased_writing_.clear();  // readable from RocksDB now
  cache_.Evict();
  return Status::Ok();
}

void Engine::OnAssign(std::vector<kafka::TopicPartition>& parts) {
  for (auto& tp : parts) {
    PartitionState ps;
    if (auto cp = store_->GetCheckpoint(tp.topic, tp.partition)) {
      ps.checkpoint = *cp;
      tp.offset = cp->next_offset();
      spdlog::info("partition {}[{}]: resuming at offset {} (from RocksDB)", tp.topic, tp.partition,
                   tp.offset);
    } else {
      tp.offset = kafka::TopicPartition::kOffsetCommitted;
      spdlog::info("partition {}[{}]: no checkpoint, starting from the group's offset", tp.topic,
                   tp.partition);
    }
    partitions_[tp.partition] = std::move(ps);
    campaigns_.Assign(tp.partition);
    if (Status s = outbox_->Recover(tp.partition); !s.ok() && fatal_.ok()) fatal_ = s;
    if (dispatcher_ != nullptr) {
      if (Status s = dispatcher_->Assign(tp.partition); !s.ok() && fatal_.ok()) fatal_ = s;
    }
    std::lock_guard lock(metrics_mu_);
    if (tp.offset >= 0) committed_[tp.partition] = tp.offset;
  }
  assigned_.fetch_add(static_cast<int>(parts.size()));
}

void Engine::OnRevoke(const std::vector<kafka::TopicPartition>& parts) {
  ProcessBatch();  // write everything consumed so far, from every partition
  if (Status s = FinishWrite(); !s.ok() && fatal_.ok()) fatal_ = s;
  for (const auto& tp : parts) {
    cache_.DropPartition(tp.partition);
    partitions_.erase(tp.partition);
    timers_.Forget(tp.partition);
    campaigns_.Revoke(tp.partition);
    outbox_->Forget(tp.partition);
    if (dispatcher_ != nullptr) dispatcher_->Revoke(tp.partition);
    std::lock_guard lock(metrics_mu_);
    committed_.erase(tp.partition);  // its lag and timers are the new owner's
  }
  // Messages a cut carried over belong to the new owner if their partition went.
  size_t kept = 0;
  for (size_t i = 0; i < pending_count_; ++i) {
    if (partitions_.count(pending_[i].msg->partition) == 0) {
      pending_[i].msg.reset();
      continue;
    }
    if (kept != i) std::swap(pending_[kept], pending_[i]);
    ++kept;
  }
  pending_count_ = kept;
  assigned_.fetch_sub(static_cast<int>(parts.size()));
}

EngineMetrics Engine::metrics() const {
  EngineMetrics m;
  std::vector<double> sorted;
  {
    // Copy under the lock, sort outside it: the ingest thread takes this
    // lock once per batch and must not wait on a reader's sort.
    std::lock_guard lock(metrics_mu_);
    m = metrics_;
    sorted = batch_ms_ring_;
  }
  if (!sorted.empty()) {
    size_t idx = std::min(sorted.size() - 1, sorted.size() * 99 / 100);
    std::nth_element(sorted.begin(), sorted.begin() + static_cast<long>(idx), sorted.end());
    m.p99_batch_ms = sorted[idx];
  }
  m.assigned_partitions = assigned_.load();
  m.governance = runtime_.counters().governance.Snapshot();
  m.campaigns = campaigns_.metrics();
  return m;
}

std::map<std::string, uint64_t> Engine::journey_counts() const {
  std::lock_guard lock(metrics_mu_);
  return journey_counts_;
}

std::map<int32_t, int64_t> Engine::ConsumerLag() const {
  std::map<int32_t, int64_t> lag;
  if (consumer_ == nullptr) return lag;
  for (const auto& [partition, next] : committed_offsets()) {
    int64_t low = 0;
    int64_t high = 0;
    // Cached from fetch responses: no broker round trip, safe from any thread.
    if (rd_kafka_get_watermark_offsets(consumer_->handle(), options_.topics.events.c_str(),
                                       partition, &low, &high) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        high < 0) {
      lag[partition] = -1;
      continue;
    }
    lag[partition] = std::max<int64_t>(0, high - next);
  }
  return lag;
}

std::map<int32_t, int64_t> Engine::committed_offsets() const {
  std::lock_guard lock(metrics_mu_);
  return committed_;
}

}  // namespace cairn::runtime

namespace cairn::runtime {

uint64_t Engine::PendingTimers() {
  uint64_t n = 0;
  for (const auto& [p, offset] : committed_offsets()) {
    auto c = timers_.CountPending(p);
    if (c.ok()) n += c.value();
  }
  return n;
}

}  // namespace cairn::runtime
