// Persistence of the semantic cache (semantic_cache.h) beside the store: save on shutdown (and
// periodically), load on start, rebuild from the store when the file is missing, corrupt or was
// made by another embedder.
//
// File (<data_dir>/semantic/index.bin): the vector-index container of index_file.h (kind
// IndexKind::kSemanticCache, the embedder's dimensions in its header; written to a unique temporary
// file, fsynced, renamed, directory fsynced; a BLAKE3 trailer makes any torn, truncated or altered
// file DataLoss before a byte of it is parsed). Its payload, little-endian:
//   u32 payload version (2) | u32 len + embedder name | u64 entry count
//   per entry: 32-byte cache key | 32-byte partition signature | 32-byte evidence pool |
//              u8 orphan | u32 len + question |
//              dimensions x f32 vector | u32 n + n x (f32 similarity, u8 correct) observations
// A crash while saving leaves the old file or the new one. A file of another layout (a vector
// index, the pre-container "DEJASEM1" format, another payload version) is DataLoss: the caller
// rebuilds from the store.
// The vectors are what is expensive to recompute (an embedder pass over every entry); the
// per-partition indexes are rebuilt from them in memory on load (a flat add is a copy; HNSW
// partitions are inserted in a batch).
//
// Thread safety: functions are independent; Save reads a snapshot of the cache.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "deja/status.h"
#include "deja/store.h"
#include "semantic/semantic_cache.h"

namespace deja::semantic {

// Writes the cache's entries to `path` atomically.
Status SaveSemanticIndex(const SemanticCache& cache, const std::string& path);

// The entries saved at `path`. NotFound: no file. DataLoss: torn, corrupt, or not this format.
// FailedPrecondition: made by another embedder (name or dimensions differ): rebuild. Unavailable:
// the file could not be read.
StatusOr<std::vector<PersistedEntry>> LoadSemanticIndex(const std::string& path,
                                                        std::string_view embedder_name,
                                                        int dimensions);

struct RebuildStats {
  int64_t scanned = 0;  // store entries looked at
  int64_t indexed = 0;  // added to the cache (as orphans: their tenant is unknown)
  int64_t skipped = 0;  // not eligible, failed the quality filter, or not a cached route answer
  int64_t millis = 0;
};

// Re-indexes every eligible, unexpired store entry: splits its canonical request, embeds the
// question (in batches), applies the quality filter to answer_text(route, response) when given.
// Entries go into orphan partitions (semantic_cache.h).
// `stop` (optional) is checked between store entries: once it reads true the rebuild ends before
// the next batch is embedded and returns Cancelled, the entries of earlier batches left in the
// cache.
StatusOr<RebuildStats> RebuildSemanticIndex(
    Store& store, SemanticCache& cache,
    const std::function<std::string(Route, const CachedResponse&)>& answer_text,
    const std::atomic<bool>* stop = nullptr);

}  // namespace deja::semantic
