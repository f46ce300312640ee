// The engine's main loop: Kafka batch in, one RocksDB write out.
//
//   poll a batch ─► parse each message ─► bad: dead-letter topic
//                                      └► good: fold into the customer's state
//   ─► flush dead letters (broker ack) ─► ONE WriteBatch: state + history +
//      partition checkpoints (next offset, counters) ─► commit offsets to Kafka
//
// Resuming reads each assigned partition from the checkpoint in RocksDB,
// never from Kafka's committed offset (used only when RocksDB has none), so
// a crash anywhere repeats no state change and loses none.
//
// Threading: Run() owns the calling thread (the ingest thread) until `stop`
// is set; ready(), metrics() and committed_offsets() may be called from any
// thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "analytics/recorder.h"
#include "cairn/clock.h"
#include "cairn/event.h"
#include "cairn/status.h"
#include "campaign/scheduler.h"
#include "dispatch/dispatcher.h"
#include "erasure/erasure.h"
#include "flow/runtime.h"
#include "identity/identity.h"
#include "ingest/event_parser.h"
#include "kafka/consumer.h"
#include "kafka/producer.h"
#include "outbox/outbox.h"
#include "runtime/batch_writer.h"
#include "state/customer_cache.h"
#include "state/customer_state.h"
#include "state/state_store.h"
#include "timer/timer_store.h"

namespace cairn::runtime {

struct Topics {
  std::string events = "cairn.events";
  std::string dlq = "cairn.events.dlq";
  std::string tasks = "cairn.tasks";
};

struct EngineOptions {
  std::string brokers;
  std::string group_id = "cairn";
  std::string instance_id;  // static membership; empty = dynamic
  Topics topics;
  size_t max_batch = 20000;        // messages per batch at most
  int poll_timeout_ms = 100;       // wait for the first message of a batch
  size_t cache_capacity = 200000;  // hot customers kept in memory
  ingest::ParseOptions parse;
  state::StateOptions state;
  kafka::KafkaProperties consumer_properties;  // extra librdkafka settings
  kafka::KafkaProperties producer_properties;
  flow::RuntimeOptions journeys;        // tasks/events topics are taken from `topics`
  size_t max_timers_per_batch = 20000;  // due timers fired per loop iteration at most
  // The engine clock. false: the wall clock (production). true: event time,
  // the highest event timestamp seen so far (replays and the demo, where
  // months of events are pushed through in seconds and timers must follow).
  bool event_time_clock = false;
  uint32_t trace_limit = 100;            // decision-trace entries kept per customer
  campaign::SchedulerOptions campaigns;  // slice sizes of the campaign scan
  identity::Options identity;            // identity resolution (engine/identity)
  // Signs and verifies GDPR erasure control events and salts their
  // tombstones (engine/erasure). Empty: erasure is off and any control
  // event is refused.
  std::string erasure_secret;
  analytics::Options analytics;  // journey analytics counters (docs/analytics.md)
};

// Sizes of the per-type / per-reason counter arrays below.
inline constexpr size_t kEventTypeCount = static_cast<size_t>(EventType::kGroup) + 1;
// (kIdentity is the last DeadLetterReason.)
inline constexpr size_t kDeadLetterReasonCount =
    static_cast<size_t>(ingest::DeadLetterReason::kIdentity) + 1;

// Observations that counters cannot carry (histograms: engine/metrics).
// Called on the ingest thread, a few times per batch, never per event;
// implementations must be cheap and must not call back into the Engine.
class EngineObserver {
 public:
  virtual ~EngineObserver() = default;
  // A batch was processed (poll excluded: parse to write handed over).
  virtual void OnBatch(double seconds) = 0;
  // A RocksDB write (one WriteBatch) finished, taking `seconds`.
  virtual void OnWrite(double seconds) = 0;
  // Timers fired in a batch: how late each was (wall clock - due, >= 0).
  // Not called on the event-time clock, where timers are never late.
  virtual void OnTimersFired(std::span<const double> lateness_seconds) = 0;
};

// Counters since the process started (totals across restarts live in the
// partition checkpoints).
struct EngineMetrics {
  uint64_t messages = 0;      // messages consumed
  uint64_t events = 0;        // events applied to state
  uint64_t duplicates = 0;    // dropped by the messageId dedup window
  uint64_t dead_letters = 0;  // sent to the DLQ
  // The same, split: applied and duplicate events by EventType, dead
  // letters by ingest::DeadLetterReason (array index = enum value).
  std::array<uint64_t, kEventTypeCount> events_by_type{};
  std::array<uint64_t, kEventTypeCount> duplicates_by_type{};
  std::array<uint64_t, kDeadLetterReasonCount> dead_letters_by_reason{};
  uint64_t customers_created = 0;
  uint64_t batches = 0;
  uint64_t consumer_errors = 0;
  uint64_t timers_fired = 0;
  uint64_t tasks_published = 0;  // outbox records produced (tasks and emitted events)
  uint64_t events_emitted = 0;   // of them, events for the events topic (journeys' emit, profile)
  // Identity resolution: events re-keyed to the id theirs was merged into,
  // internal identity records applied (link, claim, merge), customers
  // merged into another one.
  uint64_t forwarded = 0, identity_records = 0, merged_away = 0;
  uint64_t outbox_unacked = 0;
  // Cumulative time of the ingest thread per stage, in ms.
  double poll_ms = 0, parse_ms = 0, load_ms = 0, apply_ms = 0, write_ms = 0, timer_ms = 0;
  double last_batch_ms = 0;
  double p99_batch_ms = 0;  // over the last 1024 batches
  size_t cached_customers = 0;
  int assigned_partitions = 0;
  // Sends deferred / skipped by governance, by reason ("deferred.quiet_hours").
  std::map<std::string, uint64_t> governance;
  campaign::SchedulerMetrics campaigns;  // schedule-triggered journeys (engine/campaign)
  uint64_t erasures = 0;                 // customers erased (GDPR control events applied)
  uint64_t erased_dropped = 0;           // events of erased customers dated before their erasure
  uint64_t controls_refused = 0;         // control events with a bad signature (dropped)
};

class Engine final : private kafka::RebalanceListener, private flow::Effects {
 public:
  // `store` and `clock` must outlive the Engine.
  // `dispatcher` (optional; outlives the Engine): send tasks of the channels
  // it serves are queued for it in the decision's write.
  static Result<std::unique_ptr<Engine>> Create(const EngineOptions& options,
                                                state::StateStore* store, const Clock* clock,
                                                dispatch::Dispatcher* dispatcher = nullptr);
  ~Engine() override;

  // The ingest loop. Returns OK after `stop` was set and the batch in hand
  // was written and the consumer closed; returns an error only when state
  // can no longer be written or dead letters can no longer be delivered
  // (the process should exit; a restart resumes from the last write).
  Status Run(const std::atomic<bool>& stop);

  bool ready() const { return assigned_.load() > 0; }
  // Messages behind per partition whose next offset is known (from its
  // checkpoint or a write): the partition's high watermark (as of the
  // consumer's last fetch, no broker round trip) minus the next offset of the
  // last write; -1 while the high watermark is not known yet (no fetch
  // answered). Any thread.
  std::map<int32_t, int64_t> ConsumerLag() const;
  // Histogram observations go to `observer` (outlives the Engine; may be
  // null). Call before Run().
  void SetObserver(EngineObserver* observer) { observer_ = observer; }
  // The journeys; SetCatalog on it is safe from any thread (hot reload).
  flow::Runtime& journeys() { return runtime_; }
  // Decision-trace lines since start, by "journey/step/action" (step "-" when
  // none): what the demo reports and tests check. Any thread.
  std::map<std::string, uint64_t> journey_counts() const;
  // Pending timers of the partitions this engine owns (a scan: status only).
  uint64_t PendingTimers();
  EngineMetrics metrics() const;
  // The highest event time seen so far (0 before the first event). Any thread.
  TimestampMs latest_event_ms() const { return latest_event_ms_.load(std::memory_order_relaxed); }
  // Next input offset per partition, as of the last write.
  std::map<int32_t, int64_t> committed_offsets() const;
  // The schedule-triggered journeys and their runs on this instance. Any thread.
  std::vector<campaign::CampaignStatus> campaigns() const { return campaigns_.status(); }

 private:
  struct PartitionState {
    v1::PartitionCheckpoint checkpoint;
    bool dirty = false;
    // Event-time clock of the partition: its latest event time, or the time
    // of the event held back until the timers due before it have fired.
    TimestampMs clock = 0;
    bool blocked = false;  // in the batch in hand
  };
  double poll_ms_ = 0;         // ingest thread only; published with the metrics
  struct Pending {             // one consumed message, or one due timer, of the batch in hand
    kafka::MessageHandle msg;  // null for a timer
    Event event;
    bool parsed = false;
    bool seen = false;   // parse attempted (carried-over messages are not parsed again)
    timer::Timer timer;  // when msg is null
    erasure::Control control = erasure::Control::kNone;
    erasure::Request erasure;  // control == kErase
    state::CustomerCache::Entry* entry = nullptr;
    size_t miss = 0;  // index into miss_keys_ while entry is null
    int32_t partition() const { return msg ? msg->partition : timer.partition; }
    const std::string& customer() const { return msg ? event.customer_id() : timer.customer_id; }
  };

  Engine(const EngineOptions& options, state::StateStore* store, const Clock* clock);

  void OnAssign(std::vector<kafka::TopicPartition>& partitions) override;
  void OnRevoke(const std::vector<kafka::TopicPartition>& partitions) override;

  // Polls up to max_batch messages into pending_.
  void PollBatch();
  // Appends due timers of the owned partitions to fired_ (bounded).
  void CollectDueTimers();
  TimestampMs Now(const PartitionState& ps) const;
  // flow::Effects: the runtime's effects go into the batch in hand.
  void AddTimer(const timer::Timer& timer) override;
  void Publish(const v1::OutboxRecord& record) override;
  void Dispatch(const v1::Task& task) override;
  void Record(const v1::TraceEntry& entry) override;
  void SetSegmentMember(std::string_view segment, int32_t partition, std::string_view customer,
                        bool member) override;
  // Recomputes the RFM quantile thresholds from the owned partitions'
  // distributions when the model asks for quantiles and refresh_ms passed.
  void RefreshRfm();
  // Processes pending_ and writes it. Sets fatal_ on failure.
  void ProcessBatch();
  void DeadLetter(const rd_kafka_message_t& msg, const ingest::ParseError& error);
  void LoadCustomers();
  void FireTimers();
  // A slice of campaign work for the batch in hand (engine/campaign), and
  // entering its candidates through the runtime on their cached records.
  void CollectCampaignWork();
  void EnterCampaigns();
  void ApplyEvent(Pending& p, PartitionState& ps);
  // GDPR erasure of p's customer in the batch in hand (engine/erasure).
  void EraseCustomer(Pending& p, PartitionState& ps);
  // The erasure time of `id` if it was erased (in hand, in flight or stored).
  std::optional<TimestampMs> ErasedAt(const std::string& id);
  // Identity resolution (engine_identity.cc). Applies an internal identity
  // record, or re-keys an event of a merged-away id; true when it consumed `p`.
  bool ApplyIdentity(Pending& p, PartitionState& ps);
  // After `p` was applied: the link and claim records its ids ask for.
  void LinkIdentities(Pending& p, TimestampMs now);
  // `entry` folds into the customer `into` (a link arrived).
  void MergeOut(state::CustomerCache::Entry& entry, PartitionState& ps, const std::string& into,
                uint32_t hops, TimestampMs now);
  void MergeIn(Pending& p, PartitionState& ps, TimestampMs now);
  // An outbox record that is not an event of the stream (not in events_emitted).
  void PublishInternal(int32_t partition, const v1::OutboxRecord& record);
  void IdentityTrace(state::CustomerCache::Entry& entry, TimestampMs now, std::string reason);
  void MarkDirty(state::CustomerCache::Entry& entry);
  // Counts (and logs) offsets between the checkpoint and `offset` that the
  // log no longer had.
  void NoteGap(int32_t partition, int64_t offset, PartitionState& ps);
  // Flushes dead letters, waits for the previous write, then hands the
  // batch in hand (customers, history, checkpoints) to the writer thread.
  Status SubmitWrite();
  // Waits for the write in flight; then publishes its offsets (committed_,
  // Kafka commit) and evicts clean cache entries. OK when none in flight.
  Status FinishWrite();

  EngineOptions options_;
  state::StateStore* store_;
  const Clock* clock_;
  ingest::EventParser parser_;
  state::CustomerCache cache_;
  std::unique_ptr<kafka::Consumer> consumer_;
  std::unique_ptr<kafka::Producer> producer_;  // dead letters
  flow::Runtime runtime_;
  timer::TimerStore timers_;
  std::unique_ptr<outbox::Outbox> outbox_;
  dispatch::Dispatcher* dispatcher_ = nullptr;
  campaign::Scheduler campaigns_;
  analytics::Recorder analytics_;  // counters merged into each write (engine/analytics)
  std::vector<campaign::Candidate> campaign_in_hand_;  // of the batch in hand (after its timers)
  std::vector<state::CustomerCache::Entry*> campaign_entries_;
  std::vector<size_t> campaign_miss_;
  std::vector<Pending> fired_;  // due timers of the batch in hand (before its messages)
  size_t fired_count_ = 0;
  std::vector<timer::Timer> due_scratch_;
  TimestampMs event_clock_ = 0;  // event-time clock: the highest event time seen
  bool blocked_ = false;         // the last batch held events back behind due timers
  state::CustomerCache::Entry* effects_entry_ = nullptr;  // whose walk is running
  uint64_t timers_fired_ = 0;
  std::string old_traits_;
  std::shared_ptr<const flow::Catalog> batch_catalog_;  // the journeys of the batch in hand
  profile::RfmThresholds rfm_quantiles_;                // ingest thread only
  TimestampMs rfm_refreshed_ms_ = 0;
  std::map<std::string, uint64_t> counts_in_hand_;  // journey counts of the batch in hand
  uint64_t emitted_in_hand_ = 0;                    // events-topic records of the batch in hand
  std::map<std::string, uint64_t>
      journey_counts_;  // guarded by metrics_mu_  // scratch: traits before an identify

  std::vector<kafka::MessageHandle> polled_;  // scratch of PollBatch
  // Scratch of LoadCustomers, kept to reuse their memory.
  std::string key_scratch_;
  std::unordered_map<std::string, size_t> miss_index_;      // customer key -> miss_keys_ index
  std::vector<std::pair<int32_t, std::string>> miss_keys_;  // (partition, customer id)
  std::vector<std::optional<v1::CustomerState>> miss_found_;
  std::vector<state::CustomerCache::Entry*> miss_entries_;
  std::vector<Pending> pending_;
  size_t pending_count_ = 0;  // pending_[0, pending_count_) are live; the rest reused
  std::map<int32_t, PartitionState> partitions_;
  std::vector<state::CustomerCache::Entry*> dirty_;
  state::StateStore::Batch batch_a_, batch_b_;
  state::StateStore::Batch* building_ = &batch_a_;      // filled by the batch in hand
  state::StateStore::Batch* writing_ = &batch_b_;       // owned by writer_ while in flight
  std::vector<kafka::TopicPartition> writing_offsets_;  // checkpoints of the write in flight
  BatchWriter writer_;                                  // after the batches: joins before they go
  v1::HistoryEntry history_scratch_;
  bool dead_letters_in_flight_ = false;
  struct {
    uint64_t events = 0, duplicates = 0, customers = 0, dead = 0;
    uint64_t forwarded = 0, identity = 0, merged = 0;
    std::array<uint64_t, kEventTypeCount> events_by_type{}, duplicates_by_type{};
    uint64_t erasures = 0, erased_dropped = 0, refused = 0;
  } counts_;  // of the batch in hand
  // Dead letters of the batch in hand by reason (DeadLetter() counts them).
  std::array<uint64_t, kDeadLetterReasonCount> dead_by_reason_{};
  EngineObserver* observer_ = nullptr;
  std::vector<double> lateness_scratch_;  // timer lateness of the batch in hand
  // Erasures of the batch in hand and of the write in flight (not readable
  // from RocksDB yet): customer id -> erasure time.
  std::unordered_map<std::string, TimestampMs> erased_building_, erased_writing_;
  bool tombstones_ = false;  // any erasure stored: new customers check for one
  Status fatal_;

  std::atomic<int> assigned_{0};
  std::atomic<TimestampMs> latest_event_ms_{0};
  mutable std::mutex metrics_mu_;
  EngineMetrics metrics_;                 // guarded by metrics_mu_
  std::vector<double> batch_ms_ring_;     // guarded by metrics_mu_
  std::map<int32_t, int64_t> committed_;  // guarded by metrics_mu_
};

}  // namespace cairn::runtime
