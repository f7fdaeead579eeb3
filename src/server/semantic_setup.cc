#include "server/semantic_setup.h"

#include <cstdio>
#include <filesystem>
#include <vector>

#include "semantic/semantic_index_file.h"
#include "server/answer_compare.h"
#include "server/upstream_embedding_transport.h"

namespace deja::server {

semantic::SemanticCacheOptions SemanticCacheOptionsFrom(const SemanticOptions& s) {
  semantic::SemanticCacheOptions o;
  o.query_turns = s.query_turns;
  o.max_false_hit_rate = s.max_false_hit_rate;
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

StatusOr<std::unique_ptr<semantic::SemanticCache>> OpenSemanticCache(
    const GatewayOptions& options, Store& store,
    std::shared_ptr<const semantic::Embedder> embedder) {
  if (embedder == nullptr) {
    DEJA_ASSIGN_OR_RETURN(std::unique_ptr<semantic::Embedder> made,
                          semantic::MakeEmbedder(EmbedderOptionsFrom(options.semantic)));
    embedder = std::move(made);
  }
  if (embedder->dimensions() == 0) {
    // A remote embedder learns its dimension from its first answer; the index needs it now.
    std::vector<float> probe;
    if (Status st = embedder->Embed("deja dimension probe", &probe); !st.ok()) {
      std::fprintf(stderr,
                   "deja: the embedder could not be reached (%s): semantic lookups fail open to "
                   "exact-only until a restart finds it\n",
                   st.ToString().c_str());
    }
  }
  auto cache = std::make_unique<semantic::SemanticCache>(SemanticCacheOptionsFrom(options.semantic),
                                                         embedder);
  const std::string path = SemanticIndexPath(options);
  StatusOr<std::vector<semantic::PersistedEntry>> loaded =
      semantic::LoadSemanticIndex(path, embedder->name(), embedder->dimensions());
  if (loaded.ok()) {
    const size_t n = loaded->size();
    (void)cache->Restore(std::move(*loaded));
    StatusOr<int64_t> pruned = semantic::PruneSemanticIndex(store, *cache);
    std::fprintf(stderr,
                 "deja: semantic index loaded from %s: %zu entries (%lld gone from the store)\n",
                 path.c_str(), n, pruned.ok() ? static_cast<long long>(*pruned) : -1LL);
    return cache;
  }
  if (loaded.status().code() != StatusCode::kNotFound) {
    std::fprintf(stderr, "deja: semantic index %s unusable (%s): rebuilding from the store\n",
                 path.c_str(), loaded.status().ToString().c_str());
  }
  StatusOr<semantic::RebuildStats> rebuilt =
      semantic::RebuildSemanticIndex(store, *cache, [](Route route, const CachedResponse& r) {
        StatusOr<std::string> text = AnswerText(route, r);
        return text.ok() ? *text : std::string();
      });
  if (!rebuilt.ok()) {
    // Fail open: an empty index fills up again as answers are stored.
    std::fprintf(stderr, "deja: rebuilding the semantic index failed: %s (starting empty)\n",
                 rebuilt.status().ToString().c_str());
    return cache;
  }
  std::fprintf(stderr,
               "deja: semantic index rebuilt from the store: %lld of %lld entries indexed in %lld "
               "ms\n",
               static_cast<long long>(rebuilt->indexed), static_cast<long long>(rebuilt->scanned),
               static_cast<long long>(rebuilt->millis));
  return cache;
}

Status SaveSemanticCache(const semantic::SemanticCache& cache, const GatewayOptions& options) {
  const std::string path = SemanticIndexPath(options);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (ec) return InternalError("cannot create " + path + "'s directory: " + ec.message());
  return semantic::SaveSemanticIndex(cache, path);
}

}  // namespace deja::server
