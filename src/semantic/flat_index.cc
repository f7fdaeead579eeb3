#include "semantic/flat_index.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>

#include "semantic/distance.h"

namespace deja {
namespace {

using Hit = VectorIndex::Hit;

bool Better(const Hit& a, const Hit& b) {
  return a.score > b.score || (a.score == b.score && a.id < b.id);
}

// The k best hits seen so far, in a heap whose front is the worst of them (the one to evict).
class TopK {
 public:
  explicit TopK(size_t k) : k_(k) { heap_.reserve(k); }
  // Score a candidate must beat to enter (-inf while the heap is not full).
  float threshold() const { return heap_.size() < k_ ? -INFINITY : heap_.front().score; }
  void Push(uint64_t id, float score) {
    Hit h{id, score};
    if (heap_.size() < k_) {
      heap_.push_back(h);
      std::push_heap(heap_.begin(), heap_.end(), Better);
    } else if (Better(h, heap_.front())) {
      std::pop_heap(heap_.begin(), heap_.end(), Better);
      heap_.back() = h;
      std::push_heap(heap_.begin(), heap_.end(), Better);
    }
  }
  std::vector<Hit> Take() {
    vindex::SortHits(heap_);
    return std::move(heap_);
  }

 private:
  size_t k_;
  std::vector<Hit> heap_;
};

// Payload flags of a saved flat index.
constexpr uint32_t kFlagCompress = 1;
constexpr uint32_t kFlagFloats = 2;

}  // namespace

namespace vindex {

Status CheckVector(std::span<const float> vec, int dims, const char* what) {
  if (vec.size() != static_cast<size_t>(dims)) {
    return InvalidArgumentError(std::string(what) + " has " + std::to_string(vec.size()) +
                                " dimensions, the index has " + std::to_string(dims));
  }
  for (float x : vec) {
    if (!std::isfinite(x)) return InvalidArgumentError(std::string(what) + " has a NaN or inf");
  }
  return Status::Ok();
}

Status CheckBatch(std::span<const uint64_t> ids, std::span<const float> vecs, int dims) {
  const size_t n = static_cast<size_t>(dims);
  if (vecs.size() != ids.size() * n) {
    return InvalidArgumentError("AddBatch: vecs must hold ids.size() * dimensions floats");
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    DEJA_RETURN_IF_ERROR(CheckVector(vecs.subspan(i * n, n), dims, "vector"));
  }
  return Status::Ok();
}

void SortHits(std::vector<VectorIndex::Hit>& hits) { std::sort(hits.begin(), hits.end(), Better); }

}  // namespace vindex

FlatIndex::FlatIndex(const IndexOptions& options, std::optional<tq::TurboQuantizer> tq)
    : dims_(options.dimensions),
      keep_floats_(!options.compress || options.rerank),
      rerank_factor_(options.rerank_factor),
      tq_(std::move(tq)) {}

StatusOr<std::unique_ptr<FlatIndex>> FlatIndex::Create(const IndexOptions& options) {
  std::optional<tq::TurboQuantizer> tq;
  if (options.compress) {
    DEJA_ASSIGN_OR_RETURN(
        tq, tq::TurboQuantizer::Create(options.dimensions, options.compress_bits, options.seed));
  }
  return std::unique_ptr<FlatIndex>(new FlatIndex(options, std::move(tq)));
}

void FlatIndex::AddLocked(uint64_t id, std::span<const float> vec) {
  auto [it, inserted] = slots_.try_emplace(id, ids_.size());
  const size_t slot = it->second;
  if (inserted) {
    ids_.push_back(id);
    if (keep_floats_) vectors_.resize(vectors_.size() + dims_);
    if (tq_) codes_.resize(codes_.size() + tq_->code_bytes());
  }
  if (keep_floats_) std::copy(vec.begin(), vec.end(), vectors_.begin() + slot * dims_);
  if (tq_) tq_->Encode(vec, codes_.data() + slot * tq_->code_bytes());
}

Status FlatIndex::Add(uint64_t id, std::span<const float> vec) {
  DEJA_RETURN_IF_ERROR(vindex::CheckVector(vec, dims_, "vector"));
  std::unique_lock lock(mu_);
  AddLocked(id, vec);
  return Status::Ok();
}

Status FlatIndex::AddBatch(std::span<const uint64_t> ids, std::span<const float> vecs,
                           int /*threads*/) {
  DEJA_RETURN_IF_ERROR(vindex::CheckBatch(ids, vecs, dims_));
  const size_t dims = static_cast<size_t>(dims_);
  std::unique_lock lock(mu_);
  const size_t want = ids_.size() + ids.size();
  ids_.reserve(want);
  slots_.reserve(want);
  if (keep_floats_) vectors_.reserve(want * dims);
  if (tq_) codes_.reserve(want * tq_->code_bytes());
  for (size_t i = 0; i < ids.size(); ++i) AddLocked(ids[i], vecs.subspan(i * dims, dims));
  return Status::Ok();
}

Status FlatIndex::Remove(uint64_t id) {
  std::unique_lock lock(mu_);
  auto it = slots_.find(id);
  if (it == slots_.end()) return NotFoundError("no vector with id " + std::to_string(id));
  const size_t slot = it->second;
  const size_t last = ids_.size() - 1;
  slots_.erase(it);
  if (slot != last) {  // move the last vector into the hole
    ids_[slot] = ids_[last];
    slots_[ids_[slot]] = slot;
    if (keep_floats_) {
      std::copy_n(vectors_.begin() + last * dims_, dims_, vectors_.begin() + slot * dims_);
    }
    if (tq_) {
      const size_t cb = tq_->code_bytes();
      std::memcpy(codes_.data() + slot * cb, codes_.data() + last * cb, cb);
    }
  }
  ids_.pop_back();
  if (keep_floats_) vectors_.resize(last * dims_);
  if (tq_) codes_.resize(last * tq_->code_bytes());
  return Status::Ok();
}

std::vector<VectorIndex::Hit> FlatIndex::SearchExact(std::span<const float> query, size_t k) const {
  TopK top(k);
  // Score a block at a time: the dot products run back to back over contiguous memory, and the
  // heap is touched only by the few that beat the current k-th best.
  constexpr size_t kBlock = 256;
  float scores[kBlock];
  const size_t n = ids_.size();
  for (size_t base = 0; base < n; base += kBlock) {
    const size_t m = std::min(kBlock, n - base);
    vindex::DotProducts(query.data(), vectors_.data() + base * dims_, m, dims_, scores);
    float bar = top.threshold();
    for (size_t i = 0; i < m; ++i) {
      if (scores[i] >= bar) {
        top.Push(ids_[base + i], scores[i]);
        bar = top.threshold();
      }
    }
  }
  return top.Take();
}

std::vector<VectorIndex::Hit> FlatIndex::SearchCodes(std::span<const float> query, size_t k) const {
  const tq::TurboQuantizer::Query prepared = tq_->Prepare(query);
  const size_t candidates = keep_floats_ ? k * static_cast<size_t>(rerank_factor_) : k;
  // Collect slots (not ids) so the rerank can find the floats.
  TopK top(candidates);
  const size_t cb = tq_->code_bytes();
  for (size_t slot = 0; slot < ids_.size(); ++slot) {
    const float est = tq_->Estimate(prepared, codes_.data() + slot * cb);
    if (est >= top.threshold()) top.Push(slot, est);
  }
  std::vector<Hit> found = top.Take();
  if (!keep_floats_) {
    for (Hit& h : found) h.id = ids_[h.id];
    return found;
  }
  TopK exact(k);
  for (const Hit& h : found) {
    exact.Push(ids_[h.id], vindex::DotProduct(query.data(), vectors_.data() + h.id * dims_, dims_));
  }
  return exact.Take();
}

StatusOr<std::vector<VectorIndex::Hit>> FlatIndex::Search(std::span<const float> query,
                                                          size_t k) const {
  DEJA_RETURN_IF_ERROR(vindex::CheckVector(query, dims_, "query"));
  std::shared_lock lock(mu_);
  k = std::min(k, ids_.size());
  if (k == 0) return std::vector<Hit>{};
  return tq_ ? SearchCodes(query, k) : SearchExact(query, k);
}

Status FlatIndex::GetVector(uint64_t id, std::vector<float>* out) const {
  if (!keep_floats_) {
    return FailedPreconditionError("the flat index keeps only TurboQuant codes (rerank = false)");
  }
  std::shared_lock lock(mu_);
  auto it = slots_.find(id);
  if (it == slots_.end()) return NotFoundError("no vector with id " + std::to_string(id));
  const auto first = vectors_.begin() + static_cast<std::ptrdiff_t>(it->second * dims_);
  out->assign(first, first + dims_);
  return Status::Ok();
}

size_t FlatIndex::size() const {
  std::shared_lock lock(mu_);
  return ids_.size();
}

size_t FlatIndex::MemoryBytes() const {
  std::shared_lock lock(mu_);
  // unordered_map: a node (key, value, next pointer, cached hash) per entry plus a bucket pointer.
  const size_t map_bytes = slots_.size() * (sizeof(uint64_t) + sizeof(size_t) + 2 * sizeof(void*)) +
                           slots_.bucket_count() * sizeof(void*);
  return ids_.capacity() * sizeof(uint64_t) + vectors_.capacity() * sizeof(float) +
         codes_.capacity() + map_bytes;
}

std::vector<VectorIndex::Hit> FlatIndex::Rescore(std::span<const float> query,
                                                 std::span<const uint64_t> ids, size_t k) const {
  k = std::min(k, ids.size());
  if (k == 0) return {};
  std::shared_lock lock(mu_);
  TopK top(k);
  for (uint64_t id : ids) {
    auto it = slots_.find(id);
    if (it == slots_.end()) continue;
    top.Push(id, vindex::DotProduct(query.data(), vectors_.data() + it->second * dims_, dims_));
  }
  return top.Take();
}

void FlatIndex::VisitContents(
    const std::function<void(std::span<const uint64_t>, std::span<const float>)>& fn) const {
  std::shared_lock lock(mu_);
  fn(ids_, vectors_);
}

Status FlatIndex::Save(const std::string& path) const {
  DEJA_ASSIGN_OR_RETURN(std::unique_ptr<vindex::IndexFileWriter> w,
                        vindex::IndexFileWriter::Create(path, vindex::IndexKind::kFlat,
                                                        static_cast<uint32_t>(dims_)));
  DEJA_RETURN_IF_ERROR(WritePayload(*w));
  return w->Commit();
}

// Payload: u32 flags | u32 bits | u64 seed | u64 quantizer fingerprint | u64 count |
//          count x u64 id | floats (count x dims, if kept) | codes (count x code bytes, if any).
Status FlatIndex::WritePayload(vindex::IndexFileWriter& w) const {
  std::shared_lock lock(mu_);
  const uint32_t flags = (tq_ ? kFlagCompress : 0) | (keep_floats_ ? kFlagFloats : 0);
  const uint32_t bits = tq_ ? static_cast<uint32_t>(tq_->bits()) : 0;
  DEJA_RETURN_IF_ERROR(w.Write(&flags, sizeof flags));
  DEJA_RETURN_IF_ERROR(w.Write(&bits, sizeof bits));
  DEJA_RETURN_IF_ERROR(w.WriteU64(tq_ ? tq_->seed() : 0));
  DEJA_RETURN_IF_ERROR(w.WriteU64(tq_ ? tq_->Fingerprint() : 0));
  DEJA_RETURN_IF_ERROR(w.WriteU64(ids_.size()));
  DEJA_RETURN_IF_ERROR(w.Write(ids_.data(), ids_.size() * sizeof(uint64_t)));
  DEJA_RETURN_IF_ERROR(w.Write(vectors_.data(), vectors_.size() * sizeof(float)));
  return w.Write(codes_.data(), codes_.size());
}

StatusOr<std::unique_ptr<FlatIndex>> FlatIndex::Load(const IndexOptions& options,
                                                     vindex::IndexFileReader& reader) {
  uint32_t flags, bits;
  uint64_t seed, fingerprint, count;
  DEJA_RETURN_IF_ERROR(reader.Read(&flags, sizeof flags));
  DEJA_RETURN_IF_ERROR(reader.Read(&bits, sizeof bits));
  DEJA_RETURN_IF_ERROR(reader.ReadU64(&seed));
  DEJA_RETURN_IF_ERROR(reader.ReadU64(&fingerprint));
  DEJA_RETURN_IF_ERROR(reader.ReadU64(&count));
  const bool compress = flags & kFlagCompress;
  const bool floats = flags & kFlagFloats;
  if (compress != options.compress || (compress && floats != options.rerank) ||
      (compress && static_cast<int>(bits) != options.compress_bits)) {
    return InvalidArgumentError(
        "the saved flat index was built with other compression options (compress, rerank, bits)");
  }
  // The codes were made by the quantizer of the file's seed; the options' seed does not matter.
  IndexOptions opts = options;
  opts.seed = seed;
  DEJA_ASSIGN_OR_RETURN(std::unique_ptr<FlatIndex> index, Create(opts));
  if (index->tq_ && index->tq_->Fingerprint() != fingerprint) {
    return DataLossError("the saved codes were made by a different quantizer; rebuild the index");
  }
  const size_t dims = static_cast<size_t>(options.dimensions);
  const size_t cb = index->code_bytes();
  // Every byte of the rest is accounted for, so a count that does not fit is rejected before any
  // allocation is sized by it.
  const size_t per_entry = sizeof(uint64_t) + (floats ? dims * sizeof(float) : 0) + cb;
  if (count > reader.remaining() / per_entry || count * per_entry != reader.remaining()) {
    return DataLossError("flat index payload size does not match its entry count");
  }
  index->ids_.resize(count);
  DEJA_RETURN_IF_ERROR(reader.Read(index->ids_.data(), count * sizeof(uint64_t)));
  if (floats) {
    index->vectors_.resize(count * dims);
    DEJA_RETURN_IF_ERROR(reader.Read(index->vectors_.data(), count * dims * sizeof(float)));
  }
  if (cb > 0) {
    index->codes_.resize(count * cb);
    DEJA_RETURN_IF_ERROR(reader.Read(index->codes_.data(), count * cb));
  }
  index->slots_.reserve(count);
  for (size_t slot = 0; slot < count; ++slot) {
    if (!index->slots_.emplace(index->ids_[slot], slot).second) {
      return DataLossError("flat index file lists id " + std::to_string(index->ids_[slot]) +
                           " twice");
    }
  }
  return index;
}

}  // namespace deja
