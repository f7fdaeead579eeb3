#include "semantic/circuit_breaker.h"

#include <gtest/gtest.h>

namespace deja::semantic {
namespace {

using State = CircuitBreaker::State;

TEST(CircuitBreakerTest, OpensAfterConsecutiveFailuresOnly) {
  FakeClock clock;
  CircuitBreaker b({.failure_threshold = 3, .cooldown_ms = 1000}, &clock);
  EXPECT_EQ(b.state(), State::kClosed);
  // Two failures, then a success: the count starts over.
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(b.Allow());
    b.RecordFailure();
  }
  ASSERT_TRUE(b.Allow());
  b.RecordSuccess();
  EXPECT_EQ(b.counters().consecutive_failures, 0);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(b.Allow());
    b.RecordFailure();
  }
  EXPECT_EQ(b.state(), State::kClosed);
  ASSERT_TRUE(b.Allow());
  b.RecordFailure();
  EXPECT_EQ(b.state(), State::kOpen);
  const CircuitBreaker::Counters c = b.counters();
  EXPECT_EQ(c.failures, 5u);
  EXPECT_EQ(c.successes, 1u);
  EXPECT_EQ(c.opened, 1u);
  EXPECT_EQ(c.consecutive_failures, 3);
}

TEST(CircuitBreakerTest, OpenShortCircuitsUntilTheCooldownThenLetsOneProbe) {
  FakeClock clock;
  CircuitBreaker b({.failure_threshold = 1, .cooldown_ms = 1000}, &clock);
  ASSERT_TRUE(b.Allow());
  b.RecordFailure();
  ASSERT_EQ(b.state(), State::kOpen);
  EXPECT_EQ(b.RetryInMillis(), 1000);
  EXPECT_FALSE(b.Allow());
  clock.Advance(999);
  EXPECT_FALSE(b.Allow());
  EXPECT_EQ(b.RetryInMillis(), 1);
  EXPECT_EQ(b.counters().short_circuited, 2u);
  clock.Advance(1);
  EXPECT_TRUE(b.Allow());  // The probe.
  EXPECT_EQ(b.state(), State::kHalfOpen);
  EXPECT_FALSE(b.Allow());  // Others wait for the probe's outcome.
  EXPECT_FALSE(b.Allow());
  EXPECT_EQ(b.counters().short_circuited, 4u);
  b.RecordSuccess();
  EXPECT_EQ(b.state(), State::kClosed);
  EXPECT_EQ(b.RetryInMillis(), 0);
  EXPECT_TRUE(b.Allow());
  EXPECT_TRUE(b.Allow());
}

TEST(CircuitBreakerTest, FailedProbeReopensForAFullCooldown) {
  FakeClock clock;
  CircuitBreaker b({.failure_threshold = 2, .cooldown_ms = 500}, &clock);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(b.Allow());
    b.RecordFailure();
  }
  clock.Advance(500);
  ASSERT_TRUE(b.Allow());
  b.RecordFailure();  // One failure in half-open is enough to reopen.
  EXPECT_EQ(b.state(), State::kOpen);
  EXPECT_EQ(b.counters().opened, 2u);
  clock.Advance(499);
  EXPECT_FALSE(b.Allow());
  clock.Advance(1);
  EXPECT_TRUE(b.Allow());
  b.RecordSuccess();
  EXPECT_EQ(b.state(), State::kClosed);
}

TEST(CircuitBreakerTest, LostProbeIsReplacedAfterACooldown) {
  FakeClock clock;
  CircuitBreaker b({.failure_threshold = 1, .cooldown_ms = 100}, &clock);
  ASSERT_TRUE(b.Allow());
  b.RecordFailure();
  clock.Advance(100);
  ASSERT_TRUE(b.Allow());  // This probe never reports.
  clock.Advance(99);
  EXPECT_FALSE(b.Allow());
  clock.Advance(1);
  EXPECT_TRUE(b.Allow());  // A new probe.
  EXPECT_EQ(b.state(), State::kHalfOpen);
}

TEST(CircuitBreakerTest, ClampsOptionsAndNamesStates) {
  FakeClock clock;
  CircuitBreaker b({.failure_threshold = 0, .cooldown_ms = -5}, &clock);
  EXPECT_EQ(b.options().failure_threshold, 1);
  EXPECT_EQ(b.options().cooldown_ms, 0);
  ASSERT_TRUE(b.Allow());
  b.RecordFailure();
  EXPECT_EQ(b.state(), State::kOpen);
  EXPECT_TRUE(b.Allow());  // Zero cooldown: the next call probes at once.
  EXPECT_EQ(CircuitStateName(State::kClosed), "closed");
  EXPECT_EQ(CircuitStateName(State::kOpen), "open");
  EXPECT_EQ(CircuitStateName(State::kHalfOpen), "half-open");
}

}  // namespace
}  // namespace deja::semantic
