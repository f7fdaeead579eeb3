// Shadow mode's report: what a cache would have saved on real traffic, and how often it would have
// been wrong.
//
// Every observed request contributes one Observation: whether the cache would have answered it
// (and from which tier), and, for a would-be hit, whether the cached answer is equivalent to the
// fresh one the provider just gave (answer_compare.h, StructuredFingerprint). Savings (tokens,
// dollars from the price table, upstream latency) are credited only for equivalent would-be hits:
// a false hit saves nothing, it costs a wrong answer. Deterministic requests (temperature 0) are
// reported apart from the rest, whose answers may differ on every call even without a cache.
//
// The same report is produced live (`deja serve --mode shadow`, GET /deja/shadow) and offline
// (`deja analyze TRACE.jsonl`).
//
// Thread safety: Record and ToJson may be called concurrently (one mutex; a record is a few
// additions, far off any hot path since shadow mode already waits for the provider).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "core/json.h"
#include "core/route.h"
#include "deja/gateway_options.h"
#include "deja/status.h"

namespace deja::server {

enum class ShadowTier { kNone, kExact, kSemantic };

struct ShadowObservation {
  Route route = Route::kOther;
  std::string model;
  bool deterministic = false;  // temperature 0 was asked for
  ShadowTier would_be = ShadowTier::kNone;
  // For a would-be hit: whether the stored answer matched the fresh one. `comparable` is false when
  // either answer could not be fingerprinted (e.g. the fresh answer failed); such hits are counted
  // apart and credited nothing.
  bool comparable = false;
  bool equivalent = false;
  // The fresh answer's cost: what an equivalent hit would have saved.
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t upstream_latency_us = 0;
};

class ShadowReport {
 public:
  // `prices` as GatewayOptions::prices (by model, "*" for the rest).
  explicit ShadowReport(std::map<std::string, ModelPrice> prices);

  void Record(const ShadowObservation& o);

  // The report:
  //   {"requests": N, "would_be_hits": {"exact": n, "semantic": n},
  //    "false_hits": {"exact": n, "semantic": n},
  //    "false_hit_rate": {"exact": r, "semantic": r},        (false / comparable hits; 0 if none)
  //    "uncomparable_hits": n,
  //    "savings": {"requests": n, "input_tokens": n, "output_tokens": n, "dollars": d,
  //                "upstream_latency_ms": ms},
  //    "deterministic": {same fields for temperature-0 requests},
  //    "nondeterministic": {same fields for the rest},
  //    "by_model": {"gpt-4o": {"requests", "would_be_hits", "false_hits", "savings"}...},
  //    "caveats": ["...", ...]}
  json::Value ToJson() const;
  int64_t requests() const;

 private:
  struct Tally {
    int64_t requests = 0;
    int64_t hits[3] = {};        // by ShadowTier
    int64_t false_hits[3] = {};  // by ShadowTier
    int64_t comparable[3] = {};  // by ShadowTier
    int64_t uncomparable = 0;
    int64_t saved_requests = 0;
    int64_t saved_input_tokens = 0;
    int64_t saved_output_tokens = 0;
    double saved_dollars = 0;
    int64_t saved_latency_us = 0;
    void Add(const ShadowObservation& o, double dollars);
    json::Value ToJson(bool detailed) const;
  };

  const std::map<std::string, ModelPrice> prices_;
  mutable std::mutex mu_;
  Tally all_, deterministic_, nondeterministic_;
  std::map<std::string, Tally> by_model_;
};

// Writes report.ToJson() (pretty-printed) to `path` atomically: a temporary file beside it, synced,
// then renamed over it, so a reader never sees half a report.
Status WriteShadowReport(const ShadowReport& report, const std::string& path);

}  // namespace deja::server
