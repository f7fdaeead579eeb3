// Building the semantic tier for `deja serve` (and tests): the embedder from SemanticOptions, the
// cache, and its persistence under <data_dir>/semantic/ (semantic_index_file.h).
//
//   StatusOr<std::unique_ptr<SemanticCache>> cache = OpenSemanticCache(options, store, nullptr);
//   deps.semantic = cache->get();
//   ... on shutdown (and every semantic.save_interval_s): SaveSemanticCache(**cache, options);
//
// On open the saved index is loaded when it was made by the same embedder (kind and dimensions) and
// passes its checksum, then entries the store no longer has are dropped; otherwise the index is
// rebuilt from the store (every eligible entry re-embedded), logged with counts and time on stderr.
//
// Thread safety: call from one thread at start-up / shutdown; SaveSemanticCache may run while the
// gateway serves.
#pragma once

#include <memory>
#include <string>

#include "deja/gateway_options.h"
#include "deja/store.h"
#include "semantic/embedder.h"
#include "semantic/semantic_cache.h"

namespace deja::server {

// SemanticOptions -> the cache's own options.
semantic::SemanticCacheOptions SemanticCacheOptionsFrom(const SemanticOptions& options);
// SemanticOptions -> the embedder's options.
semantic::EmbedderOptions EmbedderOptionsFrom(const SemanticOptions& options);

// <data_dir>/semantic/index.bin
std::string SemanticIndexPath(const GatewayOptions& options);

// `embedder` null: built with MakeEmbedder(EmbedderOptionsFrom(options.semantic)).
StatusOr<std::unique_ptr<semantic::SemanticCache>> OpenSemanticCache(
    const GatewayOptions& options, Store& store,
    std::shared_ptr<const semantic::Embedder> embedder = nullptr);

Status SaveSemanticCache(const semantic::SemanticCache& cache, const GatewayOptions& options);

}  // namespace deja::server
