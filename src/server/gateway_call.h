// Gateway::Call: the state of one request as it moves through the gateway (private to
// gateway_*.cc).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "semantic/semantic_cache.h"
#include "server/gateway.h"

namespace deja::server {

inline int64_t SteadyMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Gateway::Call {
  HttpRequest http;
  std::shared_ptr<ResponseWriter> writer;
  Route route = Route::kOther;
  Provider provider = Provider::kOpenAI;
  RequestControls controls;
  NormalizedRequest normalized;
  CacheKey key;
  std::string key_hex;                     // key.Hex(), formatted once for headers and the log
  bool keyed = false;                      // `key` is valid and the answer may be stored
  std::string_view cache_header = "miss";  // X-Deja-Cache on a forwarded answer
  Outcome outcome = Outcome::kMiss;
  int64_t start_us = 0;
  int64_t upstream_us = 0;
  // Shadow mode: the tier that would have answered, the answer it would have given, and whether
  // the request asked for temperature 0.
  ShadowTier shadow_tier = ShadowTier::kNone;
  std::optional<CachedResponse> shadow_stored;
  bool deterministic = false;
  TenantScope scope;  // the caller's (set with `key`)
  // Semantic tier: the request's split query and embedding (set when it was looked up), and for an
  // explored would-be hit, what to verify the fresh answer against.
  std::optional<semantic::PreparedQuery> semantic_query;
  struct SemanticVerify {
    CacheKey key;
    float similarity = 0;
    CachedResponse expected;
    bool audit = false;  // a confident match verified anyway (vcache_policy.h audit_rate)
    // Set when the fresh answer was stored (its admission cost in tokens): if the verification
    // finds the match wrong, this question's own answer joins the index (AdmitSemantic runs first).
    std::optional<double> stored_cost;
  };
  std::optional<SemanticVerify> semantic_verify;
};

// "text/event-stream" responses are streams.
bool IsEventStream(std::string_view content_type);

}  // namespace deja::server
