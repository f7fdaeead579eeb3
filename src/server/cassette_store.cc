#include "server/cassette_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace deja::server {
namespace {

Status ErrnoStatus(const std::string& what) {
  return UnavailableError(what + ": " + std::strerror(errno));
}

std::string JournalPathFor(const std::string& path) {
  const std::filesystem::path target(path);
  return (target.parent_path() / ("." + target.filename().string() + ".journal")).string();
}

Status SyncDirectoryOf(const std::string& path) {
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return ErrnoStatus("open " + dir.string());
  const int rc = ::fsync(dfd);
  ::close(dfd);
  return rc == 0 ? Status::Ok() : ErrnoStatus("fsync " + dir.string());
}

// A journal's records in append order (NotFound when there is no journal). A last line cut short
// (no newline, or not a record: a crash mid-append) is dropped; a bad line before it is an error.
StatusOr<std::vector<json::Value>> ReadJournal(const std::string& journal) {
  const int fd = ::open(journal.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFoundError("no journal");
    return ErrnoStatus("cannot read " + journal);
  }
  std::string text;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      text.append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      const Status failed = ErrnoStatus("cannot read " + journal);
      ::close(fd);
      return failed;
    }
  }
  ::close(fd);
  std::vector<json::Value> docs;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = text.find('\n', pos);
    if (end == std::string::npos) {
      std::fprintf(stderr, "deja: dropped a torn record at the end of %s (a crash mid-append)\n",
                   journal.c_str());
      break;
    }
    StatusOr<json::Value> doc = json::Parse(std::string_view(text).substr(pos, end - pos));
    const bool last = end + 1 == text.size();
    if (!doc.ok() || !RecordFromJson(*doc).ok()) {
      if (!last) {
        return InvalidArgumentError(journal + ": record " + std::to_string(docs.size()) +
                                    " is not readable; the journal is damaged");
      }
      std::fprintf(stderr, "deja: dropped a torn record at the end of %s (a crash mid-append)\n",
                   journal.c_str());
      break;
    }
    docs.push_back(std::move(*doc));
    pos = end + 1;
  }
  return docs;
}

}  // namespace

StatusOr<std::unique_ptr<CassetteStore>> CassetteStore::Open(const CassetteStoreOptions& options) {
  if (options.path.empty()) return InvalidArgumentError("the cassette path is empty");
  DEJA_ASSIGN_OR_RETURN(std::vector<RedactPointer> redact,
                        ParseRedactPointers(options.redact_pointers));
  const std::string journal = JournalPathFor(options.path);
  StatusOr<std::vector<json::Value>> journaled = ReadJournal(journal);
  if (!journaled.ok() && journaled.status().code() != StatusCode::kNotFound) {
    return journaled.status();
  }
  StatusOr<std::vector<CassetteRecord>> records = ReadCassetteFile(options.path);
  if (!records.ok()) {
    if (records.status().code() != StatusCode::kNotFound) return records.status();
    if (!options.create_if_missing && !journaled.ok()) {
      return NotFoundError(
          "cassette " + options.path +
          " does not exist; record it first (deja serve --mode record --cassette " + options.path +
          ")");
    }
    records = std::vector<CassetteRecord>{};
  }
  int used_fd = -1;
  if (!options.used_log.empty()) {
    used_fd = ::open(options.used_log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (used_fd < 0) {
      return UnavailableError("cannot open the used log " + options.used_log + ": " +
                              std::strerror(errno));
    }
  }
  std::unique_ptr<CassetteStore> store(
      new CassetteStore(options, std::move(redact), used_fd, journal));
  struct stat st;
  if (::stat(options.path.c_str(), &st) == 0) store->file_bytes_ = static_cast<int64_t>(st.st_size);
  // Records are rendered when the file is first rewritten, not here (RenderedLocked): replay never
  // writes, and rendering every record was a quarter of the start-up time.
  for (CassetteRecord& r : *records) {
    const CacheKey key = r.entry.key;
    Slot slot;
    slot.record = std::move(r);
    store->records_.emplace_hint(store->records_.end(), key, std::move(slot));
  }
  if (journaled.ok()) {
    // A previous run ended without closing (kill -9): its acknowledged records are in the
    // journal. They are merged (later lines replace earlier ones) and the cassette compacted now.
    for (const json::Value& doc : *journaled) {
      StatusOr<CassetteRecord> r = RecordFromJson(doc);  // checked readable by ReadJournal
      Slot slot;
      slot.rendered = RenderRecord(doc);
      r->entry.meta.size_bytes = static_cast<int64_t>(slot.rendered.size());
      slot.record = std::move(*r);
      const CacheKey key = slot.record.entry.key;
      store->records_.insert_or_assign(key, std::move(slot));
    }
    std::lock_guard lock(store->mu_);
    DEJA_RETURN_IF_ERROR(store->CompactLocked(/*journal_exists=*/true));
  }
  return store;
}

CassetteStore::CassetteStore(CassetteStoreOptions options, std::vector<RedactPointer> redact,
                             int used_fd, std::string journal_path)
    : options_(std::move(options)),
      redact_(std::move(redact)),
      journal_path_(std::move(journal_path)),
      used_fd_(used_fd) {}

CassetteStore::~CassetteStore() {
  {
    std::lock_guard lock(mu_);
    if (journal_fd_ >= 0) {
      const Status compacted = CompactLocked(/*journal_exists=*/true);
      if (!compacted.ok()) {
        // The journal stays: the next Open merges it, so nothing acknowledged is lost.
        std::fprintf(stderr, "deja: cannot compact the cassette %s (kept in %s): %s\n",
                     options_.path.c_str(), journal_path_.c_str(), compacted.ToString().c_str());
      }
    }
    if (journal_fd_ >= 0) ::close(journal_fd_);
    journal_fd_ = -1;
  }
  if (used_fd_ >= 0) {
    ::fsync(used_fd_);
    ::close(used_fd_);
  }
}

StatusOr<Entry> CassetteStore::Get(const CacheKey& key) {
  std::lock_guard lock(mu_);
  auto it = records_.find(key);
  if (it == records_.end()) return NotFoundError("not recorded");
  EntryMeta& meta = it->second.record.entry.meta;
  ++meta.hit_count;
  meta.last_hit_at_ms = SystemClock()->NowMillis();
  MarkUsedLocked(key);
  return it->second.record.entry;
}

StatusOr<Entry> CassetteStore::Peek(const CacheKey& key) {
  std::lock_guard lock(mu_);
  auto it = records_.find(key);
  if (it == records_.end()) return NotFoundError("not recorded");
  return it->second.record.entry;
}

Status CassetteStore::PutRecord(const Entry& entry, std::string_view keyed_headers) {
  CassetteRecord record;
  record.entry = entry;
  record.entry.meta.expires_at_ms = 0;  // cassettes never expire
  record.keyed_headers = std::string(keyed_headers);
  std::lock_guard lock(mu_);
  auto existing = records_.find(entry.key);
  if (record.keyed_headers.empty() && existing != records_.end()) {
    record.keyed_headers = existing->second.record.keyed_headers;
  }
  // The record kept in memory is the one read back from its redacted JSON, so this process serves
  // exactly what a later replay of the file will serve.
  json::Value doc = RecordToJson(record);
  Redact(redact_, &doc);
  StatusOr<CassetteRecord> stored = RecordFromJson(doc);
  if (!stored.ok())
    return InternalError("cassette record does not read back: " + stored.status().message());
  Slot slot;
  slot.rendered = RenderRecord(doc);
  stored->entry.meta.size_bytes = static_cast<int64_t>(slot.rendered.size());
  slot.record = std::move(*stored);
  // Appended (one compact line) and synced before the record is acknowledged: O(record).
  DEJA_RETURN_IF_ERROR(AppendJournalLocked(json::Write(doc) + "\n"));
  if (existing != records_.end()) {
    existing->second = std::move(slot);
  } else {
    records_.emplace(entry.key, std::move(slot));
  }
  MarkUsedLocked(entry.key);
  return Status::Ok();
}

Status CassetteStore::Delete(const CacheKey& key) {
  {
    std::lock_guard lock(mu_);
    auto it = records_.find(key);
    if (it == records_.end()) return NotFoundError("not recorded");
    // Compact first: a crash after the rewrite below must not bring the record back from the
    // journal.
    DEJA_RETURN_IF_ERROR(CompactLocked(journal_fd_ >= 0));
    Slot removed = std::move(it->second);
    records_.erase(it);
    Status written = WriteLocked();
    if (!written.ok()) {
      records_.emplace(key, std::move(removed));
      return written;
    }
  }
  NotifyRemoved(std::span<const CacheKey>(&key, 1), RemovalCause::kDeleted);
  return Status::Ok();
}

void CassetteStore::NotifyRemoved(std::span<const CacheKey> keys, RemovalCause cause) const {
  if (options_.removal_listener != nullptr && !keys.empty()) {
    options_.removal_listener->OnRemoved(keys, cause);
  }
}

bool CassetteStore::Matches(const ScanOptions& o, const Entry& e) {
  if (o.filter_namespace && e.meta.name_space != o.name_space) return false;
  if (!o.model.empty() && e.meta.model != o.model) return false;
  if (o.created_before_ms > 0 && e.meta.created_at_ms >= o.created_before_ms) return false;
  return true;
}

Status CassetteStore::Scan(const ScanOptions& options,
                           const std::function<bool(const Entry&)>& fn) {
  std::vector<Entry> matching;
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, slot] : records_) {
      if (Matches(options, slot.record.entry)) matching.push_back(slot.record.entry);
    }
  }
  for (const Entry& e : matching) {
    if (!fn(e)) break;
  }
  return Status::Ok();
}

void CassetteStore::ForEachRecord(const std::function<bool(const CassetteRecord&)>& fn) {
  std::vector<CassetteRecord> all;
  {
    std::lock_guard lock(mu_);
    all.reserve(records_.size());
    for (const auto& [key, slot] : records_) all.push_back(slot.record);
  }
  for (const CassetteRecord& r : all) {
    if (!fn(r)) break;
  }
}

StatusOr<int64_t> CassetteStore::Purge(const ScanOptions& options) {
  std::vector<CacheKey> purged;
  {
    std::lock_guard lock(mu_);
    std::map<CacheKey, Slot> kept;
    for (auto& [key, slot] : records_) {
      if (Matches(options, slot.record.entry)) {
        purged.push_back(key);
      } else {
        kept.emplace(key, slot);
      }
    }
    if (purged.empty()) return int64_t{0};
    DEJA_RETURN_IF_ERROR(CompactLocked(journal_fd_ >= 0));  // as in Delete
    records_.swap(kept);
    Status written = WriteLocked();
    if (!written.ok()) {
      records_.swap(kept);
      return written;
    }
  }
  NotifyRemoved(purged, RemovalCause::kPurged);
  return static_cast<int64_t>(purged.size());
}

Status CassetteStore::FlushHits() {
  std::lock_guard lock(mu_);
  if (used_fd_ >= 0 && ::fsync(used_fd_) != 0) {
    return UnavailableError("fsync " + options_.used_log + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

StatusOr<StoreStats> CassetteStore::Stats() {
  std::lock_guard lock(mu_);
  StoreStats s;
  s.entries = static_cast<int64_t>(records_.size());
  s.bytes = file_bytes_ + journal_bytes_;
  return s;
}

const std::string& CassetteStore::RenderedLocked(Slot& slot) {
  if (slot.rendered.empty()) {
    slot.rendered = RenderRecord(RecordToJson(slot.record));
    slot.record.entry.meta.size_bytes = static_cast<int64_t>(slot.rendered.size());
  }
  return slot.rendered;
}

Status CassetteStore::WriteLocked() {
  std::vector<const std::string*> rendered;
  rendered.reserve(records_.size());
  for (auto& [key, slot] : records_) rendered.push_back(&RenderedLocked(slot));
  const std::string contents = RenderCassette(rendered);
  DEJA_RETURN_IF_ERROR(WriteFileAtomically(options_.path, contents));
  file_bytes_ = static_cast<int64_t>(contents.size());
  bytes_written_ += file_bytes_;
  return Status::Ok();
}

Status CassetteStore::AppendJournalLocked(std::string_view line) {
  if (journal_fd_ < 0) {
    journal_fd_ = ::open(journal_path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (journal_fd_ < 0) return ErrnoStatus("cannot create the journal " + journal_path_);
    journal_bytes_ = 0;
    // The journal's directory entry must be durable too, or a crash could lose the whole file.
    Status synced = SyncDirectoryOf(journal_path_);
    if (!synced.ok()) {
      ::close(journal_fd_);
      journal_fd_ = -1;
      return synced;
    }
  }
  std::string_view rest = line;
  Status st = Status::Ok();
  while (!rest.empty()) {
    const ssize_t n = ::write(journal_fd_, rest.data(), rest.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      st = ErrnoStatus("append to " + journal_path_);
      break;
    }
    rest.remove_prefix(static_cast<size_t>(n));
  }
  if (st.ok() && ::fdatasync(journal_fd_) != 0) st = ErrnoStatus("fdatasync " + journal_path_);
  if (!st.ok()) {
    // Not acknowledged, so not kept: cut the journal back so no partial line stays in it.
    if (::ftruncate(journal_fd_, static_cast<off_t>(journal_bytes_)) != 0) {
      std::fprintf(stderr, "deja: cannot truncate %s: %s\n", journal_path_.c_str(),
                   std::strerror(errno));
    }
    return st;
  }
  journal_bytes_ += static_cast<int64_t>(line.size());
  bytes_written_ += static_cast<int64_t>(line.size());
  return Status::Ok();
}

Status CassetteStore::CompactLocked(bool journal_exists) {
  if (!journal_exists) return Status::Ok();
  DEJA_RETURN_IF_ERROR(WriteLocked());
  // The cassette now holds every journaled record: the journal can go.
  if (journal_fd_ >= 0) ::close(journal_fd_);
  journal_fd_ = -1;
  journal_bytes_ = 0;
  if (::unlink(journal_path_.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus("remove " + journal_path_);
  }
  return SyncDirectoryOf(journal_path_);
}

int64_t CassetteStore::bytes_written() {
  std::lock_guard lock(mu_);
  return bytes_written_;
}

void CassetteStore::MarkUsedLocked(const CacheKey& key) {
  if (used_fd_ < 0 || !used_.insert(key).second) return;
  const std::string line = key.Hex() + "\n";
  // One write(2) per line with O_APPEND: a line is never torn, and it reaches the file at once
  // (no user-space buffer a kill -9 could lose).
  if (::write(used_fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size()) &&
      !used_log_failed_) {
    used_log_failed_ = true;
    std::fprintf(stderr, "deja: cannot append to the used log %s: %s\n", options_.used_log.c_str(),
                 std::strerror(errno));
  }
}

}  // namespace deja::server
