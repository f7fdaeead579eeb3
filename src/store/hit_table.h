// In-memory table of hits not yet written to the store.
//
// A cache read must not become a write transaction (LMDB allows one writer at a time and each
// commit fsyncs), so Get records its hit here and the store later folds the table into the meta
// records in one write transaction. The table is split into shards, each with its own mutex, so
// concurrent readers of different keys rarely contend.
//
// Thread safety: all methods are safe to call concurrently.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "deja/store.h"

namespace deja {

struct CacheKeyHash {
  size_t operator()(const CacheKey& k) const {
    size_t h;  // the key is already a uniform digest; any 8 bytes of it are a good hash
    std::memcpy(&h, k.bytes.data(), sizeof h);
    return h;
  }
};

class HitTable {
 public:
  struct Pending {
    int64_t count = 0;
    int64_t last_hit_ms = 0;
  };
  using Batch = std::vector<std::pair<CacheKey, Pending>>;

  // Records one hit at `now_ms`. Returns the key's pending totals including this hit; sets
  // `*total_hits` to the number of hits recorded since the last Drain (a flush trigger).
  Pending Add(const CacheKey& key, int64_t now_ms, int64_t* total_hits);
  // Pending totals for `key` (zero when none).
  Pending Peek(const CacheKey& key) const;
  // Drops pending hits of `key`, e.g. because the entry was replaced or deleted.
  void Erase(const CacheKey& key);
  // Removes and returns everything pending.
  Batch Drain();
  // Puts a drained batch back (after a failed flush), merging with hits recorded since.
  void Restore(const Batch& batch);

 private:
  static constexpr size_t kShards = 16;
  struct alignas(64) Shard {
    mutable std::mutex mu;
    std::unordered_map<CacheKey, Pending, CacheKeyHash> map;
  };
  Shard& ShardFor(const CacheKey& key) { return shards_[key.bytes[31] % kShards]; }
  const Shard& ShardFor(const CacheKey& key) const { return shards_[key.bytes[31] % kShards]; }

  std::array<Shard, kShards> shards_;
  std::atomic<int64_t> total_{0};
};

}  // namespace deja
