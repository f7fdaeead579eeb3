// Building the semantic tier for `deja serve` (and tests): the embedder from SemanticOptions, the
// cache, and its persistence under <data_dir>/semantic/ (semantic_index_file.h).
//
//   StatusOr<std::unique_ptr<SemanticCache>> cache = OpenSemanticCache(options, store, nullptr);
//   deps.semantic = cache->get();
//   ... on shutdown (and every semantic.save_interval_s): SaveSemanticCache(**cache, options);
//
// On open the saved index is loaded when it was made by the same embedder (kind and dimensions) and
// passes its checksum, less the entries the store no longer has; otherwise the index is rebuilt
// from the store (every eligible entry re-embedded), logged with counts and time on stderr.
//
// A remote embedder without a configured dimension learns it from its first answer (one probe at
// open). When the endpoint is down then, the load waits: OpenSemanticCache returns an empty cache
// and sets *index_deferred. Lookups fail open to exact-only meanwhile (each failed embedding is an
// embedder error); once the endpoint answers, the first embedding fixes the dimension and the tier
// serves at once (new answers are indexed, partitions are made at their first entry). The caller
// then calls LoadDeferredSemanticIndex now and then (serve: every kDeferredIndexRetrySeconds, and
// once at shutdown without probing) until it returns true: it probes while the dimension is still
// unknown (through the breaker: refused without a call while the circuit is open), then loads the
// saved index or rebuilds from the store into the live cache (entries admitted meanwhile are kept,
// semantic_cache.h Restore). Do not SaveSemanticCache before it has: the file on disk holds the
// entries still to be loaded.
//
// Thread safety: OpenSemanticCache and LoadDeferredSemanticIndex from one thread (LoadDeferred may
// run while the gateway serves; never concurrently with SaveSemanticCache); SaveSemanticCache may
// run while the gateway serves.
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

// How often serve retries a deferred index load.
inline constexpr int kDeferredIndexRetrySeconds = 5;

// `embedder` null: built with MakeEmbedder(EmbedderOptionsFrom(options.semantic)).
// `index_deferred` (optional) is set when the index load waits for the embedder's dimension (see
// above); without it such a cache simply starts empty.
StatusOr<std::unique_ptr<semantic::SemanticCache>> OpenSemanticCache(
    const GatewayOptions& options, Store& store,
    std::shared_ptr<const semantic::Embedder> embedder = nullptr, bool* index_deferred = nullptr);

// Completes a deferred open (see above): true once the index is loaded or rebuilt (call no more),
// false while the embedder's dimension is unknown (after a failed probe when `probe`).
bool LoadDeferredSemanticIndex(const GatewayOptions& options, Store& store,
                               semantic::SemanticCache& cache, bool probe = true);

// FailedPrecondition (and the file is left alone) while the embedder's dimension is unknown.
Status SaveSemanticCache(const semantic::SemanticCache& cache, const GatewayOptions& options);

}  // namespace deja::server
