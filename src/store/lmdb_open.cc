// LmdbStore: opening the environment and its sub-databases, and the per-process registry of open
// store directories.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "store/lmdb_store.h"

namespace deja {
namespace {

constexpr unsigned kMaxReaders = 512;  // LMDB's default of 126 is low for a threaded gateway
constexpr int64_t kFormatVersion = 1;
constexpr std::string_view kFormatKey = "format";

Status PrepareDir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    std::string msg = "cannot create store directory " + dir.string() + ": " + ec.message();
    int e = ec.value();
    return e == EACCES || e == EPERM || e == EROFS ? PermissionDeniedError(msg)
                                                   : UnavailableError(msg);
  }
  if (!std::filesystem::is_directory(dir, ec)) {
    return UnavailableError("store path " + dir.string() + " is not a directory");
  }
  if (::access(dir.c_str(), R_OK | W_OK | X_OK) != 0) {
    return PermissionDeniedError("store directory " + dir.string() +
                                 " is not readable and writable: " + std::strerror(errno));
  }
  return Status::Ok();
}

Status OpenDbis(MDB_env* env, MDB_dbi* meta, MDB_dbi* body, MDB_dbi* info) {
  lmdb::WriteTxn txn;
  DEJA_RETURN_IF_ERROR(txn.Begin(env));
  int rc = mdb_dbi_open(txn.get(), "meta", MDB_CREATE, meta);
  if (rc == 0) rc = mdb_dbi_open(txn.get(), "body", MDB_CREATE, body);
  if (rc == 0) rc = mdb_dbi_open(txn.get(), "info", MDB_CREATE, info);
  if (rc != 0) return lmdb::Error(rc, "open sub-databases");
  MDB_val k = lmdb::Val(kFormatKey), v;
  rc = mdb_get(txn.get(), *info, &k, &v);
  if (rc == MDB_NOTFOUND) {
    std::string enc = lmdb::EncodeI64(kFormatVersion);
    MDB_val nv = lmdb::Val(enc);
    rc = mdb_put(txn.get(), *info, &k, &nv, 0);
    if (rc != 0) return lmdb::Error(rc, "write format version");
  } else if (rc != 0) {
    return lmdb::Error(rc, "read format version");
  } else {
    DEJA_ASSIGN_OR_RETURN(int64_t version, lmdb::DecodeI64(lmdb::View(v), kFormatKey));
    if (version > kFormatVersion) {
      return FailedPreconditionError("store format version " + std::to_string(version) +
                                     " is newer than this build supports (" +
                                     std::to_string(kFormatVersion) + ")");
    }
  }
  return txn.Commit();
}

// Store directories open in this process. LMDB forbids opening one environment twice in a process
// (closing either handle would drop the other's POSIX locks), so a second open is refused; share
// the Store instead.
std::mutex open_dirs_mu;
std::set<std::string>& OpenDirs() {
  static auto* dirs = new std::set<std::string>();
  return *dirs;
}

}  // namespace

void LmdbStore::ReleaseDir(const std::string& canonical_dir) {
  std::lock_guard<std::mutex> lock(open_dirs_mu);
  OpenDirs().erase(canonical_dir);
}

StatusOr<std::unique_ptr<Store>> OpenLmdbStore(const StoreOptions& options) {
  return LmdbStore::Open(options);
}

StatusOr<std::unique_ptr<Store>> LmdbStore::Open(const StoreOptions& options) {
  if (options.map_size_bytes <= 0) return InvalidArgumentError("map size must be positive");
  if (options.max_bytes < 0) return InvalidArgumentError("size cap must not be negative");
  DEJA_RETURN_IF_ERROR(MakeEvictionPolicy(options.eviction).status());
  std::filesystem::path dir = std::filesystem::path(options.data_dir) / "store";
  DEJA_RETURN_IF_ERROR(PrepareDir(dir));
  std::error_code ec;
  std::string canonical = std::filesystem::canonical(dir, ec).string();
  if (ec) return UnavailableError("cannot resolve " + dir.string() + ": " + ec.message());
  {
    std::lock_guard<std::mutex> lock(open_dirs_mu);
    if (!OpenDirs().insert(canonical).second) {
      return FailedPreconditionError("store in " + dir.string() +
                                     " is already open in this process; share that Store");
    }
  }
  StatusOr<std::unique_ptr<Store>> store = OpenEnv(options, dir, canonical);
  if (!store.ok()) ReleaseDir(canonical);
  return store;
}

StatusOr<std::unique_ptr<Store>> LmdbStore::OpenEnv(const StoreOptions& options,
                                                    const std::filesystem::path& dir,
                                                    const std::string& canonical) {
  DEJA_ASSIGN_OR_RETURN(std::unique_ptr<EvictionPolicy> policy,
                        MakeEvictionPolicy(options.eviction, options.clock));

  MDB_env* env = nullptr;
  int rc = mdb_env_create(&env);
  if (rc != 0) return lmdb::Error(rc, "create LMDB environment");
  // LMDB wants the map size in whole OS pages.
  const int64_t page = ::sysconf(_SC_PAGESIZE) > 0 ? ::sysconf(_SC_PAGESIZE) : 4096;
  const int64_t map_size = (options.map_size_bytes + page - 1) / page * page;
  rc = mdb_env_set_maxdbs(env, 4);
  if (rc == 0) rc = mdb_env_set_maxreaders(env, kMaxReaders);
  if (rc == 0) rc = mdb_env_set_mapsize(env, static_cast<size_t>(map_size));
  // MDB_NOTLS: read transactions are pooled and renewed on any thread (see ReadTxnPool).
  // MDB_NORDAHEAD: lookups are random; read-ahead would only evict useful pages.
  // Sync flags are left at LMDB's default, so every commit is durable when it returns.
  if (rc == 0) rc = mdb_env_open(env, dir.c_str(), MDB_NOTLS | MDB_NORDAHEAD, 0644);
  if (rc != 0) {
    mdb_env_close(env);
    return lmdb::Error(rc, "open store in " + dir.string());
  }
  // Reader slots of processes that died (e.g. kill -9) would otherwise pin old pages forever.
  int dead = 0;
  mdb_reader_check(env, &dead);
  Dbis dbis;
  Status s = OpenDbis(env, &dbis.meta, &dbis.body, &dbis.info);
  if (!s.ok()) {
    mdb_env_close(env);
    return Status(s.code(), "open store in " + dir.string() + ": " + s.message());
  }
  return std::unique_ptr<Store>(new LmdbStore(options, env, dbis, std::move(policy), canonical));
}

}  // namespace deja
