// Writes one state::StateStore::Batch at a time on its own thread, so the
// ingest thread can poll, parse and fold the next batch meanwhile.
//
// Contract: at most one batch in flight. Submit() hands a batch over; the
// caller must not touch it until Wait() has returned. Batches are written in
// the order submitted, because the next Submit() waits for the previous one.
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>

#include "cairn/status.h"
#include "state/state_store.h"

namespace cairn::runtime {

class BatchWriter {
 public:
  explicit BatchWriter(state::StateStore* store);
  ~BatchWriter();  // waits for the batch in flight
  BatchWriter(const BatchWriter&) = delete;
  BatchWriter& operator=(const BatchWriter&) = delete;

  // Starts writing `batch`. Requires !in_flight().
  void Submit(state::StateStore::Batch* batch);
  // Blocks until the batch in flight is written; returns its status (OK when
  // nothing was in flight).
  Status Wait();
  bool in_flight() const { return in_flight_; }  // ingest thread only
  // How long the last finished write took (RocksDB Write), in seconds.
  // Ingest thread, after Wait().
  double last_write_seconds() const { return last_write_seconds_; }

 private:
  void Loop();

  state::StateStore* store_;
  bool in_flight_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  state::StateStore::Batch* job_ = nullptr;  // guarded by mu_
  bool done_ = false;                        // guarded by mu_
  bool quit_ = false;                        // guarded by mu_
  Status result_;                            // guarded by mu_
  double last_write_seconds_ = 0;            // guarded by mu_
  std::thread thread_;
};

}  // namespace cairn::runtime
