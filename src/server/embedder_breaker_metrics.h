// The remote embedder's circuit breaker (semantic/circuit_breaker.h) on GET /metrics and in the
// "semantic" object of GET /deja/stats. Embedders without a breaker (every in-process one) add
// nothing; the gateway asks through Embedder::BreakerCounters, so it needs no knowledge of which
// embedder it has.
//
//   deja_semantic_embedder_breaker_open                      gauge: 1 while calls are refused
//                                                            (open, or half-open with its probe
//                                                            out), else 0
//   deja_semantic_embedder_breaker_state{state="closed"|"open"|"half-open"}   gauge: 1 for the
//                                                            current state
//   deja_semantic_embedder_breaker_trips_total               counter: times the circuit opened
//   deja_semantic_embedder_short_circuited_total             counter: calls refused at once
//
//   "embedder_breaker": {"state": "closed", "open": false, "trips": 0, "short_circuited": 0,
//                        "consecutive_failures": 0, "failures": 0, "successes": 0}
//
// Thread safety: pure functions over a counters snapshot; safe to call concurrently.
#pragma once

#include <string>

#include "core/json.h"
#include "semantic/embedder.h"

namespace deja::server {

// Appends the breaker's Prometheus lines to *out when `embedder` has a breaker.
void RenderEmbedderBreaker(const semantic::Embedder& embedder, std::string* out);

// Sets "embedder_breaker" on the JSON object *semantic_stats when `embedder` has a breaker.
void AddEmbedderBreakerJson(const semantic::Embedder& embedder, json::Value* semantic_stats);

}  // namespace deja::server
