#include "store/lmdb_util.h"

#include <cerrno>
#include <string>

namespace deja::lmdb {

Status Error(int rc, std::string_view what) {
  std::string msg = std::string(what) + ": " + mdb_strerror(rc);
  switch (rc) {
    case MDB_SUCCESS:
      return Status::Ok();
    case MDB_NOTFOUND:
      return NotFoundError(msg);
    case MDB_MAP_FULL:
      return ResourceExhaustedError(
          msg + " (the LMDB map is full: raise the store's map size or set a size cap)");
    case MDB_TXN_FULL:
    case MDB_READERS_FULL:
    case ENOSPC:
    case ENOMEM:
      return ResourceExhaustedError(msg);
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_INCOMPATIBLE:
      return DataLossError(msg);
    case MDB_MAP_RESIZED:
      return UnavailableError(msg + " (another process grew the map; reopen the store)");
    case EACCES:
    case EPERM:
    case EROFS:
      return PermissionDeniedError(msg);
    default:
      // Positive codes are errno values from the file system: the store cannot be reached.
      return rc > 0 ? UnavailableError(msg) : InternalError(msg);
  }
}

std::string EncodeI64(int64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) {
    s[i] = static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff);
  }
  return s;
}

StatusOr<int64_t> DecodeI64(std::string_view s, std::string_view what) {
  if (s.size() != 8) return DataLossError("corrupt store info \"" + std::string(what) + "\"");
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{static_cast<uint8_t>(s[i])} << (8 * i);
  return static_cast<int64_t>(v);
}

StatusOr<Cursor> OpenCursor(MDB_txn* txn, MDB_dbi dbi) {
  MDB_cursor* c = nullptr;
  int rc = mdb_cursor_open(txn, dbi, &c);
  if (rc != 0) return Error(rc, "open cursor");
  return Cursor(c);
}

Status WriteTxn::Begin(MDB_env* env) {
  int rc = mdb_txn_begin(env, nullptr, 0, &txn_);
  if (rc != 0) {
    txn_ = nullptr;
    return Error(rc, "begin write transaction");
  }
  return Status::Ok();
}

Status WriteTxn::Commit() {
  MDB_txn* txn = txn_;
  txn_ = nullptr;  // mdb_txn_commit frees the transaction even when it fails
  int rc = mdb_txn_commit(txn);
  return rc == 0 ? Status::Ok() : Error(rc, "commit");
}

ReadTxnPool::~ReadTxnPool() {
  for (MDB_txn* txn : idle_) mdb_txn_abort(txn);
}

StatusOr<MDB_txn*> ReadTxnPool::Acquire() {
  MDB_txn* txn = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      txn = idle_.back();
      idle_.pop_back();
    }
  }
  if (txn != nullptr) {
    int rc = mdb_txn_renew(txn);
    if (rc == 0) return txn;
    mdb_txn_abort(txn);
    return Error(rc, "renew read transaction");
  }
  int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
  if (rc != 0) return Error(rc, "begin read transaction");
  return txn;
}

void ReadTxnPool::Release(MDB_txn* txn) {
  mdb_txn_reset(txn);
  std::lock_guard<std::mutex> lock(mu_);
  idle_.push_back(txn);
}

Status ReadTxn::Begin() {
  End();
  StatusOr<MDB_txn*> txn = pool_->Acquire();
  if (!txn.ok()) return txn.status();
  txn_ = *txn;
  return Status::Ok();
}

void ReadTxn::End() {
  if (txn_ != nullptr) pool_->Release(txn_);
  txn_ = nullptr;
}

}  // namespace deja::lmdb
