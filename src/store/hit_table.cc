#include "store/hit_table.h"

#include <algorithm>

namespace deja {

HitTable::Pending HitTable::Add(const CacheKey& key, int64_t now_ms, int64_t* total_hits) {
  Pending result;
  {
    Shard& s = ShardFor(key);
    std::lock_guard<std::mutex> lock(s.mu);
    Pending& p = s.map[key];
    p.count += 1;
    p.last_hit_ms = std::max(p.last_hit_ms, now_ms);
    result = p;
  }
  *total_hits = total_.fetch_add(1, std::memory_order_relaxed) + 1;
  return result;
}

HitTable::Pending HitTable::Peek(const CacheKey& key) const {
  const Shard& s = ShardFor(key);
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.map.find(key);
  return it == s.map.end() ? Pending{} : it->second;
}

void HitTable::Erase(const CacheKey& key) {
  Shard& s = ShardFor(key);
  std::lock_guard<std::mutex> lock(s.mu);
  s.map.erase(key);
}

HitTable::Batch HitTable::Drain() {
  total_.store(0, std::memory_order_relaxed);
  Batch out;
  for (Shard& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mu);
    out.insert(out.end(), s.map.begin(), s.map.end());
    s.map.clear();  // keeps the bucket array, so refilling after a flush does not rehash
  }
  return out;
}

void HitTable::Restore(const Batch& batch) {
  for (const auto& [key, pending] : batch) {
    Shard& s = ShardFor(key);
    std::lock_guard<std::mutex> lock(s.mu);
    Pending& p = s.map[key];
    p.count += pending.count;
    p.last_hit_ms = std::max(p.last_hit_ms, pending.last_hit_ms);
  }
  total_.fetch_add(static_cast<int64_t>(batch.size()), std::memory_order_relaxed);
}

}  // namespace deja
