// Counters of the semantic tier (gateway_semantic.cc), rendered after the gateway's own metrics at
// GET /metrics and as the "semantic" object of GET /deja/stats.
//
// Thread safety: every method may be called concurrently (relaxed atomics).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "core/json.h"
#include "deja/store.h"
#include "server/metrics.h"

namespace deja::server {

// Point-in-time figures of the index, read when rendering.
struct SemanticGauges {
  int64_t entries = 0;
  int64_t partitions = 0;
  int64_t orphans = 0;  // rebuilt entries whose tenant is not yet proven
  // Partitions that could not switch from flat to the large index (they stay flat: exact, slower).
  int64_t large_index_failures = 0;
};

class SemanticMetrics {
 public:
  enum Counter {
    kLookups,          // requests the semantic tier looked up
    kHits,             // answered from a semantically matched entry
    kTemplateFills,    // of which answered with slot values filled in
    kGuardRejections,  // near matches turned into misses by a guard (and no template)
    kExplorations,     // would-be hits forwarded upstream to verify (vCache)
    kCorrect,          // verifications: the cached answer matched the fresh one
    kWrong,            // verifications: it did not (a false hit avoided)
    kUncomparable,     // verifications that could not compare the answers
    kAuditCorrect,     // of the verifications, audits (confident hits verified anyway): correct
    kAuditWrong,       // audits that found the confident answer wrong
    kAdmitted,         // entries added to the index
    kNotAdmitted,      // refused by the quality filter, the admission score or as near-duplicate
    kStaleRemoved,     // index entries dropped because the store no longer had them
    kAdopted,          // rebuilt entries proven to belong to a tenant
    kCount
  };
  void Count(Counter c) { counters_[c].fetch_add(1, std::memory_order_relaxed); }
  int64_t Get(Counter c) const { return counters_[c].load(std::memory_order_relaxed); }
  void ObserveEmbed(int64_t micros) { embed_latency_.Observe(micros); }
  // Index entries dropped at once because the store told us they left it (StoreRemovalListener).
  void CountRemoved(RemovalCause cause, int64_t n) {
    removed_[static_cast<size_t>(cause)].fetch_add(n, std::memory_order_relaxed);
  }
  int64_t Removed(RemovalCause cause) const {
    return removed_[static_cast<size_t>(cause)].load(std::memory_order_relaxed);
  }
  // wrong / (correct + wrong), 0 when nothing was verified. Most verifications are of matches not
  // yet trusted, so this is the rate of wrong answers the verification kept from clients.
  double ObservedFalseHitRate() const;
  // Audits' wrong / all audits, 0 without audits: an unbiased estimate of how often a served
  // semantic answer is wrong (audits sample the confident would-be hits at random).
  double AuditedFalseHitRate() const;

  void Render(const SemanticGauges& gauges, std::string* out) const;
  json::Value ToJson(const SemanticGauges& gauges) const;

 private:
  std::atomic<int64_t> counters_[kCount] = {};
  std::atomic<int64_t> removed_[4] = {};  // by RemovalCause
  LatencyHistogram embed_latency_;
};

}  // namespace deja::server
