// HnswIndex: approximate nearest-neighbour search over an HNSW graph (Malkov & Yashunin), an
// adapter over hnswlib's HierarchicalNSW with the inner-product space. No hnswlib type appears in
// this header, so the engine can be swapped without touching callers.
//
// What the adapter adds to hnswlib:
//   - Ids: hnswlib labels are dense slot numbers; the adapter maps the caller's 64-bit ids to
//     slots. Remove marks the slot deleted (hnswlib's markDelete: the node keeps routing searches
//     but is never returned) and puts it on a free list; the next Add of a new id reuses the
//     slot, re-linking it for the new vector (hnswlib's in-place update), so deletions do not
//     accumulate dead nodes. Adding an existing id replaces its vector the same way.
//   - Growth: when every slot is used the graph's capacity doubles (resizeIndex).
//   - Persistence: hnswlib's saveIndex output wrapped in deja's index file (index_file.h), whose
//     checksum is verified before hnswlib's loader (which trusts its input) sees a byte.
//   - Errors: hnswlib throws; every call is wrapped and mapped to a Status.
//
// Thread safety: safe for concurrent use. An RwLock (rw_lock.h) is held shared by Search (hnswlib
// searches are read-only apart from an internally locked pool of visited lists), GetVector, size,
// MemoryBytes and Save, and exclusive by Add, AddBatch, Remove and set_ef_search. AddBatch inserts
// with several threads inside its exclusive section (hnswlib's own per-node locks make parallel
// insertion safe); searches are excluded meanwhile because hnswlib's search does not take those
// locks. Known hnswlib 0.6.2 flaw: parallel insertions draw node levels from one unlocked random
// generator (ThreadSanitizer reports it). On x86-64 the effect is at worst two nodes drawing the
// same level; AddBatch with threads = 1, and Add, never race.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "semantic/index_file.h"
#include "semantic/vector_index.h"

namespace deja {

class HnswIndex final : public VectorIndex {
 public:
  // REQUIRES: options.Validate() is OK and options.kind == "hnsw".
  static StatusOr<std::unique_ptr<HnswIndex>> Create(const IndexOptions& options);
  // Reads the payload of a verified index file of kind kHnsw. `path` names that file: scratch files
  // are made beside it.
  static StatusOr<std::unique_ptr<HnswIndex>> Load(const IndexOptions& options,
                                                   vindex::IndexFileReader& reader,
                                                   const std::string& path);
  ~HnswIndex() override;

  Status Add(uint64_t id, std::span<const float> vec) override;
  Status AddBatch(std::span<const uint64_t> ids, std::span<const float> vecs, int threads) override;
  Status Remove(uint64_t id) override;
  StatusOr<std::vector<Hit>> Search(std::span<const float> query, size_t k) const override;
  // The vector as hnswlib stores it: a byte copy of what Add was given (the inner-product space
  // does not normalize), also after Save and Load.
  Status GetVector(uint64_t id, std::vector<float>* out) const override;
  size_t size() const override;
  int dimensions() const override;
  Status Save(const std::string& path) const override;
  size_t MemoryBytes() const override;

  // Search-time candidate list size: the recall/latency knob (>= k is used).
  void set_ef_search(int ef);
  int ef_search() const;
  // Slots the graph has room for before it grows.
  size_t capacity() const;

 private:
  struct Impl;
  explicit HnswIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace deja
