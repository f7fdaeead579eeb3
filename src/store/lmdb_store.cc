// LmdbStore: point reads and writes, eviction, hit flushing and stats. Opening is in lmdb_open.cc,
// scans and bulk deletes in lmdb_scan.cc.
#include "store/lmdb_store.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

#include "store/entry_codec.h"
#include "store/eviction.h"

namespace deja {
namespace {

// Eviction: metadata records read per sampling round, and best candidates kept across rounds.
constexpr int kEvictionSamples = 16;
constexpr size_t kEvictionPoolSize = 16;

}  // namespace

LmdbStore::LmdbStore(const StoreOptions& options, MDB_env* env, Dbis dbis,
                     std::unique_ptr<EvictionPolicy> policy, std::string canonical_dir)
    : options_(options),
      canonical_dir_(std::move(canonical_dir)),
      clock_(options.clock != nullptr ? options.clock : SystemClock()),
      env_(env),
      dbis_(dbis),
      policy_(std::move(policy)),
      readers_(std::make_unique<lmdb::ReadTxnPool>(env)),
      rng_(std::random_device{}()) {
  flusher_ = std::thread([this] { FlusherLoop(); });
}

LmdbStore::~LmdbStore() {
  {
    std::lock_guard<std::mutex> lock(flusher_mu_);
    stop_ = true;
  }
  flusher_cv_.notify_one();
  flusher_.join();
  (void)FlushHits();  // best effort: hit counts are advisory, and a destructor cannot report
  readers_.reset();   // pooled transactions must end before the env closes
  mdb_env_close(env_);
  ReleaseDir(canonical_dir_);
}

void LmdbStore::FlusherLoop() {
  std::unique_lock<std::mutex> lock(flusher_mu_);
  while (true) {
    flusher_cv_.wait(lock, [this] { return stop_ || flush_requested_.load(); });
    if (stop_) return;
    flush_requested_.store(false);
    lock.unlock();
    // A failed flush keeps its hits pending (FlushHits restores them) for the next trigger.
    (void)FlushHits();
    lock.lock();
  }
}

void LmdbStore::RequestFlush() {
  if (flush_requested_.exchange(true)) return;  // already requested: keep Get cheap
  std::lock_guard<std::mutex> lock(flusher_mu_);
  flusher_cv_.notify_one();
}

void LmdbStore::OverlayPending(const CacheKey& key, EntryMeta* meta) const {
  HitTable::Pending p = hits_.Peek(key);
  meta->hit_count += p.count;
  meta->last_hit_at_ms = std::max(meta->last_hit_at_ms, p.last_hit_ms);
}

StatusOr<Entry> LmdbStore::Get(const CacheKey& key) { return Read(key, /*count_hit=*/true); }
StatusOr<Entry> LmdbStore::Peek(const CacheKey& key) { return Read(key, /*count_hit=*/false); }

StatusOr<Entry> LmdbStore::Read(const CacheKey& key, bool count_hit) {
  const int64_t now = clock_->NowMillis();
  Entry e;
  {
    lmdb::ReadTxn txn(readers_.get());
    DEJA_RETURN_IF_ERROR(txn.Begin());
    MDB_val k = lmdb::Val(key.View()), v;
    int rc = mdb_get(txn.get(), dbis_.meta, &k, &v);
    if (rc == MDB_NOTFOUND) return NotFoundError("no entry with this key");
    if (rc != 0) return lmdb::Error(rc, "read entry metadata");
    Status s = codec::DecodeMeta(lmdb::View(v), &e.meta);
    if (!s.ok()) return DataLossError("entry " + key.Hex() + ": " + s.message());
    if (Expired(e.meta, now)) return NotFoundError("entry expired");
    rc = mdb_get(txn.get(), dbis_.body, &k, &v);
    if (rc == MDB_NOTFOUND) return DataLossError("entry " + key.Hex() + " has no body record");
    if (rc != 0) return lmdb::Error(rc, "read entry body");
    s = codec::DecodeBody(lmdb::View(v), &e);
    if (!s.ok()) return DataLossError("entry " + key.Hex() + ": " + s.message());
  }
  e.key = key;
  if (!count_hit) {
    OverlayPending(key, &e.meta);
    return e;
  }
  int64_t total_pending = 0;
  HitTable::Pending p = hits_.Add(key, now, &total_pending);
  e.meta.hit_count += p.count;
  e.meta.last_hit_at_ms = std::max(e.meta.last_hit_at_ms, p.last_hit_ms);
  if (options_.hit_flush_batch > 0 && total_pending >= options_.hit_flush_batch) RequestFlush();
  return e;
}

StatusOr<int64_t> LmdbStore::ReadTotalBytes(MDB_txn* txn) const {
  MDB_val k = lmdb::Val(lmdb::kBytesKey), v;
  int rc = mdb_get(txn, dbis_.info, &k, &v);
  if (rc == MDB_NOTFOUND) return int64_t{0};
  if (rc != 0) return lmdb::Error(rc, "read byte total");
  return lmdb::DecodeI64(lmdb::View(v), lmdb::kBytesKey);
}

Status LmdbStore::WriteTotalBytes(MDB_txn* txn, int64_t bytes) const {
  std::string enc = lmdb::EncodeI64(bytes);
  MDB_val k = lmdb::Val(lmdb::kBytesKey), v = lmdb::Val(enc);
  int rc = mdb_put(txn, dbis_.info, &k, &v, 0);
  return rc == 0 ? Status::Ok() : lmdb::Error(rc, "write byte total");
}

StatusOr<int64_t> LmdbStore::DeleteRecords(MDB_txn* txn, const CacheKey& key) const {
  MDB_val k = lmdb::Val(key.View()), meta, body;
  int rc = mdb_get(txn, dbis_.meta, &k, &meta);
  if (rc == MDB_NOTFOUND) return NotFoundError("no entry with key " + key.Hex());
  if (rc != 0) return lmdb::Error(rc, "read entry metadata");
  EntryMeta m;
  int64_t size;
  if (codec::DecodeMeta(lmdb::View(meta), &m).ok()) {
    size = m.size_bytes;
  } else {  // corrupt metadata: fall back to what the records occupy, which is what Put counted
    size = codec::EntrySize(static_cast<int64_t>(meta.mv_size), 0);
    if (mdb_get(txn, dbis_.body, &k, &body) == 0) size += static_cast<int64_t>(body.mv_size);
  }
  rc = mdb_del(txn, dbis_.meta, &k, nullptr);
  if (rc != 0) return lmdb::Error(rc, "delete entry metadata");
  rc = mdb_del(txn, dbis_.body, &k, nullptr);
  if (rc != 0 && rc != MDB_NOTFOUND) return lmdb::Error(rc, "delete entry body");
  return size;
}

Status LmdbStore::EvictUntil(MDB_txn* txn, int64_t cap, const CacheKey& keep, int64_t* total,
                             std::vector<CacheKey>* evicted, std::vector<CacheKey>* expired) {
  DEJA_ASSIGN_OR_RETURN(lmdb::Cursor cursor, lmdb::OpenCursor(txn, dbis_.meta));
  int rc = 0;
  const int64_t now = clock_->NowMillis();
  constexpr double kFirst = -std::numeric_limits<double>::infinity();  // expired or corrupt
  EvictionPool pool(kEvictionPoolSize);
  while (*total > cap) {
    CacheKey start;
    for (size_t i = 0; i < start.bytes.size(); i += 8) {
      uint64_t r = rng_();
      std::memcpy(start.bytes.data() + i, &r, 8);
    }
    MDB_val k = lmdb::Val(start.View()), v;
    rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_SET_RANGE);
    for (int seen = 0; seen < kEvictionSamples; ++seen) {
      if (rc == MDB_NOTFOUND) rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_FIRST);  // wrap
      if (rc != 0) break;
      if (k.mv_size == sizeof(CacheKey::bytes)) {
        CacheKey candidate;
        std::memcpy(candidate.bytes.data(), k.mv_data, k.mv_size);
        if (!(candidate == keep)) {
          EntryMeta m;
          double score = kFirst;
          if (codec::DecodeMeta(lmdb::View(v), &m).ok() && !Expired(m, now)) {
            OverlayPending(candidate, &m);
            score = policy_->Score(m);
          }
          pool.Offer(candidate, score);
        }
      }
      rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) return lmdb::Error(rc, "sample eviction candidates");
    std::optional<EvictionPool::Candidate> victim = pool.PopLowest();
    if (!victim) return Status::Ok();  // only `keep` is left
    StatusOr<int64_t> size = DeleteRecords(txn, victim->key);
    if (!size.ok()) return size.status();
    *total -= *size;
    (victim->score == kFirst ? expired : evicted)->push_back(victim->key);
  }
  return Status::Ok();
}

Status LmdbStore::Put(const Entry& entry) {
  EntryMeta meta = entry.meta;
  if (meta.created_at_ms == 0) meta.created_at_ms = clock_->NowMillis();
  const std::string body = codec::EncodeBody(entry);
  meta.size_bytes =
      codec::EntrySize(codec::MetaRecordSize(meta), static_cast<int64_t>(body.size()));
  const std::string meta_rec = codec::EncodeMeta(meta);
  const int64_t cap = options_.max_bytes;
  if (cap > 0 && meta.size_bytes > cap) {
    return ResourceExhaustedError("entry of " + std::to_string(meta.size_bytes) +
                                  " bytes exceeds the store's size cap of " + std::to_string(cap) +
                                  " bytes");
  }
  std::vector<CacheKey> evicted, expired;
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    lmdb::WriteTxn txn;
    DEJA_RETURN_IF_ERROR(txn.Begin(env_));
    DEJA_ASSIGN_OR_RETURN(int64_t total, ReadTotalBytes(txn.get()));
    StatusOr<int64_t> old_size = DeleteRecords(txn.get(), entry.key);
    if (old_size.ok()) {
      total -= *old_size;
    } else if (old_size.status().code() != StatusCode::kNotFound) {
      return old_size.status();
    }
    total += meta.size_bytes;
    if (cap > 0 && total > cap) {
      DEJA_RETURN_IF_ERROR(EvictUntil(txn.get(), cap, entry.key, &total, &evicted, &expired));
    }
    MDB_val k = lmdb::Val(entry.key.View()), mv = lmdb::Val(meta_rec), bv = lmdb::Val(body);
    int rc = mdb_put(txn.get(), dbis_.meta, &k, &mv, 0);
    if (rc == 0) rc = mdb_put(txn.get(), dbis_.body, &k, &bv, 0);
    if (rc != 0) return lmdb::Error(rc, "put entry " + entry.key.Hex());
    DEJA_RETURN_IF_ERROR(WriteTotalBytes(txn.get(), total));
    DEJA_RETURN_IF_ERROR(txn.Commit());
    // Pending hits belonged to the replaced or evicted entries. Erased under write_mu_ so a
    // concurrent FlushHits cannot drain them first and credit them to the new entry.
    hits_.Erase(entry.key);
    for (const CacheKey& key : evicted) hits_.Erase(key);
    for (const CacheKey& key : expired) hits_.Erase(key);
    evictions_ += static_cast<int64_t>(evicted.size());
    expirations_ += static_cast<int64_t>(expired.size());
  }
  // The replaced entry (same key) is not a removal.
  NotifyRemoved(expired, RemovalCause::kExpired);
  NotifyRemoved(evicted, RemovalCause::kEvicted);
  return Status::Ok();
}

Status LmdbStore::Delete(const CacheKey& key) {
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    lmdb::WriteTxn txn;
    DEJA_RETURN_IF_ERROR(txn.Begin(env_));
    DEJA_ASSIGN_OR_RETURN(int64_t total, ReadTotalBytes(txn.get()));
    DEJA_ASSIGN_OR_RETURN(int64_t size, DeleteRecords(txn.get(), key));
    DEJA_RETURN_IF_ERROR(WriteTotalBytes(txn.get(), total - size));
    DEJA_RETURN_IF_ERROR(txn.Commit());
    hits_.Erase(key);
  }
  NotifyRemoved(std::span<const CacheKey>(&key, 1), RemovalCause::kDeleted);
  return Status::Ok();
}

Status LmdbStore::FlushHits() {
  // Draining under write_mu_ orders the drain with Put/Delete's Erase (see Put).
  std::lock_guard<std::mutex> lock(write_mu_);
  HitTable::Batch batch = hits_.Drain();
  if (batch.empty()) return Status::Ok();
  std::sort(batch.begin(), batch.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });  // B-tree locality
  lmdb::WriteTxn txn;
  Status s = txn.Begin(env_);
  for (size_t i = 0; s.ok() && i < batch.size(); ++i) {
    const auto& [key, pending] = batch[i];
    MDB_val k = lmdb::Val(key.View()), v;
    int rc = mdb_get(txn.get(), dbis_.meta, &k, &v);
    if (rc == MDB_NOTFOUND) continue;  // deleted since the hit
    EntryMeta m;
    if (rc != 0) {
      s = lmdb::Error(rc, "read entry metadata");
    } else if (codec::DecodeMeta(lmdb::View(v), &m).ok()) {
      m.hit_count += pending.count;
      m.last_hit_at_ms = std::max(m.last_hit_at_ms, pending.last_hit_ms);
      std::string rec = codec::EncodeMeta(m);  // same length: the counters are fixed-width
      MDB_val nv = lmdb::Val(rec);
      rc = mdb_put(txn.get(), dbis_.meta, &k, &nv, 0);
      if (rc != 0) s = lmdb::Error(rc, "write hit counts");
    }
  }
  if (s.ok()) s = txn.Commit();
  if (!s.ok()) {
    hits_.Restore(batch);
    return s;
  }
  {
    std::lock_guard<std::mutex> flock(flusher_mu_);
    hit_flushes_.fetch_add(1);
  }
  flushed_cv_.notify_all();
  return s;
}

bool LmdbStore::AwaitHitFlushes(int64_t n, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(flusher_mu_);
  return flushed_cv_.wait_for(lock, timeout, [&] { return hit_flushes_.load() >= n; });
}

StatusOr<StoreStats> LmdbStore::Stats() {
  StoreStats st;
  lmdb::ReadTxn txn(readers_.get());
  DEJA_RETURN_IF_ERROR(txn.Begin());
  MDB_stat ms;
  int rc = mdb_stat(txn.get(), dbis_.meta, &ms);
  if (rc != 0) return lmdb::Error(rc, "stat metadata");
  st.entries = static_cast<int64_t>(ms.ms_entries);
  DEJA_ASSIGN_OR_RETURN(st.bytes, ReadTotalBytes(txn.get()));
  txn.End();
  MDB_envinfo info;
  MDB_stat es;
  rc = mdb_env_info(env_, &info);
  if (rc == 0) rc = mdb_env_stat(env_, &es);
  if (rc != 0) return lmdb::Error(rc, "stat environment");
  st.capacity_bytes = options_.max_bytes;
  st.evictions = evictions_.load();
  st.expirations = expirations_.load();
  st.map_size_bytes = static_cast<int64_t>(info.me_mapsize);
  st.map_used_bytes = static_cast<int64_t>((info.me_last_pgno + 1) * es.ms_psize);
  return st;
}

}  // namespace deja
