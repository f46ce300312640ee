// Prometheus metrics of one engine process, served as GET /metrics.
//
// Two kinds of values, both cheap for the ingest thread:
//  - counters and gauges are read at scrape time from snapshots the engine
//    already keeps (runtime::EngineMetrics, the dispatcher's lane counters,
//    consumer lag, RocksDB properties): nothing is done per event or batch;
//  - histograms (batch duration, RocksDB write duration, timer lateness) are
//    observed through runtime::EngineObserver, a few calls per batch.
// Label values are bounded sets (event types, dead-letter reasons, journey
// ids, connector names, partitions); never customer ids.
//
// Threading: the observer methods run on the ingest thread, Scrape() on the
// HTTP thread; both may run concurrently. Every source must be callable from
// any thread and must outlive the Metrics.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "api/http_server.h"
#include "dispatch/dispatcher.h"
#include "runtime/engine.h"

namespace cairn::metrics {

// The content type of the text exposition format.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

// Where scrape-time values come from. An unset source leaves its families out.
struct Sources {
  std::function<runtime::EngineMetrics()> engine;
  std::function<std::map<int32_t, int64_t>()> consumer_lag;  // -1 = unknown (skipped)
  std::function<uint64_t()> pending_timers;
  std::function<std::map<std::string, uint64_t>()> journey_counts;  // "journey/step/action"
  std::function<dispatch::DispatchMetrics()> dispatch;
  // RocksDB properties summed over the column families; nullopt = unknown.
  std::function<std::optional<uint64_t>(const std::string& property)> rocksdb_property;
};

class Metrics final : public runtime::EngineObserver {
 public:
  explicit Metrics(Sources sources);
  ~Metrics() override;
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // runtime::EngineObserver (ingest thread).
  void OnBatch(double seconds) override;
  void OnWrite(double seconds) override;
  void OnTimersFired(std::span<const double> lateness_seconds) override;

  // Every family in the Prometheus text format 0.0.4. Any thread.
  std::string Scrape() const;

  // GET /metrics, served by Scrape(). `this` must outlive the server.
  api::Route Route() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The sources of a running engine: its counters, lag, timers, journey counts
// and RocksDB size; `dispatcher` may be null. Both must outlive the Metrics.
Sources EngineSources(runtime::Engine* engine, state::StateStore* store,
                      dispatch::Dispatcher* dispatcher);

}  // namespace cairn::metrics
