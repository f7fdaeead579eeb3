// Candidate pool for approximated eviction (the engine-side half of EvictionPolicy).
//
// Why sampling rather than an ordered index: an exact LRU/LFU index would be a third LMDB
// sub-database keyed by score that every hit flush must rewrite (delete old score key, insert new
// one), doubling the write amplification of the batched hit counters, and it would have to be
// rebuilt whenever the policy changes. Keys are BLAKE3 digests, so a run of consecutive keys
// starting at a random key is an unbiased random sample with respect to age and popularity. Like
// Redis's approximated LRU, the engine samples a bounded number of metadata records per eviction
// (never bodies), keeps the best (lowest-score) candidates seen so far in this pool, and evicts the
// lowest. Cost per eviction is O(samples * log n) page reads regardless of store size; quality is
// close to exact LRU in practice.
//
// Thread safety: none; owned by one Put under the store's write lock.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "deja/store.h"

namespace deja {

class EvictionPool {
 public:
  explicit EvictionPool(size_t capacity) : capacity_(capacity) {}

  // Considers `key` with `score`; keeps only the `capacity` lowest scores. A key already pooled is
  // not added twice.
  void Offer(const CacheKey& key, double score);
  struct Candidate {
    CacheKey key;
    double score;
  };
  // Removes and returns the lowest-score candidate, or nullopt when empty.
  std::optional<Candidate> PopLowest();
  // Forgets `key` (e.g. it was deleted by another path).
  void Remove(const CacheKey& key);
  size_t size() const { return candidates_.size(); }

 private:
  size_t capacity_;
  std::vector<Candidate> candidates_;  // sorted by ascending score
};

}  // namespace deja
