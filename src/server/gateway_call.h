// Gateway::Call: the state of one request as it moves through the gateway (private to
// gateway_*.cc).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

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
  bool keyed = false;                      // `key` is valid and the answer may be stored
  std::string_view cache_header = "miss";  // X-Deja-Cache on a forwarded answer
  Outcome outcome = Outcome::kMiss;
  int64_t start_us = 0;
  int64_t upstream_us = 0;
};

// "text/event-stream" responses are streams.
bool IsEventStream(std::string_view content_type);

}  // namespace deja::server
