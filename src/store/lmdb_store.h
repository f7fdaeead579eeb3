// LmdbStore: the embedded default Store engine.
//
// Layout: one LMDB environment in <data_dir>/store/ with three named sub-databases:
//   meta: key -> meta record (small; all that ls, eviction, purge and sweep read)
//   body: key -> body record (canonical request + response; read only by Get/Peek/Scan with bodies)
//   info: "bytes" -> sum of size_bytes, "format" -> on-disk format version
// Both records of an entry, and the byte total, change in the same write transaction, so a crash
// leaves either the old or the new state. Records are encoded by entry_codec.h.
//
// Reads use pooled read-only transactions (lmdb_util.h); a hit is recorded in a HitTable and folded
// into the meta records in one write transaction by a background flusher once hit_flush_batch hits
// are pending (hit_flush_batch <= 0: only on FlushHits and close), by FlushHits(), and on
// destruction. Get/Peek/Scan report hit counts including pending hits. Writes are serialized by a
// process mutex (LMDB serializes writers across processes too) and commit with LMDB's default
// fsync, so Put is durable when it returns.
//
// Put sets meta.size_bytes and, when meta.created_at_ms is 0, created_at_ms to the clock's now.
//
// options.removal_listener hears each committed removal (Delete, Purge and SweepExpired per
// committed batch, eviction inside Put), after the commit and outside write_mu_.
//
// Thread safety: every method is safe to call concurrently (see Store). Several processes may open
// the same directory (e.g. the server and `deja store`), but one process may open a directory only
// once (an LMDB rule): a second OpenLmdbStore of it fails with FailedPrecondition until the first
// Store is destroyed. Ownership: the store owns the LMDB env, the transaction pool and the flusher
// thread; the clock must outlive it.
#pragma once

#include <lmdb.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "deja/store.h"
#include "store/hit_table.h"
#include "store/lmdb_util.h"

namespace deja {

class LmdbStore final : public Store {
 public:
  static StatusOr<std::unique_ptr<Store>> Open(const StoreOptions& options);
  ~LmdbStore() override;

  StatusOr<Entry> Get(const CacheKey& key) override;
  StatusOr<Entry> Peek(const CacheKey& key) override;
  Status Put(const Entry& entry) override;
  Status Delete(const CacheKey& key) override;
  Status Scan(const ScanOptions& options, const std::function<bool(const Entry&)>& fn) override;
  StatusOr<int64_t> Purge(const ScanOptions& options) override;
  StatusOr<int64_t> SweepExpired() override;
  Status FlushHits() override;
  StatusOr<StoreStats> Stats() override;

  // Hit flushes that wrote at least one hit since open (for tests and monitoring), and a wait for
  // the background flusher: true once at least `n` have completed, false after `timeout`.
  int64_t hit_flushes() const { return hit_flushes_.load(); }
  bool AwaitHitFlushes(int64_t n, std::chrono::milliseconds timeout);

 private:
  struct Dbis {
    MDB_dbi meta = 0, body = 0, info = 0;
  };
  LmdbStore(const StoreOptions& options, MDB_env* env, Dbis dbis,
            std::unique_ptr<EvictionPolicy> policy, std::string canonical_dir);
  // Forgets that `canonical_dir` is open in this process (see Open).
  static void ReleaseDir(const std::string& canonical_dir);
  // Opens the environment in `dir` (already prepared and registered as open).
  static StatusOr<std::unique_ptr<Store>> OpenEnv(const StoreOptions& options,
                                                  const std::filesystem::path& dir,
                                                  const std::string& canonical);

  StatusOr<Entry> Read(const CacheKey& key, bool count_hit);
  bool Expired(const EntryMeta& meta, int64_t now) const {
    return meta.expires_at_ms != 0 && now >= meta.expires_at_ms;
  }
  // Adds hits not yet written to `meta`.
  void OverlayPending(const CacheKey& key, EntryMeta* meta) const;

  // Write-transaction helpers. REQUIRES: write_mu_ held, `txn` a write transaction.
  StatusOr<int64_t> ReadTotalBytes(MDB_txn* txn) const;
  Status WriteTotalBytes(MDB_txn* txn, int64_t bytes) const;
  // Deletes both records of `key`; returns the entry's size, or NotFound.
  StatusOr<int64_t> DeleteRecords(MDB_txn* txn, const CacheKey& key) const;
  // Evicts sampled entries other than `keep` until `*total` <= cap; appends victims to `evicted`,
  // or to `expired` for those that had expired (or whose metadata was unreadable).
  Status EvictUntil(MDB_txn* txn, int64_t cap, const CacheKey& keep, int64_t* total,
                    std::vector<CacheKey>* evicted, std::vector<CacheKey>* expired);

  // Deletes entries for which `match` holds, in batches of bounded transactions; tells the removal
  // listener about each committed batch with `cause`.
  StatusOr<int64_t> DeleteWhere(const std::function<bool(const EntryMeta&)>& match,
                                RemovalCause cause);
  // Tells options_.removal_listener (if any) that `keys` were removed. REQUIRES: write_mu_ not
  // held, the removal committed.
  void NotifyRemoved(std::span<const CacheKey> keys, RemovalCause cause) const {
    if (options_.removal_listener != nullptr && !keys.empty()) {
      options_.removal_listener->OnRemoved(keys, cause);
    }
  }
  void FlusherLoop();
  void RequestFlush();

  const StoreOptions options_;
  const std::string canonical_dir_;  // key in the process's registry of open stores
  const Clock* const clock_;
  MDB_env* const env_;
  const Dbis dbis_;
  std::unique_ptr<EvictionPolicy> policy_;
  std::unique_ptr<lmdb::ReadTxnPool> readers_;
  HitTable hits_;

  std::mutex write_mu_;  // serializes this process's write transactions; guards rng_
  std::mt19937_64 rng_;  // eviction sample start points

  std::atomic<int64_t> evictions_{0};
  std::atomic<int64_t> expirations_{0};
  std::atomic<int64_t> hit_flushes_{0};  // written under flusher_mu_ too, for AwaitHitFlushes

  std::mutex flusher_mu_;
  std::condition_variable flusher_cv_;  // wakes the flusher
  std::condition_variable flushed_cv_;  // wakes AwaitHitFlushes
  std::atomic<bool> flush_requested_{false};
  bool stop_ = false;  // guarded by flusher_mu_
  std::thread flusher_;
};

}  // namespace deja
