// CassetteStore: a Store over a cassette file (cassette_format.h) for test modes.
//
// The file is read once at Open into an in-memory map. A recorded record (Put) is appended as one
// compact JSON line to a journal beside the cassette (`.NAME.journal`) and fdatasync'ed before it
// returns: O(record), so recording N records costs O(N), not O(N^2) as rewriting the whole file
// per record did. The cassette itself is rewritten atomically (temporary file, fsync, rename,
// fsync of the directory) once, when the store is destroyed (compaction: journal merged, then
// removed), so after a clean shutdown only the cassette remains.
//
// Crash semantics: an acknowledged Put is on disk (in the journal). After kill -9 the cassette is
// the previous one and the journal holds the records since; the next Open merges the journal (later
// lines replace earlier ones), rewrites the cassette and removes the journal, so nothing
// acknowledged is lost. A last journal line cut short (a crash mid-append) was never acknowledged
// and is dropped; an unreadable line before it fails Open. `deja cassette` subcommands read the
// cassette file only: open the cassette once (e.g. replay) to merge a killed run's journal first.
// Delete and Purge compact first, then rewrite the whole file before they return (rare).
//
// Records read at Open are kept decoded and rendered only when the file is first rewritten (a
// replay never writes, so it never pays for rendering); until then their entries' size_bytes is 0.
// Stats().bytes is the cassette's size plus the journal's.
//
// Entries never expire here (a cassette must replay next year) and hit counts live in memory only,
// so replaying never changes the committed file. Which records a run used is appended, one hex key
// per line, to an optional used-log file (for `deja cassette prune`).
//
// One process per cassette: two processes writing one file (or one journal) would overwrite each
// other's records, and a second Open would compact the first's journal from under it.
//
// Thread safety: every method may be called concurrently (one mutex; writes are serialized).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "deja/clock.h"
#include "deja/store.h"
#include "server/cassette_format.h"

namespace deja::server {

struct CassetteStoreOptions {
  std::string path;
  // false: Open fails with NotFound when the file does not exist (replay: a missing cassette is a
  // mistake, not an empty recording).
  bool create_if_missing = true;
  std::vector<std::string> redact_pointers;  // applied to each record as it is written
  std::string used_log;                      // "" = none; appended to, never truncated
  // Hears Delete (kDeleted) and Purge (kPurged) once the file is rewritten, outside the lock.
  // Nothing expires or is evicted here.
  std::shared_ptr<StoreRemovalListener> removal_listener;
};

class CassetteStore : public Store {
 public:
  static StatusOr<std::unique_ptr<CassetteStore>> Open(const CassetteStoreOptions& options);
  ~CassetteStore() override;

  StatusOr<Entry> Get(const CacheKey& key) override;
  StatusOr<Entry> Peek(const CacheKey& key) override;
  // Keeps the keyed headers of an existing record under the same key (same key, same headers).
  Status Put(const Entry& entry) override { return PutRecord(entry, {}); }
  Status Delete(const CacheKey& key) override;
  Status Scan(const ScanOptions& options, const std::function<bool(const Entry&)>& fn) override;
  StatusOr<int64_t> Purge(const ScanOptions& options) override;
  StatusOr<int64_t> SweepExpired() override { return int64_t{0}; }
  // Syncs the used log.
  Status FlushHits() override;
  StatusOr<StoreStats> Stats() override;

  // Put, also keeping the headers that entered the key (canonical JSON object, "" for none): the
  // gateway knows them, the Store interface does not carry them.
  Status PutRecord(const Entry& entry, std::string_view keyed_headers);
  // Each record in key order until `fn` returns false. `fn` runs without the lock held.
  void ForEachRecord(const std::function<bool(const CassetteRecord&)>& fn);
  const std::string& path() const { return options_.path; }
  // Bytes written to the cassette and its journal by this store so far (for tests and benches).
  int64_t bytes_written();

 private:
  struct Slot {
    CassetteRecord record;
    std::string rendered;  // the record's text in the file; "" until RenderedLocked
  };

  CassetteStore(CassetteStoreOptions options, std::vector<RedactPointer> redact, int used_fd,
                std::string journal_path);
  // The slot's text, rendered (and its entry's size_bytes set) on first use.
  static const std::string& RenderedLocked(Slot& slot);
  // Rewrites the whole cassette file from records_.
  Status WriteLocked();
  // Appends `line` to the journal (created on first use) and syncs it; on failure the journal is
  // cut back to its previous length.
  Status AppendJournalLocked(std::string_view line);
  // When `journal_exists`: rewrites the cassette, then closes and removes the journal.
  Status CompactLocked(bool journal_exists);
  void MarkUsedLocked(const CacheKey& key);
  // Tells options_.removal_listener; call without mu_ held.
  void NotifyRemoved(std::span<const CacheKey> keys, RemovalCause cause) const;
  static bool Matches(const ScanOptions& options, const Entry& e);

  const CassetteStoreOptions options_;
  const std::vector<RedactPointer> redact_;
  const std::string journal_path_;
  std::mutex mu_;
  std::map<CacheKey, Slot> records_;
  std::set<CacheKey> used_;
  int used_fd_ = -1;
  bool used_log_failed_ = false;
  int64_t file_bytes_ = 0;  // size of the file as read at Open or last written
  int journal_fd_ = -1;     // open from the first Put until compaction
  int64_t journal_bytes_ = 0;
  int64_t bytes_written_ = 0;
};

}  // namespace deja::server
