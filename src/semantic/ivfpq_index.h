// IvfPqIndex: approximate nearest-neighbour search for very large partitions with FAISS's IVF-PQ
// (an inverted file over k-means clusters whose entries are product-quantized codes), behind the
// VectorIndex interface. No faiss type appears in this header.
//
// Life cycle:
//   1. Until `train size` vectors exist (IndexOptions::ivf_train_size; auto: max(39 * nlist, 10000)
//      with an explicit nlist, else 10000) the index is a flat index (flat_index.h): exact search
//      over the floats. IVF-PQ needs training data (k-means for the clusters and for every
//      subquantizer), and a scan of fewer vectors is about as fast anyway.
//   2. The Add or AddBatch that reaches the train size trains on the vectors present (a random
//      sample of at most 64 per cluster) and encodes all of them, before it returns: a one-time
//      cost paid on that caller's thread, under the exclusive lock, so searches wait for it
//      (measured: 4.7 s CPU at 10k 384-d vectors, 22 s to build 100k with AddBatch, 2 min for 1M;
//      docs/semantic.md). Options left at 0 are fixed then, from n = the number of vectors at that
//      moment and d = dimensions:
//        nlist   the largest power of two <= min(4 sqrt(n), n / 39): 256 at 10k, 1024 at 100k,
//                2048 at 1M
//        pq_m    the largest divisor of d that is <= ceil(d / 8): 48 (48-byte codes) for 384-d
//        nprobe  nlist / 32, at least 8 (at most nlist): 8 at nlist 256, 32 at 1024, 64 at 2048
//      The clusters are not retrained as the index grows; an index trained at 10k vectors and grown
//      to millions has long lists (slower searches at the same nprobe). Rebuilding with AddBatch
//      from the store, or an explicit ivf_nlist (~4 sqrt(expected size)), avoids that.
//   3. Then: Add encodes into the inverted file (an existing id is removed first), Remove deletes
//      the code in O(1) (faiss's hashtable direct map), Search scans the nprobe clusters nearest
//      the query for rerank_factor * k candidates and rescores them with the kept float vectors,
//      so scores are exact inner products as with the other engines. With rerank = false the
//      floats are dropped after training (~135 instead of ~1,720 bytes per 384-d vector) and
//      scores are the PQ estimates (approximate: off by a few hundredths). An IVF search may
//      return fewer than k hits when the probed clusters hold fewer vectors.
//      The clusters to probe are picked here with deja's AVX2 kernel (distance.h), then faiss's
//      search_preassigned scans them: Debian's faiss is built for baseline x86-64, and its own
//      quantizer scan is scalar (~90 µs per query per 256 centres of 384 dimensions).
//
// Threads: faiss parallelizes with OpenMP. Add and Remove run it with one thread and AddBatch with
// `threads`, set on the calling thread for the call (omp_set_num_threads) and restored after;
// single-query searches run serially. k-means also calls BLAS (OpenBLAS), which
// has its own thread pool (OPENBLAS_NUM_THREADS).
//
// Thread safety: safe for concurrent use, like the other engines: an RwLock (rw_lock.h) taken
// shared by Search, GetVector, size, MemoryBytes and Save (faiss searches are const and re-entrant)
// and exclusive by Add, AddBatch and Remove, training included.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "semantic/index_file.h"
#include "semantic/vector_index.h"

namespace deja {

class IvfPqIndex final : public VectorIndex {
 public:
  // REQUIRES: options.Validate() is OK and options.kind == "ivfpq".
  static StatusOr<std::unique_ptr<IvfPqIndex>> Create(const IndexOptions& options);
  // Reads the payload of a verified index file of kind kIvfPq. The trained parameters (nlist,
  // pq_m, pq_nbits) come from the file (InvalidArgument if the options set others), and so does
  // whether floats are kept (must match options.rerank once trained); nprobe and rerank_factor
  // come from the options.
  static StatusOr<std::unique_ptr<IvfPqIndex>> Load(const IndexOptions& options,
                                                    vindex::IndexFileReader& reader);
  ~IvfPqIndex() override;

  Status Add(uint64_t id, std::span<const float> vec) override;
  // Below the train size: adds to the flat store, then trains (with `threads`) if the batch
  // reached it. Trained: one faiss add of the whole batch (the last vector given for an id wins).
  Status AddBatch(std::span<const uint64_t> ids, std::span<const float> vecs, int threads) override;
  Status Remove(uint64_t id) override;
  StatusOr<std::vector<Hit>> Search(std::span<const float> query, size_t k) const override;
  // Reads the kept floats (the flat store before training; with rerank after it). Trained with
  // rerank = false only PQ codes are left: FailedPrecondition for an indexed id.
  Status GetVector(uint64_t id, std::vector<float>* out) const override;
  size_t size() const override;
  int dimensions() const override;
  Status Save(const std::string& path) const override;
  size_t MemoryBytes() const override;

  // Whether the IVF-PQ index has been trained (false: searches are exact flat scans).
  bool trained() const;
  // The vector count at which training happens.
  size_t train_size() const;
  // Trained parameters (0 before training).
  int nlist() const;
  int pq_m() const;
  // Clusters scanned per search: the recall/latency knob (clamped to [1, nlist]).
  void set_nprobe(int nprobe);
  int nprobe() const;

 private:
  struct Impl;
  explicit IvfPqIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Checks the ivfpq fields of `options` (called by IndexOptions::Validate for kind "ivfpq").
Status ValidateIvfPqOptions(const IndexOptions& options);

}  // namespace deja
