// The cache store: where entries live. One interface, several engines (LMDB embedded by default;
// Redis and PostgreSQL for shared deployments).
//
//   StoreOptions opts; opts.data_dir = "./deja-data";
//   StatusOr<std::unique_ptr<Store>> store = OpenLmdbStore(opts);
//   Entry e = ...; (*store)->Put(e);
//   StatusOr<Entry> hit = (*store)->Get(key);   // NotFound on a miss or an expired entry
//
// Thread safety: every Store method is safe to call concurrently from many threads.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "deja/clock.h"
#include "deja/status.h"

namespace deja {

// A 32-byte BLAKE3 digest naming an entry.
struct CacheKey {
  std::array<uint8_t, 32> bytes{};

  std::string Hex() const;  // 64 lowercase hex digits
  static StatusOr<CacheKey> FromHex(std::string_view hex);
  std::string_view View() const {
    return std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  friend bool operator==(const CacheKey& a, const CacheKey& b) { return a.bytes == b.bytes; }
  friend bool operator<(const CacheKey& a, const CacheKey& b) { return a.bytes < b.bytes; }
};

// One server-sent event of a streamed answer, as it came from upstream.
struct StreamEvent {
  std::string event;  // the `event:` field; empty when absent (OpenAI)
  std::string data;   // the `data:` payload (joined lines)
  friend bool operator==(const StreamEvent&, const StreamEvent&) = default;
};

struct CachedResponse {
  int status = 200;
  std::string content_type;  // e.g. "application/json"
  std::string body;          // non-stream answer; empty when `streamed`
  bool streamed = false;
  std::vector<StreamEvent> events;  // ordered events of a streamed answer
  friend bool operator==(const CachedResponse&, const CachedResponse&) = default;
};

struct EntryMeta {
  int64_t created_at_ms = 0;
  int64_t expires_at_ms = 0;  // 0: never expires
  int64_t hit_count = 0;
  int64_t last_hit_at_ms = 0;
  std::string model;
  std::string route;       // e.g. "/v1/chat/completions"
  std::string name_space;  // partition given by X-Deja-Namespace ("" = default)
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t upstream_latency_us = 0;
  int64_t size_bytes = 0;  // encoded size of the whole entry; set by the store on Put
  friend bool operator==(const EntryMeta&, const EntryMeta&) = default;
};

struct Entry {
  CacheKey key;
  std::string canonical_request;  // normalized canonical JSON the key was computed from
  CachedResponse response;
  EntryMeta meta;
  friend bool operator==(const Entry&, const Entry&) = default;
};

struct StoreStats {
  int64_t entries = 0;
  int64_t bytes = 0;           // sum of entries' size_bytes
  int64_t capacity_bytes = 0;  // size cap (0 = none)
  int64_t evictions = 0;       // since open
  int64_t expirations = 0;     // since open
  int64_t map_size_bytes = 0;  // engine-specific: LMDB map size
  int64_t map_used_bytes = 0;
};

// Chooses what to evict when the store is over its size cap. Implementations: LRU (default), LFU,
// cost (hyperbolic caching weighted by recompute cost and size; see MakeCostPolicy).
// Thread safety: called under the store's write lock; need not be thread-safe.
class EvictionPolicy {
 public:
  virtual ~EvictionPolicy() = default;
  virtual std::string_view name() const = 0;
  // Lower score = evicted first.
  virtual double Score(const EntryMeta& meta) const = 0;
};
std::unique_ptr<EvictionPolicy> MakeLruPolicy();
std::unique_ptr<EvictionPolicy> MakeLfuPolicy();
// Hyperbolic caching (Blankstein et al., USENIX ATC 2017) weighted by cost and size:
//   score = (hit_count + 1) / age_since_created * cost / size_bytes
// where cost is what a miss would cost to recompute (input_tokens + 4 * output_tokens, else
// derived from the upstream latency). `clock` (nullptr: SystemClock()) gives the age; it must
// outlive the policy.
std::unique_ptr<EvictionPolicy> MakeCostPolicy(const Clock* clock = nullptr);
// "lru", "lfu" or "cost" (which reads `clock`, nullptr: SystemClock()); InvalidArgument otherwise.
StatusOr<std::unique_ptr<EvictionPolicy>> MakeEvictionPolicy(std::string_view name,
                                                             const Clock* clock = nullptr);

// Why entries left a store (StoreRemovalListener).
enum class RemovalCause {
  kDeleted,  // Delete
  kPurged,   // Purge
  kExpired,  // SweepExpired, or an expired entry dropped to make room
  kEvicted,  // dropped to stay under the size cap
};
// "deleted", "purged", "expired", "evicted".
std::string_view RemovalCauseName(RemovalCause cause);

// Told when entries leave the store, e.g. so an index built over the store (the semantic index)
// can drop them at once. The store calls OnRemoved after the removal is committed (durable), on
// the thread that removed them, outside its write lock; never for a Put that replaces an entry
// under the same key. Only removals made through this Store object are heard (not those of
// another process sharing the data directory), and Get does not remove expired entries (they stay
// until SweepExpired, eviction or a purge). A notification may arrive after a later Put of the same
// key has re-added it, so a listener should treat it as "was removed", not "is absent".
// Thread safety: OnRemoved may be called concurrently from many threads. It must not remove
// entries from the same store (no re-entrant notifications).
class StoreRemovalListener {
 public:
  virtual ~StoreRemovalListener() = default;
  virtual void OnRemoved(std::span<const CacheKey> keys, RemovalCause cause) = 0;
};

// A listener that forwards to a target attached later: a store takes its listener when it opens,
// but what listens (e.g. the gateway's semantic index) is often built over the open store.
// Removals before a target is attached, or after it is detached, are dropped.
// Thread safety: all methods may be called concurrently. SetTarget returns only once no call to the
// previous target is running, so a target may be destroyed right after it is detached.
class StoreRemovalRelay final : public StoreRemovalListener {
 public:
  void OnRemoved(std::span<const CacheKey> keys, RemovalCause cause) override;
  // Borrows `target` (nullptr detaches) until replaced or detached.
  void SetTarget(StoreRemovalListener* target);

 private:
  std::shared_mutex mu_;
  StoreRemovalListener* target_ = nullptr;  // guarded by mu_
};

struct StoreOptions {
  std::string data_dir = "./deja-data";       // created if missing
  int64_t map_size_bytes = int64_t{4} << 30;  // LMDB map (virtual address space), default 4 GiB
  int64_t max_bytes = 0;                      // size cap for entries, 0 = no cap
  std::string eviction = "lru";               // "lru", "lfu" or "cost"; see MakeEvictionPolicy
  // Hits are counted in memory and written in batches, so a read never needs a write transaction.
  // Pending counts are flushed when this many accumulate, by FlushHits(), and on close.
  int hit_flush_batch = 1024;
  const Clock* clock = nullptr;  // nullptr: SystemClock()
  // Told about every removal (see StoreRemovalListener); nullptr: nobody listens.
  std::shared_ptr<StoreRemovalListener> removal_listener;
  // For `deja serve`: how often expired entries are swept (SweepExpired), 0 = never. The store
  // itself never sweeps on its own.
  int sweep_interval_s = 60;
};

struct ScanOptions {
  std::string name_space;  // only this namespace when `filter_namespace`
  bool filter_namespace = false;
  std::string model;              // only this model when non-empty
  int64_t created_before_ms = 0;  // only entries created before this when > 0
  bool include_expired = false;
  bool with_response = true;  // false: entries carry meta and key only (faster)
};

class Store {
 public:
  virtual ~Store() = default;

  // The entry under `key`, or NotFound when absent or expired. Counts a hit.
  virtual StatusOr<Entry> Get(const CacheKey& key) = 0;
  // Like Get but does not count a hit (inspection).
  virtual StatusOr<Entry> Peek(const CacheKey& key) = 0;
  // Inserts or replaces. Durable when it returns OK (survives kill -9). May evict to stay under
  // cap (removal listener: kEvicted, or kExpired for expired entries it dropped first).
  virtual Status Put(const Entry& entry) = 0;
  // NotFound when absent. Removal listener: kDeleted.
  virtual Status Delete(const CacheKey& key) = 0;
  // Calls `fn` for each matching entry in key order until it returns false.
  virtual Status Scan(const ScanOptions& options, const std::function<bool(const Entry&)>& fn) = 0;
  // Deletes matching entries; returns how many. Removal listener: kPurged.
  virtual StatusOr<int64_t> Purge(const ScanOptions& options) = 0;
  // Removes expired entries; returns how many. Removal listener: kExpired.
  virtual StatusOr<int64_t> SweepExpired() = 0;
  // Writes pending hit counts.
  virtual Status FlushHits() = 0;
  virtual StatusOr<StoreStats> Stats() = 0;
};

// Opens (creating if needed) the LMDB store in options.data_dir.
StatusOr<std::unique_ptr<Store>> OpenLmdbStore(const StoreOptions& options);

}  // namespace deja
