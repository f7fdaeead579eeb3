#include "semantic/ivfpq_index.h"

#include <faiss/invlists/InvertedLists.h>

#include <cmath>
#include <mutex>
#include <new>
#include <random>
#include <shared_mutex>
#include <stdexcept>
#include <unordered_map>

#include "semantic/ivfpq_index_impl.h"

namespace deja {
namespace {

using ivfpq::idx_t;

constexpr size_t kDefaultTrainSize = 10000;
constexpr int kMinPointsPerCentroid = 39;  // below this faiss's k-means warns
// Training sample: at most this many points per centroid, for the clusters and for the 2^nbits
// codewords of every subquantizer (faiss's default, 256, makes training 4x slower for little gain).
constexpr size_t kSamplePerCentroid = 64;
constexpr int kMaxNlist = 1 << 16;
// faiss fills result slots it could not fill with label -1 and the heap's neutral score (-inf or
// -FLT_MAX for inner products); any real score of unit vectors is far above this.
constexpr float kNoResult = -1e30f;

int FloorPow2(double x) {
  int p = 1;
  while (p < kMaxNlist && 2.0 * p <= x) p *= 2;
  return p;
}

int AutoNlist(size_t n) {
  const double nd = static_cast<double>(n);
  return FloorPow2(std::min(4 * std::sqrt(nd), nd / kMinPointsPerCentroid));
}

int AutoPqM(int dims) {
  for (int m = (dims + 7) / 8; m > 1; --m) {
    if (dims % m == 0) return m;
  }
  return 1;
}

}  // namespace

namespace ivfpq {

Status FromException(const char* op) {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    return ResourceExhaustedError(std::string("ivfpq ") + op + ": out of memory");
  } catch (const std::exception& e) {
    return InternalError(std::string("ivfpq ") + op + ": " + e.what());
  }
}

int AutoNprobe(int nlist) { return std::min(nlist, std::max(8, nlist / 32)); }

size_t TrainSize(const IndexOptions& o) {
  if (o.ivf_train_size > 0) return o.ivf_train_size;
  if (o.ivf_nlist > 0) {
    return std::max(static_cast<size_t>(kMinPointsPerCentroid) * o.ivf_nlist, kDefaultTrainSize);
  }
  return kDefaultTrainSize;
}

IndexOptions FlatOptions(int dims) {
  IndexOptions o;
  o.kind = "flat";
  o.dimensions = dims;
  o.compress = false;
  return o;
}

}  // namespace ivfpq

using ivfpq::AsFaissIds;
using ivfpq::FlatOptions;
using ivfpq::FromException;
using ivfpq::OmpThreads;

Status ValidateIvfPqOptions(const IndexOptions& o) {
  if (o.ivf_nlist < 0 || o.ivf_nlist > kMaxNlist) {
    return InvalidArgumentError("ivf_nlist must be in [0, 65536] (0 = automatic), got " +
                                std::to_string(o.ivf_nlist));
  }
  if (o.ivf_nprobe < 0) return InvalidArgumentError("ivf_nprobe must be >= 0 (0 = automatic)");
  if (o.pq_m < 0 || o.pq_m > o.dimensions || (o.pq_m > 0 && o.dimensions % o.pq_m != 0)) {
    return InvalidArgumentError("pq_m must divide the dimensions (" + std::to_string(o.dimensions) +
                                "), got " + std::to_string(o.pq_m) + " (0 = automatic)");
  }
  if (o.pq_nbits < 4 || o.pq_nbits > 8) {
    return InvalidArgumentError("pq_nbits must be in [4, 8], got " + std::to_string(o.pq_nbits));
  }
  // k-means needs at least one training point per centroid, for the clusters and for the 2^nbits
  // centroids of every subquantizer.
  const size_t need = std::max<size_t>(o.ivf_nlist, size_t{1} << o.pq_nbits);
  if (o.ivf_train_size > 0 && o.ivf_train_size < need) {
    return InvalidArgumentError("ivf_train_size must be at least ivf_nlist and 2^pq_nbits (" +
                                std::to_string(need) + ")");
  }
  return Status::Ok();
}

Status IvfPqIndex::Impl::Train(int threads) {
  OmpThreads omp(threads);
  Status status;
  floats->VisitContents([&](std::span<const uint64_t> ids, std::span<const float> vecs) {
    const size_t n = ids.size();
    const size_t d = static_cast<size_t>(dims);
    const int nlist = nlist_option > 0 ? nlist_option : AutoNlist(n);
    const int m = m_option > 0 ? m_option : AutoPqM(dims);
    // A random sample is enough for k-means: both the cluster centres and the subquantizers'
    // 2^nbits centroids are estimated from it.
    const size_t sample_n =
        std::min(n, std::max(kSamplePerCentroid * nlist, kSamplePerCentroid << nbits));
    std::vector<float> sample;
    const float* train_x = vecs.data();
    try {
      if (sample_n < n) {
        std::vector<size_t> order(n);
        std::iota(order.begin(), order.end(), size_t{0});
        std::mt19937_64 rng(seed);
        sample.resize(sample_n * d);
        for (size_t i = 0; i < sample_n; ++i) {
          std::swap(order[i], order[i + rng() % (n - i)]);
          std::copy_n(vecs.data() + order[i] * d, d, sample.data() + i * d);
        }
        train_x = sample.data();
      }
      auto quantizer = std::make_unique<faiss::IndexFlatIP>(dims);
      auto index = std::make_unique<faiss::IndexIVFPQ>(quantizer.get(), d, nlist, m, nbits,
                                                       faiss::METRIC_INNER_PRODUCT);
      index->own_fields = true;
      quantizer.release();
      index->cp.spherical = true;  // unit-length centres: assignment by inner product is fair
      index->cp.niter = 10;
      index->cp.seed = static_cast<int>(seed & 0x7fffffff);
      index->pq.cp.seed = static_cast<int>((seed >> 32) & 0x7fffffff);
      index->pq.cp.niter = 10;  // faiss's default 25 makes training 2.5x slower for little gain
      index->cp.max_points_per_centroid = kSamplePerCentroid;
      index->pq.cp.max_points_per_centroid = kSamplePerCentroid;
      // faiss prints a warning to stderr (once per subquantizer) when k-means gets fewer than 39
      // points per centroid. Small train sizes are a documented choice here, and a server's
      // stderr is not the place for it.
      index->cp.min_points_per_centroid = 1;
      index->pq.cp.min_points_per_centroid = 1;
      index->train(static_cast<idx_t>(sample_n), train_x);
      // Hashtable direct map: id -> (list, offset), which makes remove_ids O(1) per id.
      index->set_direct_map_type(faiss::DirectMap::Hashtable);
      index->add_with_ids(static_cast<idx_t>(n), vecs.data(), AsFaissIds(ids.data()));
      ivf = std::move(index);
    } catch (...) {
      status = FromException("train");
    }
  });
  if (!status.ok()) return status;
  if (!FindCentres()) {
    ivf.reset();
    return InternalError("ivfpq train: the quantizer is not a flat index");
  }
  ResolveNprobe();
  if (!keep_floats) floats.reset();
  return Status::Ok();
}

IvfPqIndex::IvfPqIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
IvfPqIndex::~IvfPqIndex() = default;

StatusOr<std::unique_ptr<IvfPqIndex>> IvfPqIndex::Create(const IndexOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  DEJA_ASSIGN_OR_RETURN(impl->floats, FlatIndex::Create(FlatOptions(options.dimensions)));
  return std::unique_ptr<IvfPqIndex>(new IvfPqIndex(std::move(impl)));
}

int IvfPqIndex::dimensions() const { return impl_->dims; }

Status IvfPqIndex::Add(uint64_t id, std::span<const float> vec) {
  DEJA_RETURN_IF_ERROR(vindex::CheckVector(vec, impl_->dims, "vector"));
  Impl& s = *impl_;
  std::unique_lock lock(s.mu);
  if (!s.ivf) {
    DEJA_RETURN_IF_ERROR(s.floats->Add(id, vec));
    if (s.floats->size() < s.train_size) return Status::Ok();
    Status trained = s.Train(1);
    if (!trained.ok()) {
      return Status(trained.code(),
                    "vector added, but training failed (the index stays flat; the next Add "
                    "retries): " +
                        trained.message());
    }
    return Status::Ok();
  }
  OmpThreads omp(1);
  const idx_t fid = static_cast<idx_t>(id);
  try {
    if (s.Contains(fid)) s.RemoveCodes({fid});
    idx_t list;
    float score;
    s.Coarse(vec.data(), 1, &list, &score);
    s.ivf->add_core(1, vec.data(), &fid, &list);
  } catch (...) {
    return FromException("add");
  }
  return s.floats ? s.floats->Add(id, vec) : Status::Ok();
}

Status IvfPqIndex::AddBatch(std::span<const uint64_t> ids, std::span<const float> vecs,
                            int threads) {
  DEJA_RETURN_IF_ERROR(vindex::CheckBatch(ids, vecs, impl_->dims));
  const size_t dims = static_cast<size_t>(impl_->dims);
  Impl& s = *impl_;
  std::unique_lock lock(s.mu);
  if (!s.ivf) {
    DEJA_RETURN_IF_ERROR(s.floats->AddBatch(ids, vecs, threads));
    return s.floats->size() < s.train_size ? Status::Ok() : s.Train(threads);
  }
  OmpThreads omp(threads);
  try {
    // The last vector given for an id wins: keep only each id's last occurrence.
    std::unordered_map<uint64_t, size_t> last;
    last.reserve(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) last[ids[i]] = i;
    std::vector<idx_t> replaced;
    for (const auto& [id, i] : last) {
      if (s.Contains(static_cast<idx_t>(id))) replaced.push_back(static_cast<idx_t>(id));
    }
    s.RemoveCodes(replaced);
    if (last.size() == ids.size()) {
      s.ivf->add_with_ids(static_cast<idx_t>(ids.size()), vecs.data(), AsFaissIds(ids.data()));
    } else {
      std::vector<idx_t> keep_ids;
      std::vector<float> keep_vecs;
      keep_ids.reserve(last.size());
      keep_vecs.reserve(last.size() * dims);
      for (size_t i = 0; i < ids.size(); ++i) {
        if (last[ids[i]] != i) continue;
        keep_ids.push_back(static_cast<idx_t>(ids[i]));
        keep_vecs.insert(keep_vecs.end(), vecs.begin() + i * dims, vecs.begin() + (i + 1) * dims);
      }
      s.ivf->add_with_ids(static_cast<idx_t>(keep_ids.size()), keep_vecs.data(), keep_ids.data());
    }
  } catch (...) {
    return FromException("add batch");
  }
  return s.floats ? s.floats->AddBatch(ids, vecs, threads) : Status::Ok();
}

Status IvfPqIndex::Remove(uint64_t id) {
  Impl& s = *impl_;
  std::unique_lock lock(s.mu);
  if (!s.ivf) return s.floats->Remove(id);
  const idx_t fid = static_cast<idx_t>(id);
  if (!s.Contains(fid)) return NotFoundError("no vector with id " + std::to_string(id));
  try {
    s.RemoveCodes({fid});
  } catch (...) {
    return FromException("remove");
  }
  return s.floats ? s.floats->Remove(id) : Status::Ok();
}

StatusOr<std::vector<VectorIndex::Hit>> IvfPqIndex::Search(std::span<const float> query,
                                                           size_t k) const {
  DEJA_RETURN_IF_ERROR(vindex::CheckVector(query, impl_->dims, "query"));
  const Impl& s = *impl_;
  std::shared_lock lock(s.mu);
  if (!s.ivf) return s.floats->Search(query, k);
  const size_t total = static_cast<size_t>(s.ivf->ntotal);
  k = std::min(k, total);
  if (k == 0) return std::vector<Hit>{};
  const size_t want = s.floats ? std::min(total, k * static_cast<size_t>(s.rerank_factor)) : k;
  std::vector<float> scores(want);
  std::vector<idx_t> labels(want);
  const size_t nprobe = std::min<size_t>(s.nprobe, s.ivf->nlist);
  std::vector<idx_t> lists(nprobe);
  std::vector<float> list_scores(nprobe);
  s.Coarse(query.data(), nprobe, lists.data(), list_scores.data());
  faiss::SearchParametersIVF params;
  params.nprobe = nprobe;
  try {
    s.ivf->search_preassigned(1, query.data(), static_cast<idx_t>(want), lists.data(),
                              list_scores.data(), scores.data(), labels.data(), false, &params);
  } catch (...) {
    return FromException("search");
  }
  std::vector<uint64_t> candidates;
  std::vector<Hit> hits;
  for (size_t j = 0; j < want; ++j) {
    if (!(scores[j] > kNoResult)) continue;  // an unfilled slot
    const uint64_t id = static_cast<uint64_t>(labels[j]);
    if (s.floats) {
      candidates.push_back(id);
    } else {
      hits.push_back(Hit{id, scores[j]});
    }
  }
  if (s.floats) return s.floats->Rescore(query, candidates, k);
  vindex::SortHits(hits);
  hits.resize(std::min(k, hits.size()));
  return hits;
}

Status IvfPqIndex::GetVector(uint64_t id, std::vector<float>* out) const {
  const Impl& s = *impl_;
  std::shared_lock lock(s.mu);
  if (s.floats) return s.floats->GetVector(id, out);
  if (!s.Contains(static_cast<idx_t>(id))) {
    return NotFoundError("no vector with id " + std::to_string(id));
  }
  return FailedPreconditionError(
      "the ivfpq index keeps only PQ codes (rerank = false); the vectors cannot be read back");
}

size_t IvfPqIndex::size() const {
  std::shared_lock lock(impl_->mu);
  return impl_->ivf ? static_cast<size_t>(impl_->ivf->ntotal) : impl_->floats->size();
}

bool IvfPqIndex::trained() const {
  std::shared_lock lock(impl_->mu);
  return impl_->ivf != nullptr;
}

size_t IvfPqIndex::train_size() const { return impl_->train_size; }

int IvfPqIndex::nlist() const {
  std::shared_lock lock(impl_->mu);
  return impl_->ivf ? static_cast<int>(impl_->ivf->nlist) : 0;
}

int IvfPqIndex::pq_m() const {
  std::shared_lock lock(impl_->mu);
  return impl_->ivf ? static_cast<int>(impl_->ivf->pq.M) : 0;
}

void IvfPqIndex::set_nprobe(int nprobe) {
  std::unique_lock lock(impl_->mu);
  impl_->nprobe_option = std::max(1, nprobe);
  if (impl_->ivf) impl_->ResolveNprobe();
}

int IvfPqIndex::nprobe() const {
  std::shared_lock lock(impl_->mu);
  return impl_->ivf ? impl_->nprobe : impl_->nprobe_option;
}

size_t IvfPqIndex::MemoryBytes() const {
  const Impl& s = *impl_;
  std::shared_lock lock(s.mu);
  size_t bytes = s.floats ? s.floats->MemoryBytes() : 0;
  if (!s.ivf) return bytes;
  const faiss::IndexIVFPQ& ivf = *s.ivf;
  // Inverted lists: a code and an id per vector, in one pair of vectors per list.
  if (const auto* lists = dynamic_cast<const faiss::ArrayInvertedLists*>(ivf.invlists)) {
    for (size_t i = 0; i < lists->nlist; ++i) {
      bytes += lists->codes[i].capacity() + lists->ids[i].capacity() * sizeof(idx_t);
    }
    bytes += lists->nlist * (sizeof(lists->codes[0]) + sizeof(lists->ids[0]));
  }
  if (const auto* q = dynamic_cast<const faiss::IndexFlatCodes*>(ivf.quantizer)) {
    bytes += q->codes.capacity();  // cluster centres
  }
  bytes += ivf.pq.centroids.capacity() * sizeof(float);
  // Direct map (unordered_map<idx_t, idx_t>): a node per entry plus a bucket pointer.
  const auto& map = ivf.direct_map.hashtable;
  bytes +=
      map.size() * (2 * sizeof(idx_t) + 2 * sizeof(void*)) + map.bucket_count() * sizeof(void*);
  return bytes;
}

}  // namespace deja
