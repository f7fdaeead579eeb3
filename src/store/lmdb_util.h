// Thin RAII helpers over the LMDB C API used by LmdbStore: error mapping, transactions, and a pool
// of reusable read-only transactions.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "deja/status.h"

namespace deja::lmdb {

// Maps an LMDB or errno code to a Status whose message starts with `what`.
Status Error(int rc, std::string_view what);

// Keys of the "info" sub-database.
inline constexpr std::string_view kBytesKey = "bytes";  // sum of entries' size_bytes

// 8-byte little-endian integers, as the info sub-database stores them.
std::string EncodeI64(int64_t v);
// DataLoss (naming `what`) unless `s` is exactly 8 bytes.
StatusOr<int64_t> DecodeI64(std::string_view s, std::string_view what);

struct CursorCloser {
  void operator()(MDB_cursor* c) const { mdb_cursor_close(c); }
};
// A cursor closed at scope exit. Must not outlive its transaction.
using Cursor = std::unique_ptr<MDB_cursor, CursorCloser>;
StatusOr<Cursor> OpenCursor(MDB_txn* txn, MDB_dbi dbi);

inline MDB_val Val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};  // LMDB never writes through mv_data
}
inline std::string_view View(const MDB_val& v) {
  return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

// A write transaction that aborts on destruction unless committed. LMDB write transactions must
// begin and end on one thread. Not thread-safe; owned by the scope that began it.
class WriteTxn {
 public:
  WriteTxn() = default;
  WriteTxn(const WriteTxn&) = delete;
  WriteTxn& operator=(const WriteTxn&) = delete;
  ~WriteTxn() {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
  }
  Status Begin(MDB_env* env);
  // Commits (fsyncing, unless the env was opened without sync) and releases the transaction.
  Status Commit();
  MDB_txn* get() const { return txn_; }

 private:
  MDB_txn* txn_ = nullptr;
};

// Pool of read-only transactions kept in the reset state, so a read costs mdb_txn_renew (a reader
// slot refresh) instead of begin/abort (which allocate). Requires the env to be opened with
// MDB_NOTLS: a pooled transaction is renewed on whichever thread acquires it next.
//
// Why a pool rather than a thread_local transaction: a thread_local would outlive the store (its
// destructor would run on thread exit against a closed env), and a thread touching several stores
// would need one slot per store. A pool is owned by the store, destroyed with it, and its size is
// bounded by the number of concurrent readers. The mutex is held only to push or pop a pointer.
//
// Thread safety: Acquire/Release are safe to call concurrently. The pool must outlive every
// ReadTxn it handed out.
class ReadTxnPool {
 public:
  explicit ReadTxnPool(MDB_env* env) : env_(env) {}
  ReadTxnPool(const ReadTxnPool&) = delete;
  ReadTxnPool& operator=(const ReadTxnPool&) = delete;
  ~ReadTxnPool();

  // A transaction ready for reads, seeing the latest committed snapshot.
  StatusOr<MDB_txn*> Acquire();
  // Resets `txn` and keeps it for reuse.
  void Release(MDB_txn* txn);

 private:
  MDB_env* env_;
  std::mutex mu_;
  std::vector<MDB_txn*> idle_;  // reset, not yet renewed
};

// A pooled read transaction for one scope. Not thread-safe; owned by the scope.
class ReadTxn {
 public:
  explicit ReadTxn(ReadTxnPool* pool) : pool_(pool) {}
  ReadTxn(const ReadTxn&) = delete;
  ReadTxn& operator=(const ReadTxn&) = delete;
  ~ReadTxn() { End(); }
  Status Begin();
  // Returns the transaction to the pool early (e.g. before calling user code).
  void End();
  MDB_txn* get() const { return txn_; }

 private:
  ReadTxnPool* pool_;
  MDB_txn* txn_ = nullptr;
};

}  // namespace deja::lmdb
