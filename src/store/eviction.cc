// Eviction policies (what to evict) and the sampling pool (how candidates are found).
#include "store/eviction.h"

#include <algorithm>
#include <string>

namespace deja {
namespace {

int64_t LastAccess(const EntryMeta& m) { return std::max(m.created_at_ms, m.last_hit_at_ms); }

// Least recently used: the entry whose last read (or write, if never read) is oldest goes first.
class LruPolicy final : public EvictionPolicy {
 public:
  std::string_view name() const override { return "lru"; }
  double Score(const EntryMeta& meta) const override {
    return static_cast<double>(LastAccess(meta));
  }
};

// Least frequently used: fewest hits goes first; among equal counts the least recent goes first.
// The recency tie-break is scaled into [0, 1): 1e14 ms is ~3000 years of epoch time.
class LfuPolicy final : public EvictionPolicy {
 public:
  std::string_view name() const override { return "lfu"; }
  double Score(const EntryMeta& meta) const override {
    double recency = static_cast<double>(std::max<int64_t>(LastAccess(meta), 0)) / 1e14;
    return static_cast<double>(meta.hit_count) + std::min(recency, 0.999999);
  }
};

}  // namespace

std::unique_ptr<EvictionPolicy> MakeLruPolicy() { return std::make_unique<LruPolicy>(); }
std::unique_ptr<EvictionPolicy> MakeLfuPolicy() { return std::make_unique<LfuPolicy>(); }

StatusOr<std::unique_ptr<EvictionPolicy>> MakeEvictionPolicy(std::string_view name) {
  if (name == "lru") return MakeLruPolicy();
  if (name == "lfu") return MakeLfuPolicy();
  return InvalidArgumentError("unknown eviction policy \"" + std::string(name) +
                              "\" (want \"lru\" or \"lfu\")");
}

void EvictionPool::Offer(const CacheKey& key, double score) {
  for (const Candidate& c : candidates_) {
    if (c.key == key) return;
  }
  if (candidates_.size() >= capacity_) {
    if (capacity_ == 0 || score >= candidates_.back().score) return;
    candidates_.pop_back();
  }
  auto pos = std::upper_bound(candidates_.begin(), candidates_.end(), score,
                              [](double s, const Candidate& c) { return s < c.score; });
  candidates_.insert(pos, Candidate{key, score});
}

std::optional<EvictionPool::Candidate> EvictionPool::PopLowest() {
  if (candidates_.empty()) return std::nullopt;
  Candidate c = candidates_.front();
  candidates_.erase(candidates_.begin());
  return c;
}

void EvictionPool::Remove(const CacheKey& key) {
  std::erase_if(candidates_, [&](const Candidate& c) { return c.key == key; });
}

}  // namespace deja
