#include "server/semantic_setup.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <set>
#include <thread>
#include <vector>

#include "semantic/semantic_index_file.h"
#include "server/answer_compare.h"
#include "server/upstream_embedding_transport.h"

namespace deja::server {

semantic::SemanticCacheOptions SemanticCacheOptionsFrom(const SemanticOptions& s) {
  semantic::SemanticCacheOptions o;
  o.query_turns = s.query_turns;
  o.max_false_hit_rate = s.max_false_hit_rate;
  o.bound = s.false_hit_bound == "lookups" ? semantic::FalseHitBound::kLookups
                                           : semantic::FalseHitBound::kServed;
  o.audit_rate = s.audit_rate;
  o.hnsw_threshold = static_cast<size_t>(s.hnsw_threshold);
  o.large_index = s.large_index;
  o.admission.min_score = s.min_admission_score;
  o.admission.near_duplicate_similarity = s.near_duplicate_similarity;
  o.seed = static_cast<uint64_t>(s.seed);
  return o;
}

semantic::EmbedderOptions EmbedderOptionsFrom(const SemanticOptions& s) {
  semantic::EmbedderOptions e;
  e.kind = s.embedder;
  e.model_dir = s.model_dir;
  e.dimensions = s.dimensions;
  if (s.embedder == "remote") {
    e.url = s.remote_url;
    e.model = s.remote_model;
    e.api_key_env = s.remote_api_key_env;
    e.timeout_ms = s.remote_timeout_ms;
    e.transport = NewUpstreamEmbeddingTransport();
  }
  return e;
}

std::string SemanticIndexPath(const GatewayOptions& options) {
  return options.store.data_dir + "/semantic/index.bin";
}

namespace {

// Loaded entries are restored in slices so that lookups running meanwhile (a deferred load while
// the gateway serves) wait for one slice at most.
constexpr size_t kRestoreSlice = 1024;
constexpr std::string_view kProbeText = "deja dimension probe";

bool Stopped(const std::atomic<bool>* stop) {
  return stop != nullptr && stop->load(std::memory_order_relaxed);
}

// Drops the entries whose key the store no longer has (deleted, expired or evicted while deja was
// stopped) before they are restored, so entries admitted meanwhile are never mistaken for them.
// Cancelled once `stop` reads true.
StatusOr<int64_t> KeepStoredEntries(Store& store, std::vector<semantic::PersistedEntry>* entries,
                                    const std::atomic<bool>* stop) {
  std::set<CacheKey> live;
  ScanOptions so;
  so.with_response = false;
  DEJA_RETURN_IF_ERROR(store.Scan(so, [&](const Entry& e) {
    live.insert(e.key);
    return !Stopped(stop);
  }));
  if (Stopped(stop)) return CancelledError("stopped");
  const size_t before = entries->size();
  std::erase_if(*entries,
                [&](const semantic::PersistedEntry& e) { return live.count(e.key) == 0; });
  return static_cast<int64_t>(before - entries->size());
}

// Loads the saved index into `cache`, else rebuilds it from the store; logs what happened and fails
// open (an index that cannot be rebuilt starts empty and fills up as answers are stored).
// False when `stop` interrupted it (between restore slices or rebuild batches): the cache then
// holds part of the index. REQUIRES: the embedder's dimension is known.
bool LoadOrRebuildSemanticIndex(const GatewayOptions& options, Store& store,
                                semantic::SemanticCache& cache,
                                const std::atomic<bool>* stop = nullptr) {
  const semantic::Embedder& embedder = cache.embedder();
  const std::string path = SemanticIndexPath(options);
  StatusOr<std::vector<semantic::PersistedEntry>> loaded =
      semantic::LoadSemanticIndex(path, embedder.name(), embedder.dimensions());
  if (loaded.ok()) {
    StatusOr<int64_t> gone = KeepStoredEntries(store, &*loaded, stop);
    const size_t n = loaded->size();
    for (size_t at = 0; at < n; at += kRestoreSlice) {
      if (Stopped(stop)) {
        std::fprintf(stderr, "deja: loading the semantic index stopped after %zu of %zu entries\n",
                     at, n);
        return false;
      }
      const auto first = loaded->begin() + static_cast<std::ptrdiff_t>(at);
      const auto last =
          loaded->begin() + static_cast<std::ptrdiff_t>(std::min(n, at + kRestoreSlice));
      (void)cache.Restore(std::vector<semantic::PersistedEntry>(std::make_move_iterator(first),
                                                                std::make_move_iterator(last)));
    }
    std::fprintf(stderr,
                 "deja: semantic index loaded from %s: %zu entries (%lld gone from the store)\n",
                 path.c_str(), n, gone.ok() ? static_cast<long long>(*gone) : -1LL);
    return true;
  }
  if (loaded.status().code() != StatusCode::kNotFound) {
    std::fprintf(stderr, "deja: semantic index %s unusable (%s): rebuilding from the store\n",
                 path.c_str(), loaded.status().ToString().c_str());
  }
  StatusOr<semantic::RebuildStats> rebuilt = semantic::RebuildSemanticIndex(
      store, cache,
      [](Route route, const CachedResponse& r) {
        StatusOr<std::string> text = AnswerText(route, r);
        return text.ok() ? *text : std::string();
      },
      stop);
  if (!rebuilt.ok() && rebuilt.status().code() == StatusCode::kCancelled) {
    std::fprintf(stderr, "deja: rebuilding the semantic index stopped before the end\n");
    return false;
  }
  if (!rebuilt.ok()) {
    std::fprintf(stderr, "deja: rebuilding the semantic index failed: %s (starting empty)\n",
                 rebuilt.status().ToString().c_str());
    return true;
  }
  std::fprintf(stderr,
               "deja: semantic index rebuilt from the store: %lld of %lld entries indexed in %lld "
               "ms\n",
               static_cast<long long>(rebuilt->indexed), static_cast<long long>(rebuilt->scanned),
               static_cast<long long>(rebuilt->millis));
  return true;
}

// True when the embedder's dimension is known, after one probe embedding if it was not.
bool LearnDimension(const semantic::Embedder& embedder, Status* error) {
  if (embedder.dimensions() != 0) return true;
  std::vector<float> probe;
  *error = embedder.Embed(kProbeText, &probe);
  return error->ok() && embedder.dimensions() != 0;
}

}  // namespace

StatusOr<std::unique_ptr<semantic::SemanticCache>> OpenSemanticCache(
    const GatewayOptions& options, Store& store, std::shared_ptr<const semantic::Embedder> embedder,
    bool* index_deferred) {
  if (embedder == nullptr) {
    DEJA_ASSIGN_OR_RETURN(std::unique_ptr<semantic::Embedder> made,
                          semantic::MakeEmbedder(EmbedderOptionsFrom(options.semantic)));
    embedder = std::move(made);
  }
  if (index_deferred != nullptr) *index_deferred = false;
  auto cache = std::make_unique<semantic::SemanticCache>(SemanticCacheOptionsFrom(options.semantic),
                                                         embedder);
  // A remote embedder learns its dimension from its first answer, and the saved index and a rebuild
  // both need it: when the endpoint is down now, they wait until it answers.
  if (Status error; !LearnDimension(*embedder, &error)) {
    std::fprintf(stderr,
                 "deja: the embedder could not be reached (%s): semantic lookups fail open to "
                 "exact-only until it answers; %s\n",
                 error.ToString().c_str(),
                 index_deferred != nullptr
                     ? "the semantic index is loaded (or rebuilt from the store) once it does"
                     : "the semantic index starts empty");
    if (index_deferred != nullptr) *index_deferred = true;
    return cache;
  }
  LoadOrRebuildSemanticIndex(options, store, *cache);
  return cache;
}

bool LoadDeferredSemanticIndex(const GatewayOptions& options, Store& store,
                               semantic::SemanticCache& cache, bool probe,
                               const std::atomic<bool>* stop) {
  const semantic::Embedder& embedder = cache.embedder();
  if (Stopped(stop)) return false;
  if (embedder.dimensions() == 0) {
    Status error;
    if (!probe || !LearnDimension(embedder, &error)) return false;
  }
  std::fprintf(stderr, "deja: the embedder answers (%d dimensions): loading the semantic index\n",
               embedder.dimensions());
  return LoadOrRebuildSemanticIndex(options, store, cache, stop);
}

DeferredSemanticIndexLoader::DeferredSemanticIndexLoader(const GatewayOptions& options,
                                                         Store& store,
                                                         semantic::SemanticCache& cache)
    : options_(options), store_(store), cache_(cache) {}

DeferredSemanticIndexLoader::~DeferredSemanticIndexLoader() { Stop(); }

void DeferredSemanticIndexLoader::Poll() {
  if (loaded() || stop_.load()) return;
  if (worker_.joinable()) {
    if (running_.load()) return;  // one attempt at a time
    worker_.join();
  }
  running_.store(true);
  worker_ = std::thread([this] {
    if (LoadDeferredSemanticIndex(options_, store_, cache_, /*probe=*/true, &stop_)) {
      loaded_.store(true, std::memory_order_release);
    } else if (stop_.load() && cache_.embedder().dimensions() != 0) {
      interrupted_.store(true);  // perhaps part of the index is in (or the probe was cut short)
    }
    running_.store(false);
  });
}

bool DeferredSemanticIndexLoader::loaded() const { return loaded_.load(std::memory_order_acquire); }

void DeferredSemanticIndexLoader::Wait() {
  if (worker_.joinable()) worker_.join();
}

void DeferredSemanticIndexLoader::RequestStop() { stop_.store(true); }

bool DeferredSemanticIndexLoader::Stop() {
  RequestStop();
  Wait();
  return interrupted_.load();
}

Status SaveSemanticCache(const semantic::SemanticCache& cache, const GatewayOptions& options) {
  if (cache.embedder().dimensions() == 0) {
    // Nothing was ever embedded; keep the file (a saved index waiting to be loaded).
    return FailedPreconditionError("the embedder's dimension is not known yet: nothing to save");
  }
  const std::string path = SemanticIndexPath(options);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (ec) return InternalError("cannot create " + path + "'s directory: " + ec.message());
  return semantic::SaveSemanticIndex(cache, path);
}

}  // namespace deja::server
