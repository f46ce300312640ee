// Injected time. Production follows the wall clock; simulate, replay and tests
// follow a clock they set, so nothing ever sleeps to wait for time to pass.
// Implementations are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace cairn {

// Milliseconds since the Unix epoch, UTC.
using TimestampMs = int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimestampMs NowMs() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimestampMs NowMs() const override {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  }
  // The process-wide instance.
  static const SystemClock& Instance() {
    static const SystemClock kClock;
    return kClock;
  }
};

// A clock that moves only when told to.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimestampMs start = 0) : now_(start) {}
  TimestampMs NowMs() const override { return now_.load(std::memory_order_relaxed); }
  void Set(TimestampMs t) { now_.store(t, std::memory_order_relaxed); }
  void Advance(TimestampMs by) { now_.fetch_add(by, std::memory_order_relaxed); }

 private:
  std::atomic<TimestampMs> now_;
};

}  // namespace cairn
