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
// then calls LoadDeferredSemanticIndex now and then (serve: through DeferredSemanticIndexLoader, on
// a thread of its own, every kDeferredIndexRetrySeconds) until it returns true: it probes while the
// dimension is still unknown (through the breaker: refused without a call while the circuit is
// open), then loads the saved index or rebuilds from the store into the live cache (entries
// admitted meanwhile are kept, semantic_cache.h Restore). Do not SaveSemanticCache before it has:
// the file on disk holds the entries still to be loaded. A load or rebuild over a large store takes
// seconds to minutes, so it can be stopped: a `stop` flag is checked between restore slices (1024
// entries) and rebuild batches (64 embeddings); a stopped load leaves part of the index in the
// cache, which must then not be saved either (the next start loads the file again).
//
// Thread safety: SemanticCache's methods and the Store are thread-safe, so
// LoadDeferredSemanticIndex may run on any one thread while the gateway serves and while the caller
// sweeps the store; it must not overlap another LoadDeferredSemanticIndex of the same cache nor
// SaveSemanticCache (which callers avoid by not saving until the load is done). OpenSemanticCache
// before serving, from one thread. SaveSemanticCache may run while the gateway serves.
// DeferredSemanticIndexLoader: below.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

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
// false while the embedder's dimension is unknown (after a failed probe when `probe`) or when
// `stop` (optional) read true before the load ended (the cache may hold part of the index).
bool LoadDeferredSemanticIndex(const GatewayOptions& options, Store& store,
                               semantic::SemanticCache& cache, bool probe = true,
                               const std::atomic<bool>* stop = nullptr);

// Runs the attempts of LoadDeferredSemanticIndex (probing) for `deja serve` on a thread of its own,
// one at a time, so that a long rebuild neither delays serve's reaction to SIGTERM nor stalls its
// other periodic work (shadow report, index save, expiry sweep), and shutdown can interrupt it.
// `options`, `store` and `cache` are borrowed and must outlive the loader.
// Thread safety: Poll, Wait and Stop from the owning thread; RequestStop and loaded() from any.
class DeferredSemanticIndexLoader {
 public:
  DeferredSemanticIndexLoader(const GatewayOptions& options, Store& store,
                              semantic::SemanticCache& cache);
  ~DeferredSemanticIndexLoader();  // Stop()
  DeferredSemanticIndexLoader(const DeferredSemanticIndexLoader&) = delete;
  DeferredSemanticIndexLoader& operator=(const DeferredSemanticIndexLoader&) = delete;

  // Starts an attempt on a new thread and returns at once; nothing while one runs, once the index
  // is loaded, or after RequestStop.
  void Poll();
  // True once an attempt has loaded (or rebuilt) the index: from then on it may be saved.
  bool loaded() const;
  // Blocks until the running attempt, if any, has ended.
  void Wait();
  // Asks the running attempt to stop at its next check (see above) and starts no more; returns at
  // once.
  void RequestStop();
  // RequestStop, then Wait. True when an attempt ended unfinished after the embedder's dimension
  // was known: the cache may hold part of the index (do not save it, and do not redo the load).
  bool Stop();

 private:
  const GatewayOptions& options_;
  Store& store_;
  semantic::SemanticCache& cache_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> running_{false};
  std::atomic<bool> loaded_{false};
  std::atomic<bool> interrupted_{false};
  std::thread worker_;
};

// FailedPrecondition (and the file is left alone) while the embedder's dimension is unknown.
Status SaveSemanticCache(const semantic::SemanticCache& cache, const GatewayOptions& options);

}  // namespace deja::server
