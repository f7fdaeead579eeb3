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

// Cost-aware hyperbolic caching (Blankstein et al., "Hyperbolic Caching: Flexible Caching for Web
// Applications", USENIX ATC 2017): an entry's priority is its request rate since it entered the
// cache, (hits + 1) / age, so a young entry is not judged by a count it had no time to earn and an
// old entry's past popularity fades; weighted, as the paper's cost-aware variant, by what a miss
// would cost and how much room the entry takes: (hits + 1) / age * cost / size. An answer that
// was expensive to get, is asked for often and is small stays; a cheap, large, rarely asked one
// goes first.
class CostPolicy final : public EvictionPolicy {
 public:
  explicit CostPolicy(const Clock* clock) : clock_(clock != nullptr ? clock : SystemClock()) {}
  std::string_view name() const override { return "cost"; }
  double Score(const EntryMeta& meta) const override {
    // Age in seconds, at least one millisecond (an entry written "now" is not infinitely hot).
    const double age_s =
        static_cast<double>(std::max<int64_t>(clock_->NowMillis() - meta.created_at_ms, 1)) / 1e3;
    const double size = static_cast<double>(std::max<int64_t>(meta.size_bytes, 1));
    return static_cast<double>(std::max<int64_t>(meta.hit_count, 0) + 1) / age_s *
           RecomputeCost(meta) / size;
  }

  // What a miss would cost, in input-token equivalents. Output tokens are weighted 4x: OpenAI's and
  // Anthropic's list prices put an output token at about 4-5x an input token (e.g. $2.50 vs $10
  // per million for gpt-4o, $3 vs $15 for Claude Sonnet), and output is also what takes time to
  // generate. Without token counts (an upstream that reports no usage) the upstream latency
  // stands in: decoding runs at roughly 50 tokens/s, i.e. ~20 ms per output token = 4 input-token
  // equivalents, so 5 ms of latency counts as one. Never below 1.
  static double RecomputeCost(const EntryMeta& meta) {
    const int64_t in = std::max<int64_t>(meta.input_tokens, 0);
    const int64_t out = std::max<int64_t>(meta.output_tokens, 0);
    double cost = static_cast<double>(in) + 4.0 * static_cast<double>(out);
    if (cost <= 0) cost = static_cast<double>(std::max<int64_t>(meta.upstream_latency_us, 0)) / 5e3;
    return std::max(cost, 1.0);
  }

 private:
  const Clock* clock_;
};

}  // namespace

std::unique_ptr<EvictionPolicy> MakeLruPolicy() { return std::make_unique<LruPolicy>(); }
std::unique_ptr<EvictionPolicy> MakeLfuPolicy() { return std::make_unique<LfuPolicy>(); }
std::unique_ptr<EvictionPolicy> MakeCostPolicy(const Clock* clock) {
  return std::make_unique<CostPolicy>(clock);
}

StatusOr<std::unique_ptr<EvictionPolicy>> MakeEvictionPolicy(std::string_view name,
                                                             const Clock* clock) {
  if (name == "lru") return MakeLruPolicy();
  if (name == "lfu") return MakeLfuPolicy();
  if (name == "cost") return MakeCostPolicy(clock);
  return InvalidArgumentError("unknown eviction policy \"" + std::string(name) +
                              "\" (want \"lru\", \"lfu\" or \"cost\")");
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
