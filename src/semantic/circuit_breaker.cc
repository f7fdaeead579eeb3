#include "semantic/circuit_breaker.h"

#include <algorithm>

namespace deja::semantic {

CircuitBreaker::CircuitBreaker(CircuitBreakerOptions options, const Clock* clock)
    : options_{std::max(1, options.failure_threshold), std::max<int64_t>(0, options.cooldown_ms)},
      clock_(clock != nullptr ? clock : SystemClock()) {}

bool CircuitBreaker::Allow() {
  std::lock_guard<std::mutex> lock(mu_);
  switch (counters_.state) {
    case State::kClosed:
      return true;
    case State::kOpen: {
      const int64_t now = clock_->NowMillis();
      if (now - opened_at_ >= options_.cooldown_ms) {
        counters_.state = State::kHalfOpen;
        probe_started_ = now;
        return true;
      }
      break;
    }
    case State::kHalfOpen: {
      // A probe is in flight. If it has not reported within a cooldown, assume it never will.
      const int64_t now = clock_->NowMillis();
      if (now - probe_started_ >= std::max<int64_t>(options_.cooldown_ms, 1)) {
        probe_started_ = now;
        return true;
      }
      break;
    }
  }
  ++counters_.short_circuited;
  return false;
}

void CircuitBreaker::RecordSuccess() {
  std::lock_guard<std::mutex> lock(mu_);
  ++counters_.successes;
  counters_.consecutive_failures = 0;
  counters_.state = State::kClosed;
}

void CircuitBreaker::RecordFailure() {
  std::lock_guard<std::mutex> lock(mu_);
  ++counters_.failures;
  ++counters_.consecutive_failures;
  const int64_t now = clock_->NowMillis();
  switch (counters_.state) {
    case State::kClosed:
      if (counters_.consecutive_failures >= options_.failure_threshold) OpenLocked(now);
      break;
    case State::kHalfOpen:
      OpenLocked(now);  // The probe failed: another full cooldown.
      break;
    case State::kOpen:
      break;  // A call let through before the circuit opened; the cooldown keeps running.
  }
}

void CircuitBreaker::OpenLocked(int64_t now) {
  counters_.state = State::kOpen;
  opened_at_ = now;
  ++counters_.opened;
}

CircuitBreaker::State CircuitBreaker::state() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counters_.state;
}

CircuitBreaker::Counters CircuitBreaker::counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counters_;
}

int64_t CircuitBreaker::RetryInMillis() const {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = clock_->NowMillis();
  int64_t since = 0;
  if (counters_.state == State::kOpen) since = opened_at_;
  if (counters_.state == State::kHalfOpen) since = probe_started_;
  if (counters_.state == State::kClosed) return 0;
  return std::max<int64_t>(0, options_.cooldown_ms - (now - since));
}

std::string_view CircuitStateName(CircuitBreaker::State state) {
  switch (state) {
    case CircuitBreaker::State::kClosed:
      return "closed";
    case CircuitBreaker::State::kOpen:
      return "open";
    case CircuitBreaker::State::kHalfOpen:
      return "half-open";
  }
  return "unknown";
}

}  // namespace deja::semantic
