// VectorIndex: nearest-neighbour search over embedding vectors, the lookup of deja's semantic
// cache.
//
// Vectors are L2-normalized embeddings; similarity is the inner product (= cosine), higher is
// closer. Each vector is named by a caller-chosen 64-bit id (the semantic cache uses it to find the
// store entry). Engines, chosen by IndexOptions::kind:
//   "flat"  exact scan over contiguous floats: the recall reference, and the right choice for small
//           partitions (below ~10k vectors a scan is as fast as a graph walk). With compress = true
//           it scans TurboQuant codes (turbo_quant.h) instead and reranks the best candidates with
//           the float vectors, or (rerank = false) keeps only the codes.
//   "hnsw"  approximate search over an HNSW graph (hnswlib behind an adapter, hnsw_index.h).
//   "ivfpq" FAISS IVF-PQ (ivfpq_index.h) for very large partitions: exact flat search until
//           ivf_train_size vectors exist, then an inverted file of product-quantized codes whose
//           candidates are reranked with float vectors (exact scores) unless rerank = false.
//
//   IndexOptions opts;
//   opts.kind = "hnsw";
//   opts.dimensions = 384;
//   StatusOr<std::unique_ptr<VectorIndex>> index = MakeIndex(opts);
//   (*index)->Add(42, embedding);
//   StatusOr<std::vector<VectorIndex::Hit>> hits = (*index)->Search(query, 5);  // best first
//   (*index)->Save(path);                        // on shutdown
//   index = LoadIndex(opts, path);               // on start; DataLoss => rebuild from the store
//
// Thread safety: every method may be called concurrently from many threads. Each engine guards its
// state with a reader-writer lock: Search, GetVector, size, MemoryBytes and Save take it shared (so
// searches run in parallel with each other and with Save), Add and Remove take it exclusive (a
// search waits for at most one insertion, ~0.1-1 ms for HNSW; once, seconds, for the Add that
// trains IVF-PQ). A waiting writer goes ahead of searches that arrive after it, so a steady search
// load cannot starve Add. Save blocks writers, not readers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "deja/status.h"

namespace deja {

class VectorIndex {
 public:
  virtual ~VectorIndex() = default;

  struct Hit {
    uint64_t id;
    float score;  // inner product with the query (cosine for normalized vectors)
  };

  // Adds `vec` under `id`, replacing the vector already stored under `id` if any. InvalidArgument
  // when vec.size() != dimensions() or a value is not finite.
  virtual Status Add(uint64_t id, std::span<const float> vec) = 0;
  // Adds vecs[i * dimensions() ...] under ids[i], using up to `threads` threads where the engine
  // can (HNSW inserts in parallel). Meant for bulk (re)builds: other calls wait until it returns.
  // Default: Add one by one.
  virtual Status AddBatch(std::span<const uint64_t> ids, std::span<const float> vecs,
                          int threads = 1);
  // NotFound when `id` is absent. A removed id is never returned by Search.
  virtual Status Remove(uint64_t id) = 0;
  // The (up to) k stored vectors with the highest inner product with `query`, best first.
  virtual StatusOr<std::vector<Hit>> Search(std::span<const float> query, size_t k) const = 0;
  // Copies the vector stored under `id` into `out`, exactly as it was added (no engine normalizes
  // or transforms it). NotFound when `id` is absent; FailedPrecondition when the engine keeps only
  // codes (compress or ivfpq with rerank = false), from which the floats cannot be recovered.
  virtual Status GetVector(uint64_t id, std::vector<float>* out) const = 0;
  virtual size_t size() const = 0;
  virtual int dimensions() const = 0;
  // Writes the index to `path` atomically (a temporary file in the same directory, fsync, rename),
  // with a checksum that LoadIndex verifies.
  virtual Status Save(const std::string& path) const = 0;
  // Heap bytes held by the index (vectors, graph, codes, id maps), approximately.
  virtual size_t MemoryBytes() const = 0;
};

// Options of one index. Validate() says what is wrong with them.
struct IndexOptions {
  std::string kind = "hnsw";  // "flat", "hnsw" or "ivfpq"
  int dimensions = 0;         // required, > 0
  // HNSW: initial capacity (also after LoadIndex, if larger than the saved index). The graph grows
  // (doubling) when it is full, which briefly blocks searches, so set it near the expected size.
  // Reserving costs ~60 bytes per slot up front plus address space for the vectors (touched only
  // when used).
  size_t max_elements = 1 << 20;
  int hnsw_m = 16;            // HNSW: links per node (2x on the base layer); more = better recall
  int ef_construction = 200;  // HNSW: candidate list size while inserting; more = better graph
  int ef_search = 64;         // HNSW: candidate list size while searching (>= k is used)
  bool compress = false;      // flat only: scan TurboQuant codes (see turbo_quant.h)
  int compress_bits = 4;      // bits per coordinate of a code, 2..5 (one of them is the QJL sign)
  bool rerank = true;         // compress / ivfpq: keep floats and rerank candidates exactly
  int rerank_factor = 10;     // rerank: rescore rerank_factor * k code-scan candidates
  // IVF-PQ (kind "ivfpq"); 0 = chosen automatically (see ivfpq_index.h for the rules).
  int ivf_nlist = 0;          // coarse clusters; auto: ~4 sqrt(n) at training, at most n / 39
  int ivf_nprobe = 0;         // clusters scanned per search (the recall/latency knob)
  int pq_m = 0;               // subquantizers = code bytes; must divide dimensions
  int pq_nbits = 8;           // bits per subquantizer code, 4..8
  size_t ivf_train_size = 0;  // vectors before training; auto: max(39 * nlist, 10000)
  uint64_t seed = 0x5eed;     // randomness of the HNSW levels and the TurboQuant rotation

  Status Validate() const;
};

// A new, empty index.
StatusOr<std::unique_ptr<VectorIndex>> MakeIndex(const IndexOptions& options);

// The index saved at `path` by VectorIndex::Save. Structural options (kind, dimensions, compress)
// must match the file (InvalidArgument otherwise); search-time options (ef_search, rerank_factor,
// ivf_nprobe) are taken from `options`. DataLoss when the file is corrupt or truncated (the
// checksum does not match): the caller should rebuild the index from the store. NotFound when there
// is no file.
StatusOr<std::unique_ptr<VectorIndex>> LoadIndex(const IndexOptions& options,
                                                 const std::string& path);

}  // namespace deja
