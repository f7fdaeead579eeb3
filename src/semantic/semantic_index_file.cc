#include "semantic/semantic_index_file.h"

#include <chrono>
#include <memory>
#include <span>

#include "semantic/index_file.h"
#include "semantic/quality_filter.h"

namespace deja::semantic {
namespace {

// The payload's own layout version, below the container's format version.
constexpr uint32_t kPayloadVersion = 2;  // 2: each entry's evidence pool

// Buffers a payload's fields for IndexFileWriter::Write.
template <typename T>
void Put(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof v);
}

void PutString(std::string* out, std::string_view s) {
  Put<uint32_t>(out, static_cast<uint32_t>(s.size()));
  out->append(s);
}

template <typename T>
Status Get(vindex::IndexFileReader& r, T* v) {
  return r.Read(v, sizeof *v);
}

Status GetString(vindex::IndexFileReader& r, std::string* s) {
  uint32_t n = 0;
  DEJA_RETURN_IF_ERROR(Get(r, &n));
  DEJA_ASSIGN_OR_RETURN(std::span<const uint8_t> bytes, r.Take(n));
  s->assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return Status::Ok();
}

Status ReadEntry(vindex::IndexFileReader& r, uint32_t dims, PersistedEntry* e) {
  uint8_t orphan = 0;
  uint32_t observations = 0;
  DEJA_RETURN_IF_ERROR(r.Read(e->key.bytes.data(), e->key.bytes.size()));
  DEJA_RETURN_IF_ERROR(r.Read(e->partition.data(), e->partition.size()));
  DEJA_RETURN_IF_ERROR(r.Read(e->pool.data(), e->pool.size()));
  DEJA_RETURN_IF_ERROR(Get(r, &orphan));
  DEJA_RETURN_IF_ERROR(GetString(r, &e->question));
  e->vector.resize(dims);
  DEJA_RETURN_IF_ERROR(r.Read(e->vector.data(), size_t{dims} * sizeof(float)));
  DEJA_RETURN_IF_ERROR(Get(r, &observations));
  e->orphan = orphan != 0;
  for (uint32_t j = 0; j < observations; ++j) {
    VerificationObservation o;
    uint8_t correct = 0;
    DEJA_RETURN_IF_ERROR(Get(r, &o.similarity));
    DEJA_RETURN_IF_ERROR(Get(r, &correct));
    o.correct = correct != 0;
    e->observations.push_back(o);
  }
  return Status::Ok();
}

}  // namespace

Status SaveSemanticIndex(const SemanticCache& cache, const std::string& path) {
  const std::vector<PersistedEntry> entries = cache.Snapshot();
  const uint32_t dims = static_cast<uint32_t>(cache.embedder().dimensions());
  DEJA_ASSIGN_OR_RETURN(
      std::unique_ptr<vindex::IndexFileWriter> writer,
      vindex::IndexFileWriter::Create(path, vindex::IndexKind::kSemanticCache, dims));
  std::string out;
  Put<uint32_t>(&out, kPayloadVersion);
  PutString(&out, cache.embedder().name());
  Put<uint64_t>(&out, entries.size());
  for (const PersistedEntry& e : entries) {
    out.append(reinterpret_cast<const char*>(e.key.bytes.data()), e.key.bytes.size());
    out.append(reinterpret_cast<const char*>(e.partition.data()), e.partition.size());
    out.append(reinterpret_cast<const char*>(e.pool.data()), e.pool.size());
    Put<uint8_t>(&out, e.orphan ? 1 : 0);
    PutString(&out, e.question);
    out.append(reinterpret_cast<const char*>(e.vector.data()), e.vector.size() * sizeof(float));
    Put<uint32_t>(&out, static_cast<uint32_t>(e.observations.size()));
    for (const VerificationObservation& o : e.observations) {
      Put<float>(&out, o.similarity);
      Put<uint8_t>(&out, o.correct ? 1 : 0);
    }
    // The writer buffers and hashes; handing it entry by entry keeps `out` small.
    DEJA_RETURN_IF_ERROR(writer->Write(out.data(), out.size()));
    out.clear();
  }
  DEJA_RETURN_IF_ERROR(writer->Write(out.data(), out.size()));
  return writer->Commit();
}

StatusOr<std::vector<PersistedEntry>> LoadSemanticIndex(const std::string& path,
                                                        std::string_view embedder_name,
                                                        int dimensions) {
  DEJA_ASSIGN_OR_RETURN(std::unique_ptr<vindex::IndexFileReader> reader,
                        vindex::IndexFileReader::Open(path));
  if (reader->kind() != vindex::IndexKind::kSemanticCache) {
    return DataLossError(path + " holds a vector index, not the semantic cache");
  }
  uint32_t version = 0;
  std::string name;
  uint64_t count = 0;
  DEJA_RETURN_IF_ERROR(Get(*reader, &version));
  if (version != kPayloadVersion) {
    return DataLossError(path + " has unsupported semantic payload version " +
                         std::to_string(version));
  }
  DEJA_RETURN_IF_ERROR(GetString(*reader, &name));
  DEJA_RETURN_IF_ERROR(Get(*reader, &count));
  const uint32_t dims = reader->dimensions();
  if (name != embedder_name || static_cast<int64_t>(dims) != dimensions) {
    return FailedPreconditionError(path + " was made by embedder " + name + " (" +
                                   std::to_string(dims) + " dimensions)");
  }
  std::vector<PersistedEntry> out;
  for (uint64_t i = 0; i < count; ++i) {
    PersistedEntry e;
    if (Status st = ReadEntry(*reader, dims, &e); !st.ok()) {
      return DataLossError(path + ": entry " + std::to_string(i) + ": " + st.message());
    }
    out.push_back(std::move(e));
  }
  if (reader->remaining() != 0) return DataLossError(path + ": trailing bytes");
  return out;
}

StatusOr<RebuildStats> RebuildSemanticIndex(
    Store& store, SemanticCache& cache,
    const std::function<std::string(Route, const CachedResponse&)>& answer_text,
    const std::atomic<bool>* stop) {
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
  auto stopped = [&] { return stop != nullptr && stop->load(std::memory_order_relaxed); };
  Status scan = store.Scan(so, [&](const Entry& e) {
    if (stopped()) return false;
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
  if (stopped()) return CancelledError("rebuilding the semantic index was stopped");
  DEJA_RETURN_IF_ERROR(flush());
  stats.millis = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - start)
                     .count();
  return stats;
}

}  // namespace deja::semantic
