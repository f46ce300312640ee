#include "metrics/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <utility>
#include <vector>

#include "ingest/event_parser.h"

namespace cairn::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily Family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

void Add(MetricFamily& f, double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f.type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
}

// Buckets in seconds.
const prometheus::Histogram::BucketBoundaries kBatchBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
const prometheus::Histogram::BucketBoundaries kWriteBuckets = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};
const prometheus::Histogram::BucketBoundaries kLatenessBuckets = {0.01, 0.05, 0.1, 0.5, 1,   5,
                                                                  10,   30,   60,  300, 900, 3600};

// The scrape-time families, built from the sources on each Collect().
class SnapshotCollector final : public prometheus::Collectable {
 public:
  explicit SnapshotCollector(const Sources* sources) : s_(sources) {}
  std::vector<MetricFamily> Collect() const override;

 private:
  void CollectEngine(std::vector<MetricFamily>& out) const;
  void CollectJourneys(std::vector<MetricFamily>& out) const;
  void CollectDispatch(std::vector<MetricFamily>& out) const;
  const Sources* s_;
};

std::vector<MetricFamily> SnapshotCollector::Collect() const {
  std::vector<MetricFamily> out;
  if (s_->engine) CollectEngine(out);
  if (s_->consumer_lag) {
    auto f = Family("cairn_consumer_lag_messages",
                    "Messages behind per partition of the events topic: high watermark minus the "
                    "next offset of the last RocksDB write.",
                    MetricType::Gauge);
    for (const auto& [partition, lag] : s_->consumer_lag()) {
      if (lag >= 0) Add(f, static_cast<double>(lag), {{"partition", std::to_string(partition)}});
    }
    out.push_back(std::move(f));
  }
  if (s_->pending_timers) {
    auto f = Family("cairn_timers_pending", "Timers waiting in RocksDB on the owned partitions.",
                    MetricType::Gauge);
    Add(f, static_cast<double>(s_->pending_timers()));
    out.push_back(std::move(f));
  }
  if (s_->rocksdb_property) {
    auto size = Family("cairn_rocksdb_size_bytes",
                       "Size of the RocksDB SST files (rocksdb.total-sst-files-size, all column "
                       "families).",
                       MetricType::Gauge);
    if (auto v = s_->rocksdb_property("rocksdb.total-sst-files-size")) {
      Add(size, static_cast<double>(*v));
    }
    out.push_back(std::move(size));
    auto live = Family("cairn_rocksdb_live_size_bytes",
                       "Size of the SST files of the current version "
                       "(rocksdb.live-sst-files-size): what a checkpoint copies.",
                       MetricType::Gauge);
    if (auto v = s_->rocksdb_property("rocksdb.live-sst-files-size")) {
      Add(live, static_cast<double>(*v));
    }
    out.push_back(std::move(live));
    auto mem = Family("cairn_rocksdb_memtable_bytes",
                      "Memory of the RocksDB memtables (rocksdb.cur-size-all-mem-tables).",
                      MetricType::Gauge);
    if (auto v = s_->rocksdb_property("rocksdb.cur-size-all-mem-tables")) {
      Add(mem, static_cast<double>(*v));
    }
    out.push_back(std::move(mem));
  }
  if (s_->journey_counts) CollectJourneys(out);
  if (s_->dispatch) CollectDispatch(out);
  return out;
}

void SnapshotCollector::CollectEngine(std::vector<MetricFamily>& out) const {
  const runtime::EngineMetrics m = s_->engine();
  auto counter = [&out](const char* name, const char* help, uint64_t v) {
    auto f = Family(name, help, MetricType::Counter);
    Add(f, static_cast<double>(v));
    out.push_back(std::move(f));
  };
  auto gauge = [&out](const char* name, const char* help, double v) {
    auto f = Family(name, help, MetricType::Gauge);
    Add(f, v);
    out.push_back(std::move(f));
  };
  counter("cairn_messages_total", "Messages consumed from the events topic and written.",
          m.messages);
  auto events =
      Family("cairn_events_total",
             "Events by type and outcome: applied to state, dropped as a duplicate (messageId "
             "window), or sent to the dead-letter topic (type \"unknown\": not parsed).",
             MetricType::Counter);
  for (size_t i = 0; i < runtime::kEventTypeCount; ++i) {
    const std::string type(EventTypeName(static_cast<EventType>(i)));
    Add(events, static_cast<double>(m.events_by_type[i]), {{"outcome", "applied"}, {"type", type}});
    Add(events, static_cast<double>(m.duplicates_by_type[i]),
        {{"outcome", "duplicate"}, {"type", type}});
  }
  Add(events, static_cast<double>(m.dead_letters),
      {{"outcome", "dead_letter"}, {"type", "unknown"}});
  out.push_back(std::move(events));
  auto dlq = Family("cairn_dead_letters_total",
                    "Messages sent to the dead-letter topic, by reason (the cairn.dlq.reason "
                    "header).",
                    MetricType::Counter);
  for (size_t i = 0; i < runtime::kDeadLetterReasonCount; ++i) {
    Add(dlq, static_cast<double>(m.dead_letters_by_reason[i]),
        {{"reason",
          std::string(ingest::DeadLetterReasonName(static_cast<ingest::DeadLetterReason>(i)))}});
  }
  out.push_back(std::move(dlq));
  counter("cairn_consumer_errors_total", "Errors reported by the Kafka consumer.",
          m.consumer_errors);
  counter("cairn_customers_created_total", "Customers seen for the first time.",
          m.customers_created);
  counter("cairn_timers_fired_total", "Timers fired (waits, timeouts, goal deadlines).",
          m.timers_fired);
  counter("cairn_identity_forwarded_total",
          "Events re-keyed to the customer their id was merged into (identity resolution).",
          m.forwarded);
  counter("cairn_identity_records_total", "Internal identity records applied (link, claim, merge).",
          m.identity_records);
  counter("cairn_identity_merged_total", "Customers merged into another customer.", m.merged_away);
  counter("cairn_outbox_published_total",
          "Outbox records produced (tasks and emitted events) and acknowledged by the broker.",
          m.tasks_published);
  gauge("cairn_outbox_depth", "Outbox records written but not yet acknowledged by the broker.",
        static_cast<double>(m.outbox_unacked));
  gauge("cairn_partitions_assigned", "Partitions of the events topic assigned to this instance.",
        m.assigned_partitions);
  gauge("cairn_cached_customers", "Customer records held in the in-memory cache.",
        static_cast<double>(m.cached_customers));
  auto gov = Family("cairn_governance_non_sends_total",
                    "Sends deferred or skipped by governance (frequency caps, quiet hours, "
                    "consent...), by reason.",
                    MetricType::Counter);
  for (const auto& [reason, n] : m.governance) {
    Add(gov, static_cast<double>(n), {{"reason", reason}});
  }
  out.push_back(std::move(gov));
}

void SnapshotCollector::CollectJourneys(std::vector<MetricFamily>& out) const {
  // Trace counts are keyed "journey/step/action"; sum the steps per journey.
  std::map<std::string, uint64_t> entries, exits, goals;
  for (const auto& [key, n] : s_->journey_counts()) {
    const auto first = key.find('/');
    const auto last = key.rfind('/');
    if (first == std::string::npos || last == first) continue;
    const std::string journey = key.substr(0, first);
    const std::string_view action = std::string_view(key).substr(last + 1);
    if (action == "enter") entries[journey] += n;
    if (action == "exit") exits[journey] += n;
    if (action == "goal") goals[journey] += n;
  }
  auto family = [&out](const char* name, const char* help,
                       const std::map<std::string, uint64_t>& counts) {
    auto f = Family(name, help, MetricType::Counter);
    for (const auto& [journey, n] : counts) Add(f, static_cast<double>(n), {{"journey", journey}});
    out.push_back(std::move(f));
  };
  family("cairn_journey_entries_total", "Customers who entered a journey.", entries);
  family("cairn_journey_exits_total", "Customers who left a journey (any reason).", exits);
  family("cairn_journey_goals_total", "Customers who reached a journey's goal.", goals);
}

void SnapshotCollector::CollectDispatch(std::vector<MetricFamily>& out) const {
  const dispatch::DispatchMetrics d = s_->dispatch();
  auto sends = Family("cairn_sends_total",
                      "Send tasks that reached an end, by connector instance, the journey "
                      "step's channel, and result.",
                      MetricType::Counter);
  auto attempts =
      Family("cairn_send_attempts_total", "Send attempts (retries included).", MetricType::Counter);
  auto queued =
      Family("cairn_send_queue_depth", "Send tasks waiting in memory or being sent, by connector.",
             MetricType::Gauge);
  for (const auto& l : d.lanes) {
    for (const auto& [channel, counts] : l.ended_by_channel) {
      for (size_t i = 0; i < dispatch::kEndResults.size(); ++i) {
        Add(sends, static_cast<double>(counts[i]),
            {{"connector", l.connector},
             {"channel", channel},
             {"result", dispatch::kEndResults[i]}});
      }
    }
    Add(attempts, static_cast<double>(l.attempts), {{"connector", l.connector}});
    Add(queued, static_cast<double>(l.queued + l.in_flight), {{"connector", l.connector}});
  }
  out.push_back(std::move(sends));
  out.push_back(std::move(attempts));
  out.push_back(std::move(queued));
}

}  // namespace

struct Metrics::Impl {
  explicit Impl(Sources s) : sources(std::move(s)), snapshot(&sources) {}
  Sources sources;
  SnapshotCollector snapshot;
  prometheus::Registry registry;
  prometheus::Histogram* batch = nullptr;
  prometheus::Histogram* write = nullptr;
  prometheus::Histogram* lateness = nullptr;
};

Metrics::Metrics(Sources sources) : impl_(std::make_unique<Impl>(std::move(sources))) {
  impl_->batch = &prometheus::BuildHistogram()
                      .Name("cairn_batch_duration_seconds")
                      .Help("Time to process one batch: parse, load, fold, hand the write over.")
                      .Register(impl_->registry)
                      .Add({}, kBatchBuckets);
  impl_->write = &prometheus::BuildHistogram()
                      .Name("cairn_rocksdb_write_duration_seconds")
                      .Help("Time of one RocksDB WriteBatch (state, history, checkpoints).")
                      .Register(impl_->registry)
                      .Add({}, kWriteBuckets);
  impl_->lateness = &prometheus::BuildHistogram()
                         .Name("cairn_timer_lateness_seconds")
                         .Help("How late a timer fired after its due time (wall clock).")
                         .Register(impl_->registry)
                         .Add({}, kLatenessBuckets);
}

Metrics::~Metrics() = default;

void Metrics::OnBatch(double seconds) { impl_->batch->Observe(seconds); }

void Metrics::OnWrite(double seconds) { impl_->write->Observe(seconds); }

void Metrics::OnTimersFired(std::span<const double> lateness_seconds) {
  for (double s : lateness_seconds) impl_->lateness->Observe(s);
}

std::string Metrics::Scrape() const {
  std::vector<MetricFamily> families = impl_->snapshot.Collect();
  auto histograms = impl_->registry.Collect();
  families.insert(families.end(), std::make_move_iterator(histograms.begin()),
                  std::make_move_iterator(histograms.end()));
  return prometheus::TextSerializer().Serialize(families);
}

api::Route Metrics::Route() const {
  return {"GET", {"metrics"}, [this](const api::HttpRequest&) {
            api::HttpResponse r;
            r.status = 200;
            r.content_type = std::string(kContentType);
            r.body = Scrape();
            return r;
          }};
}

Sources EngineSources(runtime::Engine* engine, state::StateStore* store,
                      dispatch::Dispatcher* dispatcher) {
  Sources s;
  s.engine = [engine] { return engine->metrics(); };
  s.consumer_lag = [engine] { return engine->ConsumerLag(); };
  s.pending_timers = [engine] { return engine->PendingTimers(); };
  s.journey_counts = [engine] { return engine->journey_counts(); };
  if (dispatcher != nullptr) s.dispatch = [dispatcher] { return dispatcher->metrics(); };
  s.rocksdb_property = [store](const std::string& property) -> std::optional<uint64_t> {
    uint64_t v = 0;
    if (!store->db()->GetAggregatedIntProperty(property, &v)) return std::nullopt;
    return v;
  };
  return s;
}

}  // namespace cairn::metrics
