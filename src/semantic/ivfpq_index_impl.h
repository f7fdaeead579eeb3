// Internals of IvfPqIndex shared by ivfpq_index.cc (training, add, remove, search) and
// ivfpq_index_io.cc (save, load). Not part of the API: include it only from those two files (with
// them, it is the only place faiss headers appear).
//
// Thread safety: Impl's members are guarded by Impl::mu as ivfpq_index.h documents; the helpers
// are thread-safe.
#pragma once

#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/impl/IDSelector.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <numeric>
#include <vector>

#include "semantic/distance.h"
#include "semantic/flat_index.h"
#include "semantic/ivfpq_index.h"
#include "semantic/rw_lock.h"

namespace deja {
namespace ivfpq {

using idx_t = faiss::Index::idx_t;

constexpr uint32_t kPayloadVersion = 1;
constexpr uint32_t kFlagTrained = 1;  // the payload holds a trained faiss index
constexpr uint32_t kFlagFloats = 2;   // the payload ends with a flat index of the float vectors

// Maps the exception being handled (faiss throws) to a Status naming `op`.
Status FromException(const char* op);

// Sets the OpenMP thread count of the calling thread (libgomp keeps it per thread) for a scope.
class OmpThreads {
 public:
  explicit OmpThreads(int threads) : previous_(omp_get_max_threads()) {
    omp_set_num_threads(std::max(1, threads));
  }
  ~OmpThreads() { omp_set_num_threads(previous_); }
  OmpThreads(const OmpThreads&) = delete;
  OmpThreads& operator=(const OmpThreads&) = delete;

 private:
  int previous_;
};

// Clusters probed per query when ivf_nprobe is 0.
int AutoNprobe(int nlist);
// The vector count at which training happens.
size_t TrainSize(const IndexOptions& o);
// Options of the FlatIndex that holds the floats.
IndexOptions FlatOptions(int dims);

inline const idx_t* AsFaissIds(const uint64_t* ids) {
  // Same size, and accessing an object through the signed variant of its type is allowed.
  static_assert(sizeof(idx_t) == sizeof(uint64_t));
  return reinterpret_cast<const idx_t*>(ids);
}

}  // namespace ivfpq

struct IvfPqIndex::Impl {
  using idx_t = ivfpq::idx_t;

  explicit Impl(const IndexOptions& o)
      : dims(o.dimensions),
        keep_floats(o.rerank),
        rerank_factor(o.rerank_factor),
        nlist_option(o.ivf_nlist),
        m_option(o.pq_m),
        nbits(o.pq_nbits),
        train_size(ivfpq::TrainSize(o)),
        seed(o.seed),
        nprobe_option(o.ivf_nprobe) {}

  // REQUIRES: mu held (shared is enough), trained.
  bool Contains(idx_t id) const { return ivf->direct_map.hashtable.count(id) != 0; }
  // REQUIRES: trained, mu held. Points at the cluster centres (the quantizer's floats); false if
  // the quantizer is not a flat index (a foreign file).
  bool FindCentres() {
    const auto* flat = dynamic_cast<const faiss::IndexFlat*>(ivf->quantizer);
    if (flat == nullptr || flat->ntotal != static_cast<idx_t>(ivf->nlist) || flat->d != dims) {
      return false;
    }
    centres = flat->get_xb();
    return true;
  }
  // REQUIRES: trained, mu held. The `nprobe` clusters whose centres have the highest inner
  // product with x, best first, and those inner products: what faiss's IndexFlatIP quantizer
  // computes, but with deja's AVX2 kernel (Debian's faiss is built for baseline x86-64 and scans
  // centres with scalar code, ~90 us per query per 256 centres of 384 dimensions).
  void Coarse(const float* x, size_t nprobe, idx_t* keys, float* dis) const {
    const size_t nlist = ivf->nlist;
    std::vector<float> scores(nlist);
    vindex::DotProducts(x, centres, nlist, static_cast<size_t>(dims), scores.data());
    std::vector<idx_t> order(nlist);
    std::iota(order.begin(), order.end(), idx_t{0});
    std::partial_sort(order.begin(), order.begin() + nprobe, order.end(), [&](idx_t a, idx_t b) {
      return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
    });
    for (size_t i = 0; i < nprobe; ++i) {
      keys[i] = order[i];
      dis[i] = scores[order[i]];
    }
  }
  void ResolveNprobe() {
    const int nlist = static_cast<int>(ivf->nlist);
    nprobe = nprobe_option > 0 ? std::min(nprobe_option, nlist) : ivfpq::AutoNprobe(nlist);
  }
  // REQUIRES: mu held exclusively, not trained. Trains on (a sample of) the vectors in `floats`
  // and encodes all of them; drops the floats afterwards unless they are kept for reranking. On
  // failure nothing changes.
  Status Train(int threads);
  // REQUIRES: mu held exclusively, trained. Removes the codes of `ids` that are present.
  void RemoveCodes(const std::vector<idx_t>& ids) {
    if (ids.empty()) return;
    faiss::IDSelectorArray selector(ids.size(), ids.data());
    ivf->remove_ids(selector);
  }

  const int dims;
  const bool keep_floats;
  const int rerank_factor;
  const int nlist_option;
  const int m_option;
  const int nbits;
  const size_t train_size;
  const uint64_t seed;
  int nprobe_option;  // 0 = automatic
  int nprobe = 0;     // in effect once trained

  mutable vindex::RwLock mu;
  // Every vector before training; afterwards the floats for reranking, or null (rerank = false).
  std::unique_ptr<FlatIndex> floats;
  std::unique_ptr<faiss::IndexIVFPQ> ivf;  // null until trained
  const float* centres = nullptr;          // nlist x dims floats, owned by ivf's quantizer
};

}  // namespace deja
