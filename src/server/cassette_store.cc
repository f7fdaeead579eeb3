#include "server/cassette_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

namespace deja::server {

StatusOr<std::unique_ptr<CassetteStore>> CassetteStore::Open(const CassetteStoreOptions& options) {
  if (options.path.empty()) return InvalidArgumentError("the cassette path is empty");
  DEJA_ASSIGN_OR_RETURN(std::vector<RedactPointer> redact,
                        ParseRedactPointers(options.redact_pointers));
  StatusOr<std::vector<CassetteRecord>> records = ReadCassetteFile(options.path);
  if (!records.ok()) {
    if (records.status().code() != StatusCode::kNotFound) return records.status();
    if (!options.create_if_missing) {
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
  std::unique_ptr<CassetteStore> store(new CassetteStore(options, std::move(redact), used_fd));
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
  return store;
}

CassetteStore::CassetteStore(CassetteStoreOptions options, std::vector<RedactPointer> redact,
                             int used_fd)
    : options_(std::move(options)), redact_(std::move(redact)), used_fd_(used_fd) {}

CassetteStore::~CassetteStore() {
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
  std::optional<Slot> previous;
  if (existing != records_.end()) {
    previous = std::move(existing->second);
    existing->second = std::move(slot);
  } else {
    existing = records_.emplace(entry.key, std::move(slot)).first;
  }
  Status written = WriteLocked();
  if (!written.ok()) {
    // Not acknowledged, so not kept: memory stays equal to the file.
    if (previous) {
      existing->second = std::move(*previous);
    } else {
      records_.erase(existing);
    }
    return written;
  }
  MarkUsedLocked(entry.key);
  return Status::Ok();
}

Status CassetteStore::Delete(const CacheKey& key) {
  {
    std::lock_guard lock(mu_);
    auto it = records_.find(key);
    if (it == records_.end()) return NotFoundError("not recorded");
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
  s.bytes = file_bytes_;
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
  return Status::Ok();
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
