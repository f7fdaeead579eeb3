#include "semantic/semantic_index_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>

#include "core/blake3.h"
#include "semantic/quality_filter.h"

namespace deja::semantic {
namespace {

constexpr char kMagic[8] = {'D', 'E', 'J', 'A', 'S', 'E', 'M', '1'};
constexpr uint32_t kVersion = 1;

template <typename T>
void Put(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof v);
}

void PutString(std::string* out, std::string_view s) {
  Put<uint32_t>(out, static_cast<uint32_t>(s.size()));
  out->append(s);
}

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  template <typename T>
  bool Get(T* v) {
    if (data_.size() - pos_ < sizeof(T)) return false;
    std::memcpy(v, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool GetBytes(void* out, size_t n) {
    if (data_.size() - pos_ < n) return false;
    std::memcpy(out, data_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  bool GetString(std::string* s) {
    uint32_t n = 0;
    if (!Get(&n) || data_.size() - pos_ < n) return false;
    s->assign(data_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  bool done() const { return pos_ == data_.size(); }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

Status WriteFileAtomically(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return InternalError("cannot create " + tmp + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      ::unlink(tmp.c_str());
      return InternalError("cannot write " + tmp + ": " + std::strerror(errno));
    }
    off += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return InternalError("cannot replace " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace

Status SaveSemanticIndex(const SemanticCache& cache, const std::string& path) {
  const std::vector<PersistedEntry> entries = cache.Snapshot();
  const uint32_t dims = static_cast<uint32_t>(cache.embedder().dimensions());
  std::string out;
  out.reserve(64 + entries.size() * (dims * 4 + 160));
  out.append(kMagic, sizeof kMagic);
  Put<uint32_t>(&out, kVersion);
  PutString(&out, cache.embedder().name());
  Put<uint32_t>(&out, dims);
  Put<uint64_t>(&out, entries.size());
  for (const PersistedEntry& e : entries) {
    out.append(reinterpret_cast<const char*>(e.key.bytes.data()), e.key.bytes.size());
    out.append(reinterpret_cast<const char*>(e.partition.data()), e.partition.size());
    Put<uint8_t>(&out, e.orphan ? 1 : 0);
    PutString(&out, e.question);
    out.append(reinterpret_cast<const char*>(e.vector.data()), e.vector.size() * sizeof(float));
    Put<uint32_t>(&out, static_cast<uint32_t>(e.observations.size()));
    for (const VerificationObservation& o : e.observations) {
      Put<float>(&out, o.similarity);
      Put<uint8_t>(&out, o.correct ? 1 : 0);
    }
  }
  Blake3 h;
  h.Update(out);
  const auto digest = h.Finalize();
  out.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  return WriteFileAtomically(path, out);
}

StatusOr<std::vector<PersistedEntry>> LoadSemanticIndex(const std::string& path,
                                                        std::string_view embedder_name,
                                                        int dimensions) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("no semantic index at " + path);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (data.size() < sizeof kMagic + 32) return DataLossError(path + " is truncated");
  Blake3 h;
  h.Update(std::string_view(data).substr(0, data.size() - 32));
  const auto digest = h.Finalize();
  if (std::memcmp(digest.data(), data.data() + data.size() - 32, 32) != 0) {
    return DataLossError(path + ": checksum mismatch");
  }
  Reader r(std::string_view(data).substr(0, data.size() - 32));
  char magic[8];
  uint32_t version = 0, dims = 0;
  uint64_t count = 0;
  std::string name;
  if (!r.GetBytes(magic, 8) || std::memcmp(magic, kMagic, 8) != 0 || !r.Get(&version) ||
      version != kVersion || !r.GetString(&name) || !r.Get(&dims) || !r.Get(&count)) {
    return DataLossError(path + ": bad header");
  }
  if (name != embedder_name || static_cast<int>(dims) != dimensions) {
    return FailedPreconditionError(path + " was made by embedder " + name + " (" +
                                   std::to_string(dims) + " dimensions)");
  }
  std::vector<PersistedEntry> out;
  for (uint64_t i = 0; i < count; ++i) {
    PersistedEntry e;
    uint8_t orphan = 0;
    uint32_t nobs = 0;
    e.vector.resize(dims);
    if (!r.GetBytes(e.key.bytes.data(), 32) || !r.GetBytes(e.partition.data(), 32) ||
        !r.Get(&orphan) || !r.GetString(&e.question) ||
        !r.GetBytes(e.vector.data(), dims * sizeof(float)) || !r.Get(&nobs)) {
      return DataLossError(path + ": entry " + std::to_string(i) + " is truncated");
    }
    e.orphan = orphan != 0;
    for (uint32_t j = 0; j < nobs; ++j) {
      VerificationObservation o;
      uint8_t correct = 0;
      if (!r.Get(&o.similarity) || !r.Get(&correct)) {
        return DataLossError(path + ": entry " + std::to_string(i) + " is truncated");
      }
      o.correct = correct != 0;
      e.observations.push_back(o);
    }
    out.push_back(std::move(e));
  }
  if (!r.done()) return DataLossError(path + ": trailing bytes");
  return out;
}

StatusOr<RebuildStats> RebuildSemanticIndex(
    Store& store, SemanticCache& cache,
    const std::function<std::string(Route, const CachedResponse&)>& answer_text) {
  const auto start = std::chrono::steady_clock::now();
  RebuildStats stats;
  QueryOptions qo;
  qo.query_turns = cache.options().query_turns;
  std::vector<PersistedEntry> batch;
  auto flush = [&]() -> Status {
    if (batch.empty()) return Status::Ok();
    std::vector<std::string_view> texts;
    for (const PersistedEntry& e : batch) texts.push_back(e.question);
    std::vector<std::vector<float>> vecs;
    DEJA_RETURN_IF_ERROR(cache.embedder().EmbedBatch(texts, &vecs));
    for (size_t i = 0; i < batch.size(); ++i) batch[i].vector = std::move(vecs[i]);
    stats.indexed += static_cast<int64_t>(batch.size());
    Status st = cache.Restore(std::move(batch));
    batch.clear();
    return st;
  };
  Status failed;
  ScanOptions so;
  Status scan = store.Scan(so, [&](const Entry& e) {
    ++stats.scanned;
    const Route route = RouteFromPath(e.meta.route);
    StatusOr<json::Value> body = json::Parse(e.canonical_request);
    if (route == Route::kOther || !body.ok() || e.response.status < 200 ||
        e.response.status >= 300) {
      ++stats.skipped;
      return true;
    }
    ContextScope scope;
    scope.tenant = kOrphanTenant;
    scope.cache_namespace = e.meta.name_space;
    StatusOr<SemanticQuery> q = SplitSemanticQuery(route, *body, qo, scope);
    if (!q.ok() ||
        (answer_text && !AssessForSemanticIndex(q->query, answer_text(route, e.response)).admit)) {
      ++stats.skipped;
      return true;
    }
    PersistedEntry p;
    p.key = e.key;
    p.partition = q->context_signature;
    p.orphan = true;
    p.question = std::move(q->query);
    batch.push_back(std::move(p));
    if (batch.size() >= 64) {
      failed = flush();
      if (!failed.ok()) return false;
    }
    return true;
  });
  DEJA_RETURN_IF_ERROR(scan);
  DEJA_RETURN_IF_ERROR(failed);
  DEJA_RETURN_IF_ERROR(flush());
  stats.millis = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - start)
                     .count();
  return stats;
}

StatusOr<int64_t> PruneSemanticIndex(Store& store, SemanticCache& cache) {
  std::set<CacheKey> live;
  ScanOptions so;
  so.with_response = false;
  DEJA_RETURN_IF_ERROR(store.Scan(so, [&](const Entry& e) {
    live.insert(e.key);
    return true;
  }));
  int64_t dropped = 0;
  for (const PersistedEntry& e : cache.Snapshot()) {
    if (live.count(e.key) == 0 && cache.Remove(e.key)) ++dropped;
  }
  return dropped;
}

}  // namespace deja::semantic
