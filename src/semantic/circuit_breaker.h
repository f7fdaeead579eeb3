// CircuitBreaker: stops calling a dependency that keeps failing, and tries it again later.
//
//   closed ──N consecutive failures──> open ──cooldown passes──> half-open (one probe call)
//     ^                                  ^                              │
//     └──────────── probe succeeds ──────┼──────────────────────────────┘
//                                        └──────── probe fails ─────────┘
//
// While open, Allow() returns false at once: the caller fails fast (the remote embedder answers
// Unavailable and the cache falls back to exact-match lookups) instead of waiting out a timeout
// per request. The counters let the gateway report how often that happened.
//
//   CircuitBreaker breaker({.failure_threshold = 5, .cooldown_ms = 30000});
//   if (!breaker.Allow()) return UnavailableError("...");
//   Status s = CallTheDependency();
//   s.ok() ? breaker.RecordSuccess() : breaker.RecordFailure();
//
// Any recorded success closes the circuit (also one from a call let through before it opened: the
// dependency answered). A probe that never reports back (its caller crashed or forgot) does not
// wedge the breaker: after another cooldown in half-open, the next caller becomes the probe.
//
// Thread safety: every method may be called from any thread (one mutex; calls are short).
// The clock is not owned and must outlive the breaker.
#pragma once

#include <cstdint>
#include <mutex>
#include <string_view>

#include "deja/clock.h"

namespace deja::semantic {

struct CircuitBreakerOptions {
  int failure_threshold = 5;    // consecutive failures that open the circuit (>= 1)
  int64_t cooldown_ms = 30000;  // time open before a probe is let through (>= 0)
};

class CircuitBreaker {
 public:
  enum class State { kClosed, kOpen, kHalfOpen };

  struct Counters {
    State state = State::kClosed;
    int consecutive_failures = 0;
    uint64_t successes = 0;        // calls recorded as successful
    uint64_t failures = 0;         // calls recorded as failed
    uint64_t short_circuited = 0;  // calls refused by Allow() while open or probing
    uint64_t opened = 0;           // transitions into open
  };

  // `clock` defaults to the system clock. Options out of range are clamped (threshold to >= 1,
  // cooldown to >= 0).
  explicit CircuitBreaker(CircuitBreakerOptions options = {}, const Clock* clock = nullptr);

  // Whether a call may go ahead now. Closed: yes. Open: no (counted as short-circuited) until the
  // cooldown has passed; then this caller is the one probe (state half-open) and the rest are
  // refused until the probe reports.
  bool Allow();
  // Report the outcome of a call that Allow() let through.
  void RecordSuccess();
  void RecordFailure();

  State state() const;
  Counters counters() const;
  // Milliseconds until a probe will be allowed (0 when closed or when a probe may go now).
  int64_t RetryInMillis() const;
  const CircuitBreakerOptions& options() const { return options_; }

 private:
  void OpenLocked(int64_t now);

  const CircuitBreakerOptions options_;
  const Clock* const clock_;
  mutable std::mutex mu_;
  Counters counters_;
  int64_t opened_at_ = 0;      // when the circuit last opened
  int64_t probe_started_ = 0;  // when the current half-open probe was let through
};

// "closed", "open" or "half-open".
std::string_view CircuitStateName(CircuitBreaker::State state);

}  // namespace deja::semantic
