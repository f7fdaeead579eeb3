// Clock: an injectable source of wall time, so TTL, expiry and ages are testable without sleeping.
//
// Thread safety: implementations must be safe to call from any thread.
#pragma once

#include <atomic>
#include <cstdint>

namespace deja {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch.
  virtual int64_t NowMillis() const = 0;
};

// The real wall clock. Process-wide singleton; never destroyed.
const Clock* SystemClock();

// A clock that only moves when told to. For tests.
class FakeClock : public Clock {
 public:
  explicit FakeClock(int64_t start_millis = 1'700'000'000'000) : now_(start_millis) {}
  int64_t NowMillis() const override { return now_.load(std::memory_order_relaxed); }
  void Advance(int64_t millis) { now_.fetch_add(millis, std::memory_order_relaxed); }
  void Set(int64_t millis) { now_.store(millis, std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace deja
