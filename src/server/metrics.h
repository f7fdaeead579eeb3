// Gateway metrics, rendered in the Prometheus text format at GET /metrics.
//
// Thread safety: every method may be called concurrently; all updates are relaxed atomics (no locks
// on the request path).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "core/route.h"
#include "deja/gateway_options.h"
#include "deja/store.h"

namespace deja::server {

enum class Outcome { kHit, kMiss, kBypass, kRefresh, kError, kRejected, kProxied, kCount };
std::string_view OutcomeName(Outcome o);  // "hit", "miss", …

enum class ErrorKind {
  kStore,             // the store failed; the request was forwarded (fail open)
  kKey,               // normalization/keying failed; forwarded
  kUpstream,          // upstream unreachable or timed out
  kSingleFlightWait,  // a follower gave up waiting for its leader
  kConversion,        // a stored answer could not be converted to the asked form
  kEmbedder,          // the semantic tier's embedder failed; exact-only miss (fail open)
  kSemanticIndex,     // the semantic index failed; exact-only miss (fail open)
  kCount
};
std::string_view ErrorKindName(ErrorKind k);

// A fixed-bucket latency histogram in microseconds.
class LatencyHistogram {
 public:
  static constexpr std::array<int64_t, 16> kBoundsUs = {
      50,    100,   250,    500,    1000,    2500,    5000,     10000,
      25000, 50000, 100000, 250000, 1000000, 5000000, 30000000, 120000000};
  void Observe(int64_t micros);
  void Render(std::string_view name, std::string_view labels, std::string* out) const;

 private:
  std::array<std::atomic<int64_t>, kBoundsUs.size() + 1> buckets_{};
  std::atomic<int64_t> sum_us_{0};
  std::atomic<int64_t> count_{0};
};

// What `input_tokens` and `output_tokens` of `model` cost under `prices` (per million tokens; a
// "*" entry prices the models not listed); 0 when the model has no price.
double DollarsFor(const std::map<std::string, ModelPrice>& prices, std::string_view model,
                  int64_t input_tokens, int64_t output_tokens);

class Metrics {
 public:
  explicit Metrics(std::map<std::string, ModelPrice> prices) : prices_(std::move(prices)) {}

  void CountRequest(Route route, Outcome outcome);
  void CountError(ErrorKind kind);
  void ObserveHit(int64_t micros) { hit_latency_.Observe(micros); }
  void ObserveMiss(int64_t micros) { miss_latency_.Observe(micros); }
  void ObserveUpstream(int64_t micros) { upstream_latency_.Observe(micros); }
  void CountUpstreamStatus(int status);
  void CountStored(int64_t bytes);
  // A hit saved an upstream call of this many tokens for `model`.
  void CountSaved(std::string_view model, int64_t input_tokens, int64_t output_tokens);
  void CountSingleFlightFollower() { single_flight_followers_.fetch_add(1, kRelaxed); }

  int64_t requests(Route route, Outcome outcome) const;
  int64_t single_flight_followers() const { return single_flight_followers_.load(kRelaxed); }
  int64_t errors(ErrorKind kind) const;
  double dollars_saved() const;

  // Prometheus exposition; `store` (may be null) contributes entry and eviction gauges.
  std::string Render(const StoreStats* store) const;

 private:
  static constexpr auto kRelaxed = std::memory_order_relaxed;
  static constexpr size_t kRoutes = 6;
  static constexpr size_t kOutcomes = static_cast<size_t>(Outcome::kCount);

  std::map<std::string, ModelPrice> prices_;
  std::array<std::atomic<int64_t>, kRoutes * kOutcomes> requests_{};
  std::array<std::atomic<int64_t>, static_cast<size_t>(ErrorKind::kCount)> errors_{};
  std::array<std::atomic<int64_t>, 6> upstream_status_{};  // 1xx..5xx, other
  LatencyHistogram hit_latency_, miss_latency_, upstream_latency_;
  std::atomic<int64_t> bytes_stored_{0}, entries_stored_{0};
  std::atomic<int64_t> input_tokens_saved_{0}, output_tokens_saved_{0};
  std::atomic<int64_t> micro_dollars_saved_{0};
  std::atomic<int64_t> single_flight_followers_{0};
};

}  // namespace deja::server
