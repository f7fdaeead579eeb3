// LmdbStore's multi-entry operations: Scan, Purge, SweepExpired.
//
// All of them walk the meta sub-database only (bodies are read for Scan with_response alone) and
// work in bounded batches, each in its own short transaction: a long-lived read transaction would
// pin old pages and grow the map, and one huge write transaction could hit MDB_TXN_FULL. Scan calls
// the callback outside any transaction, so the callback may itself use the store (e.g. Delete).
// Purge and SweepExpired tell the removal listener about each batch once it is committed.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "store/entry_codec.h"
#include "store/lmdb_store.h"

namespace deja {
namespace {

constexpr size_t kScanPerTxn = 1024;      // meta records visited per transaction
constexpr size_t kScanBodiesPerTxn = 64;  // entries with bodies buffered per transaction
constexpr size_t kDeletesPerTxn = 256;    // deletions per write transaction

using lmdb::Cursor;
using lmdb::OpenCursor;

// Positions `cursor` at the first key after `resume` (or at the first key when `resume` is empty).
int SeekAfter(MDB_cursor* cursor, const std::string& resume, MDB_val* k, MDB_val* v) {
  if (resume.empty()) return mdb_cursor_get(cursor, k, v, MDB_FIRST);
  *k = lmdb::Val(resume);
  int rc = mdb_cursor_get(cursor, k, v, MDB_SET_RANGE);
  if (rc == 0 && lmdb::View(*k) == resume) rc = mdb_cursor_get(cursor, k, v, MDB_NEXT);
  return rc;
}

bool ToKey(const MDB_val& k, CacheKey* key) {
  if (k.mv_size != key->bytes.size()) return false;
  std::memcpy(key->bytes.data(), k.mv_data, k.mv_size);
  return true;
}

bool Matches(const ScanOptions& o, const EntryMeta& m, bool expired) {
  if (expired && !o.include_expired) return false;
  if (o.filter_namespace && m.name_space != o.name_space) return false;
  if (!o.model.empty() && m.model != o.model) return false;
  if (o.created_before_ms > 0 && m.created_at_ms >= o.created_before_ms) return false;
  return true;
}

}  // namespace

Status LmdbStore::Scan(const ScanOptions& options, const std::function<bool(const Entry&)>& fn) {
  const int64_t now = clock_->NowMillis();
  const size_t max_buffered = options.with_response ? kScanBodiesPerTxn : kScanPerTxn;
  std::string resume;
  bool done = false;
  while (!done) {
    std::vector<Entry> batch;
    {
      lmdb::ReadTxn txn(readers_.get());
      DEJA_RETURN_IF_ERROR(txn.Begin());
      DEJA_ASSIGN_OR_RETURN(Cursor cursor, OpenCursor(txn.get(), dbis_.meta));
      MDB_val k, v;
      int rc = SeekAfter(cursor.get(), resume, &k, &v);
      for (size_t visited = 0; rc == 0; ++visited) {
        resume.assign(lmdb::View(k));
        Entry e;
        if (!ToKey(k, &e.key)) return DataLossError("store holds a key of bad length");
        Status s = codec::DecodeMeta(lmdb::View(v), &e.meta);
        if (!s.ok()) return DataLossError("entry " + e.key.Hex() + ": " + s.message());
        if (Matches(options, e.meta, Expired(e.meta, now))) {
          if (options.with_response) {
            MDB_val body;
            rc = mdb_get(txn.get(), dbis_.body, &k, &body);
            if (rc != 0) return lmdb::Error(rc, "read body of entry " + e.key.Hex());
            s = codec::DecodeBody(lmdb::View(body), &e);
            if (!s.ok()) return DataLossError("entry " + e.key.Hex() + ": " + s.message());
          }
          batch.push_back(std::move(e));
        }
        if (batch.size() >= max_buffered || visited + 1 >= kScanPerTxn) break;
        rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT);
      }
      if (rc != 0 && rc != MDB_NOTFOUND) return lmdb::Error(rc, "scan");
      done = rc == MDB_NOTFOUND;
    }
    for (Entry& e : batch) {
      OverlayPending(e.key, &e.meta);
      if (!fn(e)) return Status::Ok();
    }
  }
  return Status::Ok();
}

StatusOr<int64_t> LmdbStore::DeleteWhere(const std::function<bool(const EntryMeta&)>& match,
                                         RemovalCause cause) {
  int64_t removed = 0;
  std::string resume;
  bool done = false;
  while (!done) {
    std::vector<CacheKey> victims;
    {
      std::lock_guard<std::mutex> lock(write_mu_);
      lmdb::WriteTxn txn;
      DEJA_RETURN_IF_ERROR(txn.Begin(env_));
      {
        DEJA_ASSIGN_OR_RETURN(Cursor cursor, OpenCursor(txn.get(), dbis_.meta));
        MDB_val k, v;
        int rc = SeekAfter(cursor.get(), resume, &k, &v);
        for (size_t visited = 0; rc == 0; ++visited) {
          resume.assign(lmdb::View(k));
          CacheKey key;
          EntryMeta m;
          // Undecodable entries never match: they are left for an explicit Delete.
          if (ToKey(k, &key) && codec::DecodeMeta(lmdb::View(v), &m).ok() && match(m)) {
            victims.push_back(key);
          }
          if (victims.size() >= kDeletesPerTxn || visited + 1 >= kScanPerTxn) break;
          rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT);
        }
        if (rc != 0 && rc != MDB_NOTFOUND) return lmdb::Error(rc, "scan for deletion");
        done = rc == MDB_NOTFOUND;
      }
      if (victims.empty()) continue;  // the transaction aborts; nothing to write
      DEJA_ASSIGN_OR_RETURN(int64_t total, ReadTotalBytes(txn.get()));
      for (const CacheKey& key : victims) {
        DEJA_ASSIGN_OR_RETURN(int64_t size, DeleteRecords(txn.get(), key));
        total -= size;
      }
      DEJA_RETURN_IF_ERROR(WriteTotalBytes(txn.get(), total));
      DEJA_RETURN_IF_ERROR(txn.Commit());
      for (const CacheKey& key : victims) hits_.Erase(key);
      removed += static_cast<int64_t>(victims.size());
    }
    NotifyRemoved(victims, cause);  // this batch is committed; later ones may still fail
  }
  return removed;
}

StatusOr<int64_t> LmdbStore::Purge(const ScanOptions& options) {
  const int64_t now = clock_->NowMillis();
  return DeleteWhere([&](const EntryMeta& m) { return Matches(options, m, Expired(m, now)); },
                     RemovalCause::kPurged);
}

StatusOr<int64_t> LmdbStore::SweepExpired() {
  const int64_t now = clock_->NowMillis();
  StatusOr<int64_t> n =
      DeleteWhere([&](const EntryMeta& m) { return Expired(m, now); }, RemovalCause::kExpired);
  if (n.ok()) expirations_ += *n;
  return n;
}

}  // namespace deja
