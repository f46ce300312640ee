#include "dispatch/dispatcher.h"

#include <rocksdb/db.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <nlohmann/json.hpp>
#include <random>
#include <unordered_set>

#include "cairn/big_endian.h"
#include "cairn/crash_point.h"
#include "dispatch/outcome.h"
#include "flow/runtime.h"
#include "outbox/outbox.h"

namespace cairn::dispatch {
namespace {

constexpr size_t kLoadPassRows = 20'000;  // queue rows read per reload pass at most
constexpr size_t kLatencyRing = 1024;

bool Ended(v1::LedgerEntry::State s) { return s != v1::LedgerEntry::QUEUED; }

// The trait that holds a channel's address when the connector does not say.
std::string DefaultRecipientTrait(const std::string& channel) {
  if (channel == "email") return "email";
  if (channel == "sms") return "phone";
  if (channel == "push") return "push_tokens";
  return "";
}

struct Item {
  int32_t partition = 0;
  uint64_t seq = 0;
  v1::Task task;
  int64_t due_ms = 0;     // not before (a retry's backoff)
  int64_t queued_ms = 0;  // when it entered memory
};

// Tokens refill at `rate` per second up to `burst`.
class TokenBucket {
 public:
  TokenBucket(double rate, double burst)
      : rate_(rate), burst_(burst > 0 ? burst : std::max(1.0, rate)), tokens_(burst_) {}
  // 0 when a token was taken; else how long to wait (ms) before asking again.
  int64_t TryTake(int64_t now_ms) {
    if (rate_ <= 0) return 0;
    std::lock_guard lock(mu_);
    if (last_ms_ != 0) {
      tokens_ = std::min(burst_, tokens_ + static_cast<double>(now_ms - last_ms_) * rate_ / 1000.0);
    }
    last_ms_ = now_ms;
    if (tokens_ >= 1.0) {
      tokens_ -= 1.0;
      return 0;
    }
    return std::max<int64_t>(1, static_cast<int64_t>((1.0 - tokens_) * 1000.0 / rate_));
  }

 private:
  std::mutex mu_;
  double rate_, burst_, tokens_;
  int64_t last_ms_ = 0;
};

}  // namespace

// One connector instance: its queue, its workers, its counters.
struct Lane {
  LaneOptions opt;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Item> ready;                // guarded by mu
  std::multimap<int64_t, Item> delayed;  // due -> item; guarded by mu
  size_t in_flight = 0;                  // guarded by mu
  std::vector<double> latency_ring;      // guarded by mu
  size_t latency_next = 0;               // guarded by mu
  std::unique_ptr<TokenBucket> bucket;
  std::vector<std::thread> workers;
  std::atomic<uint64_t> attempts{0}, sent{0}, failed{0}, bounced{0}, suppressed{0}, unknown{0},
      retries{0};
  std::map<std::string, std::array<uint64_t, 5>> ended_by_channel;  // guarded by mu
  size_t size() const { return ready.size() + delayed.size(); }
};

// One attempt's outcome on its way to the ledger.
struct Record {
  v1::LedgerEntry entry;
  int32_t partition = 0;
  uint64_t seq = 0;
  bool ended = false;        // delete the queue row, stop tracking the task
  std::string outcome_json;  // an outcome event to publish, if any
};

struct Dispatcher::Impl {
  DispatcherOptions opt;
  state::StateStore* store = nullptr;
  const Clock* clock = nullptr;
  std::vector<std::unique_ptr<Lane>> lanes;
  std::map<std::string, Lane*> by_channel;
  std::atomic<bool> stopping{false};

  mutable std::mutex templates_mu;
  std::shared_ptr<const TemplateSet> templates;  // guarded by templates_mu

  // Which tasks are in memory (a lane or a send in progress), which
  // partitions this instance owns, and where a partition's queue was cut
  // short because a lane was full.
  std::mutex track_mu;
  std::unordered_set<std::string> tracked;  // guarded by track_mu
  std::set<int32_t> assigned;               // guarded by track_mu
  std::map<int32_t, uint64_t> spill;        // partition -> lowest seq not loaded; track_mu

  // The recorder thread.
  std::mutex rec_mu;
  std::condition_variable rec_cv;
  std::vector<Record> records;                     // guarded by rec_mu
  std::vector<std::pair<int32_t, bool>> commands;  // (partition, assign?); guarded by rec_mu
  bool rec_stop = false;                           // guarded by rec_mu
  uint64_t posted = 0;                             // records posted; guarded by rec_mu
  int flush_ms = 5000;                             // guarded by rec_mu
  Status failure;                                  // guarded by rec_mu
  std::thread recorder;
  // How many of the posted records are in the ledger. A worker whose send
  // was accepted waits for its record before it sends again: so a crash
  // finds at most one message per worker accepted by the peer but not in
  // the ledger (sent again after the restart; for SMTP a second copy).
  // Without the wait, a slow recorder (an fsync, the queue loads on assign)
  // let the workers run dozens of accepted sends ahead of the ledger.
  std::mutex recorded_mu;
  std::condition_variable recorded_cv;
  uint64_t recorded_upto = 0;                // guarded by recorded_mu
  std::unique_ptr<outbox::Outbox> outcomes;  // recorder thread only (after Create)
  std::set<int32_t> outbox_parts;            // recorder thread only
  std::atomic<uint64_t> submitted{0}, ended{0};
  std::atomic<uint64_t> recorded{0}, skipped_ended{0}, outcomes_published{0}, outcomes_unacked{0};

  Lane* LaneFor(const v1::Task& t) const {
    auto it = by_channel.find(t.channel());
    return it == by_channel.end() ? nullptr : it->second;
  }
  std::shared_ptr<const TemplateSet> Templates() const {
    std::lock_guard lock(templates_mu);
    return templates;
  }

  enum class Put { kQueued, kSkipped, kFull };
  // Puts `item` into its lane unless it is there already or its partition is
  // not ours. kFull: the lane is at its bound (the row waits in RocksDB).
  Put Enqueue(Item item) {
    Lane* lane = LaneFor(item.task);
    if (lane == nullptr) return Put::kSkipped;  // no connector for the channel (any more)
    {
      std::lock_guard lock(track_mu);
      if (assigned.count(item.partition) == 0) return Put::kSkipped;
      if (!tracked.insert(item.task.task_id()).second) return Put::kSkipped;
    }
    {
      std::lock_guard lock(lane->mu);
      if (lane->size() < lane->opt.queue_limit) {
        item.queued_ms = clock->NowMs();
        if (item.due_ms > item.queued_ms) {
          lane->delayed.emplace(item.due_ms, std::move(item));
        } else {
          lane->ready.push_back(std::move(item));
        }
        lane->cv.notify_one();
        return Put::kQueued;
      }
    }
    std::lock_guard lock(track_mu);
    tracked.erase(item.task.task_id());
    return Put::kFull;
  }

  void NoteSpill(int32_t partition, uint64_t seq) {
    std::lock_guard lock(track_mu);
    auto [it, fresh] = spill.emplace(partition, seq);
    if (!fresh) it->second = std::min(it->second, seq);
  }

  bool Owned(int32_t partition) {
    std::lock_guard lock(track_mu);
    return assigned.count(partition) > 0;
  }

  std::optional<v1::LedgerEntry> ReadLedger(const std::string& task_id) const {
    std::string value;
    auto s =
        store->db()->Get(rocksdb::ReadOptions(), store->dispatch_cf(), LedgerKey(task_id), &value);
    if (!s.ok()) return std::nullopt;
    v1::LedgerEntry e;
    if (!e.ParseFromString(value)) return std::nullopt;
    return e;
  }

  // Hands a record to the recorder; returns its number (records are
  // written in this order).
  uint64_t Post(Record r) {
    std::lock_guard lock(rec_mu);
    records.push_back(std::move(r));
    rec_cv.notify_one();
    return ++posted;
  }

  // Waits until record `n` is in the ledger, or the dispatcher stops. After
  // a failed ledger write it waits until Stop (health() fails; the process
  // exits and a restart resumes).
  void AwaitRecorded(uint64_t n) {
    std::unique_lock lock(recorded_mu);
    while (recorded_upto < n && !stopping.load()) {
      recorded_cv.wait_for(lock, std::chrono::milliseconds(50));
    }
  }
  void MarkRecorded(uint64_t n) {
    {
      std::lock_guard lock(recorded_mu);
      recorded_upto = std::max(recorded_upto, n);
    }
    recorded_cv.notify_all();
  }

  void Worker(Lane* lane, std::unique_ptr<Connector> connector);
  void Process(Lane* lane, Connector& connector, Item& item);
  uint64_t End(Lane* lane, Item& item, v1::LedgerEntry& entry, v1::LedgerEntry::State state,
               std::string reason, std::string_view event, nlohmann::json props);
  void RecorderLoop();
  void LoadQueue(int32_t partition, uint64_t from_seq);
  Status WriteRecords(std::vector<Record>& batch_records);
};

std::string Dispatcher::QueueKey(int32_t partition, uint64_t seq) {
  std::string k = "q";
  PutU32BE(k, static_cast<uint32_t>(partition));
  PutU64BE(k, seq);
  return k;
}

std::string Dispatcher::LedgerKey(std::string_view task_id) {
  std::string k = "l";
  k.append(task_id);
  return k;
}

Dispatcher::Dispatcher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Dispatcher>> Dispatcher::Create(DispatcherOptions options,
                                                       state::StateStore* store,
                                                       const Clock* clock) {
  auto impl = std::make_unique<Impl>();
  impl->store = store;
  impl->clock = clock;
  impl->templates = options.templates;
  for (const auto& lo : options.lanes) {
    auto lane = std::make_unique<Lane>();
    lane->opt = lo;
    lane->bucket = std::make_unique<TokenBucket>(lo.rate_per_s, lo.burst);
    lane->latency_ring.reserve(kLatencyRing);
    impl->lanes.push_back(std::move(lane));
  }
  for (const auto& [channel, connector] : options.channels) {
    Lane* found = nullptr;
    for (auto& lane : impl->lanes) {
      if (lane->opt.connector == connector) found = lane.get();
    }
    if (found == nullptr) {
      return InvalidArgument("channels." + channel + ": no connector named '" + connector + "'");
    }
    impl->by_channel[channel] = found;
  }
  auto box = outbox::Outbox::Create(store, options.producer, store->dispatch_cf(), "o");
  if (!box.ok()) return box.status().WithContext("dispatch outcome producer");
  impl->outcomes = std::move(box).value();
  impl->opt = std::move(options);

  // Every worker gets its own connector; a connector that cannot be made is
  // a start-up error.
  std::vector<std::vector<std::unique_ptr<Connector>>> made(impl->lanes.size());
  for (size_t i = 0; i < impl->lanes.size(); ++i) {
    auto& lane = impl->lanes[i];
    for (int w = 0; w < std::max(1, lane->opt.concurrency); ++w) {
      auto c = lane->opt.make();
      if (!c.ok()) return c.status().WithContext("connectors." + lane->opt.connector);
      made[i].push_back(std::move(c).value());
    }
  }
  std::unique_ptr<Dispatcher> d(new Dispatcher(std::move(impl)));
  Impl* raw = d->impl_.get();
  for (size_t i = 0; i < raw->lanes.size(); ++i) {
    Lane* lane = raw->lanes[i].get();
    for (auto& c : made[i]) {
      lane->workers.emplace_back(
          [raw, lane, conn = std::move(c)]() mutable { raw->Worker(lane, std::move(conn)); });
    }
  }
  raw->recorder = std::thread([raw] { raw->RecorderLoop(); });
  return d;
}

Dispatcher::~Dispatcher() { Stop(); }

bool Dispatcher::Handles(const v1::Task& task) const { return impl_->LaneFor(task) != nullptr; }

void Dispatcher::Stage(state::StateStore::Batch& batch, int32_t partition, const v1::Task& task) {
  const uint64_t seq = next_seq_[partition]++;
  v1::DispatchItem item;
  *item.mutable_task() = task;
  (void)batch.raw().Put(impl_->store->dispatch_cf(), QueueKey(partition, seq),
                        item.SerializeAsString());
  staged_.push_back({partition, seq, task});
}

void Dispatcher::Seal() {
  sealed_.insert(sealed_.end(), std::make_move_iterator(staged_.begin()),
                 std::make_move_iterator(staged_.end()));
  staged_.clear();
}

void Dispatcher::Submit() {
  impl_->submitted += sealed_.size();
  for (auto& s : sealed_) {
    Item item;
    item.partition = s.partition;
    item.seq = s.seq;
    item.task = std::move(s.task);
    if (impl_->Enqueue(std::move(item)) == Impl::Put::kFull) {
      impl_->NoteSpill(s.partition, s.seq);
    }
  }
  sealed_.clear();
}

Status Dispatcher::Assign(int32_t partition) {
  // The next queue seq: one past the partition's last row.
  rocksdb::ReadOptions ro;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->store->db()->NewIterator(ro, impl_->store->dispatch_cf()));
  const std::string hi = QueueKey(partition, UINT64_MAX);
  it->SeekForPrev(hi);
  uint64_t next = 0;
  const std::string lo = QueueKey(partition, 0);
  if (it->Valid() && it->key().size() == lo.size() && it->key().starts_with(lo.substr(0, 5))) {
    next = GetU64BE(it->key().data() + 5) + 1;
  }
  if (!it->status().ok()) return Unavailable("dispatch queue scan: " + it->status().ToString());
  next_seq_[partition] = next;
  {
    std::lock_guard lock(impl_->track_mu);
    impl_->assigned.insert(partition);
  }
  std::lock_guard lock(impl_->rec_mu);
  impl_->commands.emplace_back(partition, true);
  impl_->rec_cv.notify_one();
  return Status::Ok();
}

void Dispatcher::Revoke(int32_t partition) {
  {
    std::lock_guard lock(impl_->track_mu);
    impl_->assigned.erase(partition);
    impl_->spill.erase(partition);
  }
  // Tasks of the partition waiting in memory are dropped (their rows stay).
  for (auto& lane : impl_->lanes) {
    std::vector<std::string> dropped;
    {
      std::lock_guard lock(lane->mu);
      std::erase_if(lane->ready, [&](const Item& i) {
        if (i.partition != partition) return false;
        dropped.push_back(i.task.task_id());
        return true;
      });
      std::erase_if(lane->delayed, [&](const auto& kv) {
        if (kv.second.partition != partition) return false;
        dropped.push_back(kv.second.task.task_id());
        return true;
      });
    }
    std::lock_guard lock(impl_->track_mu);
    for (const auto& id : dropped) impl_->tracked.erase(id);
  }
  std::erase_if(staged_, [&](const Staged& s) { return s.partition == partition; });
  next_seq_.erase(partition);
  std::lock_guard lock(impl_->rec_mu);
  impl_->commands.emplace_back(partition, false);
  impl_->rec_cv.notify_one();
}

void Dispatcher::SetTemplates(std::shared_ptr<const TemplateSet> templates) {
  std::lock_guard lock(impl_->templates_mu);
  impl_->templates = std::move(templates);
}

std::optional<v1::LedgerEntry> Dispatcher::Ledger(const std::string& task_id) const {
  return impl_->ReadLedger(task_id);
}

Status Dispatcher::health() const {
  std::lock_guard lock(impl_->rec_mu);
  return impl_->failure;
}

DispatchMetrics Dispatcher::metrics() const {
  DispatchMetrics m;
  const int64_t now = impl_->clock->NowMs();
  for (const auto& lane : impl_->lanes) {
    LaneMetrics lm;
    lm.connector = lane->opt.connector;
    lm.type = lane->opt.type;
    {
      std::lock_guard lock(lane->mu);
      lm.queued = lane->size();
      lm.in_flight = lane->in_flight;
      int64_t oldest = 0;
      for (const auto& i : lane->ready) oldest = std::max(oldest, now - i.queued_ms);
      if (!lane->delayed.empty()) {
        for (const auto& [due, i] : lane->delayed) oldest = std::max(oldest, now - i.queued_ms);
      }
      lm.oldest_queued_ms = oldest;
      lm.ended_by_channel = lane->ended_by_channel;
      if (!lane->latency_ring.empty()) {
        std::vector<double> v = lane->latency_ring;
        const size_t k = v.size() * 99 / 100;
        std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
        lm.p99_send_ms = v[k];
      }
    }
    lm.attempts = lane->attempts.load();
    lm.sent = lane->sent.load();
    lm.failed = lane->failed.load();
    lm.bounced = lane->bounced.load();
    lm.suppressed = lane->suppressed.load();
    lm.unknown = lane->unknown.load();
    lm.retries = lane->retries.load();
    m.lanes.push_back(std::move(lm));
  }
  {
    std::lock_guard lock(impl_->track_mu);
    m.spilled_partitions = impl_->spill.size();
  }
  m.submitted = impl_->submitted.load();
  m.ended = impl_->ended.load();
  m.recorded = impl_->recorded.load();
  m.outcomes_published = impl_->outcomes_published.load();
  m.outcomes_unacked = impl_->outcomes_unacked.load();
  m.skipped_ended = impl_->skipped_ended.load();
  return m;
}

void Dispatcher::Stop(int flush_ms) {
  if (impl_->stopping.exchange(true)) return;
  for (auto& lane : impl_->lanes) {
    {
      std::lock_guard lock(lane->mu);
      lane->cv.notify_all();
    }
  }
  for (auto& lane : impl_->lanes) {
    for (auto& t : lane->workers) t.join();
  }
  {
    std::lock_guard lock(impl_->rec_mu);
    impl_->rec_stop = true;
    impl_->flush_ms = flush_ms;
    impl_->rec_cv.notify_one();
  }
  if (impl_->recorder.joinable()) impl_->recorder.join();
}

// --- workers ---

void Dispatcher::Impl::Worker(Lane* lane, std::unique_ptr<Connector> connector) {
  while (true) {
    Item item;
    {
      std::unique_lock lock(lane->mu);
      while (true) {
        if (stopping.load()) return;
        const int64_t now = clock->NowMs();
        while (!lane->delayed.empty() && lane->delayed.begin()->first <= now) {
          lane->ready.push_back(std::move(lane->delayed.begin()->second));
          lane->delayed.erase(lane->delayed.begin());
        }
        if (!lane->ready.empty()) {
          item = std::move(lane->ready.front());
          lane->ready.pop_front();
          ++lane->in_flight;
          break;
        }
        int64_t wait = 200;
        if (!lane->delayed.empty()) wait = std::min(wait, lane->delayed.begin()->first - now);
        lane->cv.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(1, wait)));
      }
    }
    // The rate limit: wait for a token (a stop leaves the task to the next run).
    bool go = true;
    while (int64_t w = lane->bucket->TryTake(clock->NowMs())) {
      if (stopping.load()) {
        go = false;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(w, 50)));
    }
    if (go && Owned(item.partition)) {
      Process(lane, *connector, item);
    } else {
      std::lock_guard lock(track_mu);
      tracked.erase(item.task.task_id());
    }
    std::lock_guard lock(lane->mu);
    --lane->in_flight;
  }
}

uint64_t Dispatcher::Impl::End(Lane* lane, Item& item, v1::LedgerEntry& entry,
                               v1::LedgerEntry::State state, std::string reason,
                               std::string_view event, nlohmann::json props) {
  entry.set_state(state);
  entry.set_reason(reason);
  entry.set_updated_ms(clock->NowMs());
  entry.set_next_attempt_ms(0);
  size_t result = 1;  // kEndResults: sent, failed, bounced, suppressed, unknown
  switch (state) {
    case v1::LedgerEntry::SENT:
      lane->sent++;
      result = 0;
      break;
    case v1::LedgerEntry::BOUNCED:
      lane->bounced++;
      result = 2;
      break;
    case v1::LedgerEntry::SUPPRESSED:
      lane->suppressed++;
      result = 3;
      break;
    case v1::LedgerEntry::UNKNOWN:
      lane->unknown++;
      result = 4;
      break;
    default:
      lane->failed++;
      break;
  }
  {
    std::lock_guard lock(lane->mu);
    lane->ended_by_channel[item.task.channel()][result]++;
  }
  Record r;
  r.partition = item.partition;
  r.seq = item.seq;
  r.ended = true;
  if (!event.empty()) {
    if (!reason.empty()) props["reason"] = reason;
    props["connector"] = lane->opt.connector;
    OutcomeRef ref{entry.task_id(), entry.customer_id(), entry.journey(), entry.step(),
                   entry.channel()};
    std::string suffix(event);
    std::replace(suffix.begin(), suffix.end(), ' ', '_');
    const TimestampMs at = opt.outcomes_at_decision_time && item.task.created_at_ms() > 0
                               ? item.task.created_at_ms()
                               : entry.updated_ms();
    r.outcome_json = OutcomeEventJson(event, ref, props, at, suffix);
  }
  r.entry = std::move(entry);
  return Post(std::move(r));
}

void Dispatcher::Impl::Process(Lane* lane, Connector& connector, Item& item) {
  const v1::Task& t = item.task;
  auto prior = ReadLedger(t.task_id());
  if (prior && Ended(prior->state())) {
    // Ended before (a crash between the ledger write and the row delete, or
    // a reload): never again. The record deletes the row.
    skipped_ended++;
    Record r;
    r.entry = std::move(*prior);
    r.partition = item.partition;
    r.seq = item.seq;
    r.ended = true;
    Post(std::move(r));
    return;
  }
  v1::LedgerEntry entry;
  if (prior) {
    entry = std::move(*prior);
  } else {
    entry.set_task_id(t.task_id());
    entry.set_customer_id(t.customer_id());
    entry.set_journey(t.journey());
    entry.set_step(t.step());
    entry.set_channel(t.channel());
    entry.set_partition(item.partition);
  }
  const int attempt = entry.attempts_size() + 1;

  // The customer as of now: consent and address are checked at send time,
  // not only when the journey decided.
  auto customer = store->GetCustomer(item.partition, t.customer_id());
  if (!customer.ok()) {
    spdlog::warn("dispatch {}: reading the customer failed ({}); retrying in 1 s", t.task_id(),
                 customer.status().ToString());
    std::lock_guard lock(lane->mu);
    item.due_ms = clock->NowMs() + 1000;
    lane->delayed.emplace(item.due_ms, std::move(item));
    return;
  }
  nlohmann::json traits = nlohmann::json::object();
  if (customer.value() && !customer.value()->traits_json().empty()) {
    traits = nlohmann::json::parse(customer.value()->traits_json(), nullptr, false);
    if (!traits.is_object()) traits = nlohmann::json::object();
  }
  {
    const auto consent = traits.find("consent");
    const nlohmann::json* v = nullptr;
    if (consent != traits.end() && consent->is_object()) {
      auto c = consent->find(t.channel());
      if (c != consent->end()) v = &*c;
    }
    const bool opted_out = v != nullptr && v->is_boolean() && !v->get<bool>();
    const bool opted_in = v != nullptr && v->is_boolean() && v->get<bool>();
    if (opted_out || (t.consent() == "explicit" && !opted_in)) {
      End(lane, item, entry, v1::LedgerEntry::SUPPRESSED,
          opted_out ? "no consent for " + t.channel() + " (opted out)"
                    : "no consent for " + t.channel() + " (explicit opt-in required)",
          kMessageFailed, {{"suppressed", true}});
      return;
    }
  }

  OutboundMessage msg;
  msg.task_id = t.task_id();
  msg.customer_id = t.customer_id();
  msg.journey = t.journey();
  msg.version = t.version();
  msg.step = t.step();
  msg.channel = t.channel();
  msg.attempt = attempt;
  const std::string trait = lane->opt.recipient_trait.empty() ? DefaultRecipientTrait(t.channel())
                                                              : lane->opt.recipient_trait;
  if (!trait.empty()) {
    auto v = traits.find(trait);
    if (v != traits.end() && v->is_string() && !v->get<std::string>().empty()) {
      msg.to.push_back(v->get<std::string>());
    } else if (v != traits.end() && v->is_array()) {
      for (const auto& x : *v) {
        if (x.is_string() && !x.get<std::string>().empty()) msg.to.push_back(x.get<std::string>());
      }
    }
    if (msg.to.empty()) {
      End(lane, item, entry, v1::LedgerEntry::SUPPRESSED,
          "no address: traits." + trait + " is empty", kMessageFailed, {{"suppressed", true}});
      return;
    }
  }
  // The task as JSON is the body of webhook/kafka sends without a template.
  if (t.template_().empty() || lane->opt.type == "webhook" || lane->opt.type == "kafka") {
    msg.task_json = flow::TaskJson(t);
  }
  const TrackingClaims ref{TrackingClaims::Kind::kOpen,
                           t.task_id(),
                           t.customer_id(),
                           t.journey(),
                           t.step(),
                           t.channel(),
                           {}};
  if (opt.tracker != nullptr) {
    msg.unsubscribe_url = opt.tracker->UnsubscribeUrl(ref);
    if (t.channel() == "sms") {
      msg.status_callback_url = opt.tracker->StatusCallbackUrl(ref, lane->opt.connector);
    }
  }
  msg.data = {{"task_id", t.task_id()}, {"journey", t.journey()}, {"step", t.step()}};
  if (!t.template_().empty()) {
    auto templates_now = Templates();
    const Template* tpl = templates_now ? templates_now->Find(t.template_()) : nullptr;
    if (tpl == nullptr) {
      End(lane, item, entry, v1::LedgerEntry::FAILED, "template '" + t.template_() + "' not found",
          kMessageFailed, {});
      return;
    }
    RenderInput in;
    in.traits_json = customer.value() ? customer.value()->traits_json() : "";
    in.customer_id = t.customer_id();
    in.event_json = t.entry_event_json();
    in.params_json = t.params_json();
    in.task_id = t.task_id();
    in.journey = t.journey();
    in.step = t.step();
    in.channel = t.channel();
    in.version = t.version();
    in.tracker = opt.tracker;
    auto rendered = templates_now->Render(*tpl, in);
    if (!rendered.ok()) {
      End(lane, item, entry, v1::LedgerEntry::FAILED,
          "template '" + t.template_() + "': " + rendered.status().message(), kMessageFailed, {});
      return;
    }
    msg.content = std::move(rendered).value();
  }

  const auto start = std::chrono::steady_clock::now();
  CrashPoint("dispatch.before_send");
  SendResult r = connector.Send(msg);
  // The peer has it; the ledger does not know yet.
  if (r.outcome == SendOutcome::kAccepted) CrashPoint("dispatch.after_accept");
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  lane->attempts++;
  {
    std::lock_guard lock(lane->mu);
    if (lane->latency_ring.size() < kLatencyRing) {
      lane->latency_ring.push_back(ms);
    } else {
      lane->latency_ring[lane->latency_next++ % kLatencyRing] = ms;
    }
  }
  auto* a = entry.add_attempts();
  a->set_at_ms(clock->NowMs());
  a->set_connector(lane->opt.connector);
  a->set_result(SendOutcomeName(r.outcome));
  a->set_code(r.code);
  a->set_provider_id(r.provider_id);
  a->set_detail(r.detail.substr(0, 500));
  a->set_duration_ms(static_cast<int64_t>(ms));

  switch (r.outcome) {
    case SendOutcome::kAccepted: {
      entry.set_provider_id(r.provider_id);
      nlohmann::json props = {{"attempts", attempt}};
      if (!r.provider_id.empty()) props["provider_id"] = r.provider_id;
      // Not the next send before this one is in the ledger (see recorded_upto).
      AwaitRecorded(
          End(lane, item, entry, v1::LedgerEntry::SENT, "", kMessageSent, std::move(props)));
      return;
    }
    case SendOutcome::kPermanent:
      End(lane, item, entry,
          r.recipient_rejected ? v1::LedgerEntry::BOUNCED : v1::LedgerEntry::FAILED, r.detail,
          r.recipient_rejected ? kMessageBounced : kMessageFailed,
          {{"code", r.code}, {"attempts", attempt}});
      return;
    case SendOutcome::kRetryable:
    case SendOutcome::kUnknown:
      break;
  }
  const bool unknown = r.outcome == SendOutcome::kUnknown;
  if (attempt >= lane->opt.max_attempts) {
    End(lane, item, entry, unknown ? v1::LedgerEntry::UNKNOWN : v1::LedgerEntry::FAILED,
        "gave up after " + std::to_string(attempt) + " attempts" +
            (unknown ? " (the last outcome unknown)" : "") + ": " + r.detail,
        kMessageFailed, {{"code", r.code}, {"attempts", attempt}, {"unknown", unknown}});
    return;
  }
  // Exponential backoff with jitter; Retry-After is a floor.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const int shift = std::min(attempt - 1, 30);
  const double base = std::min<double>(
      static_cast<double>(lane->opt.max_backoff_ms),
      static_cast<double>(lane->opt.initial_backoff_ms) * static_cast<double>(int64_t{1} << shift));
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  int64_t delay = static_cast<int64_t>(base * jitter(rng));
  if (r.retry_after_ms >= 0) delay = std::max(delay, r.retry_after_ms);
  lane->retries++;
  item.due_ms = clock->NowMs() + delay;
  entry.set_state(v1::LedgerEntry::QUEUED);
  entry.set_reason(r.detail.substr(0, 500));
  entry.set_updated_ms(clock->NowMs());
  entry.set_next_attempt_ms(item.due_ms);
  Record rec;
  rec.entry = entry;
  rec.partition = item.partition;
  rec.seq = item.seq;
  Post(std::move(rec));
  std::lock_guard lock(lane->mu);
  lane->delayed.emplace(item.due_ms, std::move(item));
}

// --- the recorder ---

void Dispatcher::Impl::LoadQueue(int32_t partition, uint64_t from_seq) {
  rocksdb::ReadOptions ro;
  const std::string hi = QueueKey(partition + 1, 0);
  rocksdb::Slice upper(hi);
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(store->db()->NewIterator(ro, store->dispatch_cf()));
  std::optional<uint64_t> unfit;
  size_t rows = 0, loaded = 0;
  uint64_t last = from_seq;
  for (it->Seek(QueueKey(partition, from_seq)); it->Valid() && rows < kLoadPassRows;
       it->Next(), ++rows) {
    if (it->key().size() != 13) continue;
    const uint64_t seq = GetU64BE(it->key().data() + 5);
    last = seq;
    v1::DispatchItem di;
    if (!di.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      spdlog::error("dispatch: queue row {}/{} does not parse; left in place", partition, seq);
      continue;
    }
    Item item;
    item.partition = partition;
    item.seq = seq;
    if (auto e = ReadLedger(di.task().task_id()); e && !Ended(e->state())) {
      item.due_ms = e->next_attempt_ms();
    }
    item.task = std::move(*di.mutable_task());
    switch (Enqueue(std::move(item))) {
      case Put::kQueued:
        ++loaded;
        break;
      case Put::kFull:
        if (!unfit) unfit = seq;
        break;
      case Put::kSkipped:
        break;
    }
  }
  std::lock_guard lock(track_mu);
  if (unfit) {
    spill[partition] = *unfit;
  } else if (rows >= kLoadPassRows) {
    spill[partition] = last + 1;
  } else {
    spill.erase(partition);
  }
  if (loaded > 0)
    spdlog::info("dispatch: partition {}: {} task(s) queued from RocksDB", partition, loaded);
}

Status Dispatcher::Impl::WriteRecords(std::vector<Record>& recs) {
  auto batch = store->NewBatch();
  outcomes->Collect(batch);
  for (const auto& r : recs) {
    (void)batch.raw().Put(store->dispatch_cf(), LedgerKey(r.entry.task_id()),
                          r.entry.SerializeAsString());
    if (r.ended) (void)batch.raw().Delete(store->dispatch_cf(), QueueKey(r.partition, r.seq));
    if (!r.outcome_json.empty()) {
      if (outbox_parts.count(r.partition) == 0) {
        spdlog::warn("dispatch: partition {} is no longer ours; outcome of {} not published",
                     r.partition, r.entry.task_id());
        continue;
      }
      v1::OutboxRecord o;
      o.set_topic(opt.events_topic);
      o.set_key(r.entry.customer_id());
      o.set_value(r.outcome_json);
      (*o.mutable_headers())["content-type"] = "application/json";
      outcomes->Stage(batch, r.partition, o);
    }
  }
  if (batch.count() == 0) return Status::Ok();
  rocksdb::WriteOptions wo;
  wo.sync = opt.sync;
  auto s = store->db()->Write(wo, &batch.raw());
  if (!s.ok()) return Unavailable("dispatch ledger write: " + s.ToString());
  CrashPoint("dispatch.after_ledger");
  recorded += recs.size();
  outcomes->Seal();
  CAIRN_RETURN_IF_ERROR(outcomes->Publish());
  outcomes_published = outcomes->published();
  outcomes_unacked = outcomes->pending();
  std::lock_guard lock(track_mu);
  for (const auto& r : recs) {
    if (r.ended && tracked.erase(r.entry.task_id()) > 0) ended++;
  }
  return Status::Ok();
}

void Dispatcher::Impl::RecorderLoop() {
  std::vector<Record> recs;
  std::vector<std::pair<int32_t, bool>> cmds;
  uint64_t recs_upto = 0;  // the number of the last record in recs
  while (true) {
    bool stop_now = false;
    int flush = 0;
    {
      std::unique_lock lock(rec_mu);
      rec_cv.wait_for(lock, std::chrono::milliseconds(50),
                      [&] { return rec_stop || !records.empty() || !commands.empty(); });
      recs.swap(records);
      recs_upto = posted;
      cmds.swap(commands);
      stop_now = rec_stop;
      flush = flush_ms;
    }
    Status s;
    for (const auto& [partition, assign] : cmds) {
      if (assign) {
        s = outcomes->Recover(partition);
        outbox_parts.insert(partition);
        if (s.ok()) LoadQueue(partition, 0);
      } else {
        outcomes->Forget(partition);
        outbox_parts.erase(partition);
      }
      if (!s.ok()) break;
    }
    cmds.clear();
    // Partitions cut short by a full lane: load more once there is room.
    if (s.ok() && !stop_now) {
      std::vector<std::pair<int32_t, uint64_t>> spilled;
      {
        std::lock_guard lock(track_mu);
        spilled.assign(spill.begin(), spill.end());
      }
      bool room = false;
      for (auto& lane : lanes) {
        std::lock_guard lock(lane->mu);
        room = room || lane->size() < lane->opt.queue_limit / 2;
      }
      if (room) {
        for (const auto& [p, seq] : spilled) LoadQueue(p, seq);
      }
    }
    if (s.ok() && (!recs.empty() || outcomes->Acked())) s = WriteRecords(recs);
    if (s.ok() && !recs.empty()) MarkRecorded(recs_upto);
    recs.clear();
    if (!s.ok()) {
      spdlog::error("dispatch: {}", s.ToString());
      std::lock_guard lock(rec_mu);
      if (failure.ok()) failure = s;
    }
    if (stop_now) {
      {
        std::lock_guard lock(rec_mu);
        recs.swap(records);
      }
      if (!recs.empty()) (void)WriteRecords(recs);
      (void)outcomes->Flush(flush);
      if (outcomes->Acked()) {
        std::vector<Record> none;
        (void)WriteRecords(none);
      }
      return;
    }
  }
}

}  // namespace cairn::dispatch
