// FlatIndex: exact nearest-neighbour search by scanning every stored vector.
//
// Vectors are stored contiguously (slot-major), so a search is one linear pass of SIMD dot
// products over memory; Remove moves the last vector into the freed slot (swap-remove), keeping
// storage dense. Exact results make it the recall reference for HnswIndex, and for small
// partitions (a few thousand vectors) a scan costs no more than a graph walk.
//
// With IndexOptions::compress the index also keeps a TurboQuant code of every vector
// (turbo_quant.h) and a search scans the codes (estimated inner products, a fraction of the bytes),
// then rescores the rerank_factor * k best candidates with the float vectors. With rerank = false
// it keeps only the codes and returns estimated scores: far less memory, approximate results.
//
// Thread safety: safe for concurrent use (see VectorIndex): an RwLock (rw_lock.h) is taken shared
// by Search/GetVector/size/MemoryBytes/Save and exclusive by Add/AddBatch/Remove.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>

#include <span>
#include <string>
#include <unordered_map>
#include <vector>
#include "semantic/rw_lock.h"

#include "semantic/index_file.h"
#include "semantic/rw_lock.h"
#include "semantic/turbo_quant.h"
#include "semantic/vector_index.h"

namespace deja {

class FlatIndex final : public VectorIndex {
 public:
  // REQUIRES: options.Validate() is OK and options.kind == "flat".
  static StatusOr<std::unique_ptr<FlatIndex>> Create(const IndexOptions& options);
  // Reads the payload of a verified index file of kind kFlat.
  static StatusOr<std::unique_ptr<FlatIndex>> Load(const IndexOptions& options,
                                                   vindex::IndexFileReader& reader);

  Status Add(uint64_t id, std::span<const float> vec) override;
  // Reserves room for the whole batch first (one allocation, no slack from doubling).
  Status AddBatch(std::span<const uint64_t> ids, std::span<const float> vecs, int threads) override;
  Status Remove(uint64_t id) override;
  StatusOr<std::vector<Hit>> Search(std::span<const float> query, size_t k) const override;
  Status GetVector(uint64_t id, std::vector<float>* out) const override;
  size_t size() const override;
  int dimensions() const override { return dims_; }
  Status Save(const std::string& path) const override;
  size_t MemoryBytes() const override;

  // Bytes of one vector's TurboQuant code (0 without compression).
  size_t code_bytes() const { return tq_ ? tq_->code_bytes() : 0; }

  // For engines that keep a FlatIndex as their float store (ivfpq_index.h). Each takes the lock
  // shared. REQUIRES (all three): the floats are kept (not compress without rerank).
  //
  // The exact scores of the stored vectors named in `ids` (absent ids are skipped; no id twice),
  // best k first. `query` must have dimensions() finite values (the caller checked it).
  std::vector<Hit> Rescore(std::span<const float> query, std::span<const uint64_t> ids,
                           size_t k) const;
  // Calls fn(ids, vectors): every stored id and its floats (ids.size() * dimensions(), same
  // order), valid during the call. fn must not call back into this index.
  void VisitContents(
      const std::function<void(std::span<const uint64_t>, std::span<const float>)>& fn) const;
  // Writes the payload Save writes into `w`, for a file that embeds a flat index; Load reads it
  // back, and it must be the last thing in the file's payload.
  Status WritePayload(vindex::IndexFileWriter& w) const;

 private:
  FlatIndex(const IndexOptions& options, std::optional<tq::TurboQuantizer> tq);
  void AddLocked(uint64_t id, std::span<const float> vec);
  std::vector<Hit> SearchExact(std::span<const float> query, size_t k) const;
  std::vector<Hit> SearchCodes(std::span<const float> query, size_t k) const;

  const int dims_;
  const bool keep_floats_;  // false only for compress without rerank
  const int rerank_factor_;
  const std::optional<tq::TurboQuantizer> tq_;

  mutable vindex::RwLock mu_;
  std::vector<uint64_t> ids_;   // slot -> id
  std::vector<float> vectors_;  // slot * dims_ ... : the floats (when keep_floats_)
  std::vector<uint8_t> codes_;  // slot * code_bytes ... : TurboQuant codes (when tq_)
  std::unordered_map<uint64_t, size_t> slots_;  // id -> slot
};

namespace vindex {
// Checks a vector's length and that every value is finite (NaN would poison every comparison).
Status CheckVector(std::span<const float> vec, int dims, const char* what);
// Checks an AddBatch argument: ids.size() vectors of `dims` floats, each as CheckVector wants.
Status CheckBatch(std::span<const uint64_t> ids, std::span<const float> vecs, int dims);
// Sorts hits best first (ties by id, so results are deterministic).
void SortHits(std::vector<VectorIndex::Hit>& hits);
}  // namespace vindex

}  // namespace deja
