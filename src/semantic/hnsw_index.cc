#include "semantic/hnsw_index.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <new>
#include <shared_mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "semantic/distance.h"
#include "semantic/flat_index.h"
#include "semantic/rw_lock.h"

// hnswlib is header-only and not written for -Wall -Wextra -Werror; it lives in a system include
// directory, and the pragmas keep it quiet even if it is found elsewhere. hnswlib.h also defines
// non-inline functions (CPU feature probes), so it must be included by this file only: a second
// includer in the same binary would not link.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <hnswlib/hnswlib.h>
#pragma GCC diagnostic pop

namespace deja {
namespace {

using Graph = hnswlib::HierarchicalNSW<float>;

// hnswlib's inner-product space computes 1 - <a, b>, with SSE only unless the whole build targets
// AVX. This space computes the same distance with deja's run-time dispatched AVX2/FMA kernel.
class DotSpace final : public hnswlib::SpaceInterface<float> {
 public:
  explicit DotSpace(size_t dims) : dims_(dims), fn_(vindex::BestInnerProductDistance()) {}
  size_t get_data_size() override { return dims_ * sizeof(float); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return fn_; }
  void* get_dist_func_param() override { return &dims_; }

 private:
  size_t dims_;
  hnswlib::DISTFUNC<float> fn_;
};

Status FromException(const char* op) {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    return ResourceExhaustedError(std::string("hnsw ") + op + ": out of memory");
  } catch (const std::exception& e) {
    return InternalError(std::string("hnsw ") + op + ": " + e.what());
  }
}

constexpr uint32_t kPayloadVersion = 1;
constexpr size_t kMaxSlots = std::numeric_limits<uint32_t>::max() - 1;  // hnswlib's tableint

}  // namespace

struct HnswIndex::Impl {
  explicit Impl(int dims) : dims(dims), space(static_cast<size_t>(dims)) {}

  // REQUIRES: mu held exclusively. Room for `extra` more fresh slots.
  void Reserve(size_t extra) {
    const size_t need = graph->cur_element_count + extra;
    if (need <= graph->max_elements_) return;
    size_t cap = std::max<size_t>(graph->max_elements_, 1024);
    while (cap < need) cap *= 2;
    graph->resizeIndex(std::min(cap, kMaxSlots));
  }
  // REQUIRES: mu held exclusively. The slot for a new id: a deleted one if any, else a fresh one.
  // `fresh` says which (a fresh slot takes hnswlib's insertion path, a reused one its update path).
  uint32_t TakeSlot(bool* fresh) {
    if (!free_slots.empty()) {
      uint32_t s = free_slots.back();
      free_slots.pop_back();
      *fresh = false;
      return s;
    }
    *fresh = true;
    slot_ids.push_back(0);
    return static_cast<uint32_t>(slot_ids.size() - 1);
  }

  const int dims;
  DotSpace space;  // must outlive graph
  std::unique_ptr<Graph> graph;
  int ef_search = 0;
  int m = 0;
  int ef_construction = 0;

  mutable vindex::RwLock mu;
  std::vector<uint64_t> slot_ids;                // slot (hnswlib label) -> id, for live slots
  std::unordered_map<uint64_t, uint32_t> slots;  // id -> slot
  std::vector<uint32_t> free_slots;              // deleted slots, reusable
};

HnswIndex::HnswIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HnswIndex::~HnswIndex() = default;

StatusOr<std::unique_ptr<HnswIndex>> HnswIndex::Create(const IndexOptions& options) {
  auto impl = std::make_unique<Impl>(options.dimensions);
  impl->ef_search = options.ef_search;
  impl->m = options.hnsw_m;
  impl->ef_construction = options.ef_construction;
  try {
    impl->graph = std::make_unique<Graph>(&impl->space, std::min(options.max_elements, kMaxSlots),
                                          options.hnsw_m, options.ef_construction, options.seed);
    impl->graph->setEf(options.ef_search);
  } catch (...) {
    return FromException("create");
  }
  return std::unique_ptr<HnswIndex>(new HnswIndex(std::move(impl)));
}

int HnswIndex::dimensions() const { return impl_->dims; }

Status HnswIndex::Add(uint64_t id, std::span<const float> vec) {
  DEJA_RETURN_IF_ERROR(vindex::CheckVector(vec, impl_->dims, "vector"));
  Impl& s = *impl_;
  std::unique_lock lock(s.mu);
  auto it = s.slots.find(id);
  try {
    if (it != s.slots.end()) {  // replace: hnswlib updates the node and re-links it
      s.graph->addPoint(vec.data(), it->second);
      return Status::Ok();
    }
    if (s.free_slots.empty() && s.slot_ids.size() >= kMaxSlots) {
      return ResourceExhaustedError("hnsw index is full");
    }
    if (s.free_slots.empty()) s.Reserve(1);
    bool fresh;
    const uint32_t slot = s.TakeSlot(&fresh);
    try {
      s.graph->addPoint(vec.data(), slot);
    } catch (...) {
      if (fresh) {
        s.slot_ids.pop_back();
      } else {
        s.free_slots.push_back(slot);
      }
      throw;
    }
    s.slot_ids[slot] = id;
    s.slots.emplace(id, slot);
  } catch (...) {
    return FromException("add");
  }
  return Status::Ok();
}

Status HnswIndex::AddBatch(std::span<const uint64_t> ids, std::span<const float> vecs,
                           int threads) {
  DEJA_RETURN_IF_ERROR(vindex::CheckBatch(ids, vecs, impl_->dims));
  const size_t dims = static_cast<size_t>(impl_->dims);
  Impl& s = *impl_;
  std::unique_lock lock(s.mu);
  // Plan: ids new to the index (first occurrence) get fresh slots, inserted in parallel; the rest
  // (replacements, reused deleted slots, repeats within the batch) go through hnswlib's update
  // path one at a time afterwards, in batch order, so the last vector given for an id wins.
  std::vector<std::pair<uint32_t, size_t>> fresh, serial;  // (slot, index into the batch)
  try {
    size_t new_ids = 0;
    for (uint64_t id : ids) new_ids += !s.slots.contains(id);
    if (new_ids > s.free_slots.size() &&
        s.slot_ids.size() + (new_ids - s.free_slots.size()) > kMaxSlots) {
      return ResourceExhaustedError("hnsw index is full");
    }
    s.Reserve(new_ids > s.free_slots.size() ? new_ids - s.free_slots.size() : 0);
    for (size_t i = 0; i < ids.size(); ++i) {
      auto [it, inserted] = s.slots.try_emplace(ids[i], 0);
      if (!inserted) {
        serial.emplace_back(it->second, i);
        continue;
      }
      bool is_fresh;
      it->second = s.TakeSlot(&is_fresh);
      s.slot_ids[it->second] = ids[i];
      (is_fresh ? fresh : serial).emplace_back(it->second, i);
    }
  } catch (...) {
    return FromException("add batch");
  }
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex error_mu;
  Status error;
  auto work = [&] {
    for (size_t j; !failed && (j = next.fetch_add(1)) < fresh.size();) {
      try {
        s.graph->addPoint(vecs.data() + fresh[j].second * dims, fresh[j].first);
      } catch (...) {
        std::lock_guard g(error_mu);
        error = FromException("add batch");
        failed = true;
      }
    }
  };
  std::vector<std::thread> pool;
  const size_t nthreads = std::clamp<size_t>(threads, 1, std::max<size_t>(1, fresh.size() / 64));
  for (size_t t = 1; t < nthreads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  if (!failed) {
    try {
      for (auto [slot, i] : serial) s.graph->addPoint(vecs.data() + i * dims, slot);
    } catch (...) {
      error = FromException("add batch");
      failed = true;
    }
  }
  // A failed insertion leaves the graph knowing some slots the maps do not, or the reverse;
  // nothing cheaper than a rebuild restores a consistent index, so say so.
  if (failed) {
    return Status(error.code(), error.message() + " (index is inconsistent; rebuild it)");
  }
  return Status::Ok();
}

Status HnswIndex::Remove(uint64_t id) {
  Impl& s = *impl_;
  std::unique_lock lock(s.mu);
  auto it = s.slots.find(id);
  if (it == s.slots.end()) return NotFoundError("no vector with id " + std::to_string(id));
  try {
    s.graph->markDelete(it->second);
  } catch (...) {
    return FromException("remove");
  }
  s.free_slots.push_back(it->second);
  s.slots.erase(it);
  return Status::Ok();
}

StatusOr<std::vector<VectorIndex::Hit>> HnswIndex::Search(std::span<const float> query,
                                                          size_t k) const {
  DEJA_RETURN_IF_ERROR(vindex::CheckVector(query, impl_->dims, "query"));
  const Impl& s = *impl_;
  std::shared_lock lock(s.mu);
  k = std::min(k, s.slots.size());
  std::vector<Hit> hits;
  if (k == 0) return hits;
  try {
    auto found = s.graph->searchKnn(query.data(), k);  // max-heap on distance: worst on top
    hits.resize(found.size());
    for (size_t i = found.size(); i-- > 0; found.pop()) {
      hits[i] = Hit{s.slot_ids[found.top().second], 1.0f - found.top().first};
    }
  } catch (...) {
    return FromException("search");
  }
  vindex::SortHits(hits);  // equal scores by id, as the flat index does
  return hits;
}

Status HnswIndex::GetVector(uint64_t id, std::vector<float>* out) const {
  const Impl& s = *impl_;
  std::shared_lock lock(s.mu);
  auto it = s.slots.find(id);
  if (it == s.slots.end()) return NotFoundError("no vector with id " + std::to_string(id));
  // hnswlib's getDataByLabel, without its element-by-element copy: the label (our slot) names an
  // internal node whose data is the vector addPoint copied in, bytes unchanged.
  auto node = s.graph->label_lookup_.find(it->second);
  if (node == s.graph->label_lookup_.end()) {
    return InternalError("hnsw get vector: slot " + std::to_string(it->second) + " has no node");
  }
  const auto* data = reinterpret_cast<const float*>(s.graph->getDataByInternalId(node->second));
  out->assign(data, data + s.dims);
  return Status::Ok();
}

size_t HnswIndex::size() const {
  std::shared_lock lock(impl_->mu);
  return impl_->slots.size();
}

size_t HnswIndex::capacity() const {
  std::shared_lock lock(impl_->mu);
  return impl_->graph->max_elements_;
}

void HnswIndex::set_ef_search(int ef) {
  std::unique_lock lock(impl_->mu);
  impl_->ef_search = std::max(1, ef);
  impl_->graph->setEf(static_cast<size_t>(impl_->ef_search));
}

int HnswIndex::ef_search() const {
  std::shared_lock lock(impl_->mu);
  return impl_->ef_search;
}

size_t HnswIndex::MemoryBytes() const {
  const Impl& s = *impl_;
  std::shared_lock lock(s.mu);
  const Graph& g = *s.graph;
  const size_t cap = g.max_elements_;
  // Base layer (links, vector, label) of the slots in use: hnswlib reserves it for the whole
  // capacity with malloc, but pages of unused slots are never touched, so they cost address space,
  // not memory. Per-slot lock, level and pointer and one visited list (2 bytes per slot) per
  // concurrent search are initialized for the whole capacity. Then the upper-layer link lists and
  // the label maps.
  size_t bytes = g.cur_element_count * g.size_data_per_element_ +
                 cap * (sizeof(std::mutex) + sizeof(int) + sizeof(void*) + sizeof(uint16_t));
  for (size_t i = 0; i < g.cur_element_count; ++i) {
    bytes += static_cast<size_t>(g.element_levels_[i]) * g.size_links_per_element_;
  }
  const size_t map_node = sizeof(uint64_t) + sizeof(size_t) + 2 * sizeof(void*);
  bytes += g.label_lookup_.size() * map_node + g.label_lookup_.bucket_count() * sizeof(void*);
  bytes += s.slot_ids.capacity() * sizeof(uint64_t) + s.free_slots.capacity() * sizeof(uint32_t);
  bytes += s.slots.size() * map_node + s.slots.bucket_count() * sizeof(void*);
  return bytes;
}

// Payload: u32 version | u32 M | u32 ef_construction | u32 reserved | u64 slots |
//          slots x u64 id (meaningless for deleted slots) | u64 graph bytes | hnswlib saveIndex.
Status HnswIndex::Save(const std::string& path) const {
  const Impl& s = *impl_;
  std::shared_lock lock(s.mu);
  // hnswlib writes only to a named file; write it beside the target, then copy it into the
  // checksummed container.
  const std::string scratch = vindex::IndexFileWriter::ScratchPath(path, "graph");
  struct Cleanup {
    const std::string& p;
    ~Cleanup() { ::unlink(p.c_str()); }
  } cleanup{scratch};
  try {
    s.graph->saveIndex(scratch);
  } catch (...) {
    return FromException("save");
  }
  std::error_code ec;
  const uintmax_t graph_bytes = std::filesystem::file_size(scratch, ec);
  // saveIndex does not report write errors; a short file is how they show.
  const size_t min_bytes = s.graph->cur_element_count * (s.graph->size_data_per_element_ + 4);
  if (ec || graph_bytes < min_bytes) {
    return UnavailableError("hnsw save: could not write " + scratch);
  }
  DEJA_ASSIGN_OR_RETURN(std::unique_ptr<vindex::IndexFileWriter> w,
                        vindex::IndexFileWriter::Create(path, vindex::IndexKind::kHnsw,
                                                        static_cast<uint32_t>(s.dims)));
  const uint32_t head[4] = {kPayloadVersion, static_cast<uint32_t>(s.m),
                            static_cast<uint32_t>(s.ef_construction), 0};
  DEJA_RETURN_IF_ERROR(w->Write(head, sizeof head));
  DEJA_RETURN_IF_ERROR(w->WriteU64(s.slot_ids.size()));
  DEJA_RETURN_IF_ERROR(w->Write(s.slot_ids.data(), s.slot_ids.size() * sizeof(uint64_t)));
  DEJA_RETURN_IF_ERROR(w->WriteU64(graph_bytes));
  DEJA_RETURN_IF_ERROR(w->AppendFile(scratch));
  return w->Commit();
}

StatusOr<std::unique_ptr<HnswIndex>> HnswIndex::Load(const IndexOptions& options,
                                                     vindex::IndexFileReader& reader,
                                                     const std::string& path) {
  uint32_t head[4];
  uint64_t nslots, graph_bytes;
  DEJA_RETURN_IF_ERROR(reader.Read(head, sizeof head));
  if (head[0] != kPayloadVersion) {
    return DataLossError("unsupported hnsw payload version " + std::to_string(head[0]));
  }
  DEJA_RETURN_IF_ERROR(reader.ReadU64(&nslots));
  if (nslots > kMaxSlots || nslots > reader.remaining() / sizeof(uint64_t)) {
    return DataLossError("hnsw index file: bad slot count");
  }
  auto impl = std::make_unique<Impl>(options.dimensions);
  impl->m = static_cast<int>(head[1]);
  impl->ef_construction = static_cast<int>(head[2]);
  impl->ef_search = options.ef_search;
  impl->slot_ids.resize(nslots);
  DEJA_RETURN_IF_ERROR(reader.Read(impl->slot_ids.data(), nslots * sizeof(uint64_t)));
  DEJA_RETURN_IF_ERROR(reader.ReadU64(&graph_bytes));
  if (graph_bytes != reader.remaining()) return DataLossError("hnsw index file: bad graph size");
  DEJA_ASSIGN_OR_RETURN(std::span<const uint8_t> blob, reader.Take(graph_bytes));

  // hnswlib reads only from a named file: give it the graph bytes in a scratch file.
  const std::string scratch = vindex::IndexFileWriter::ScratchPath(path, "load");
  struct Cleanup {
    const std::string& p;
    ~Cleanup() { ::unlink(p.c_str()); }
  } cleanup{scratch};
  {
    std::ofstream out(scratch, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(blob.data()),
              static_cast<std::streamsize>(blob.size()));
    out.close();
    if (!out) return UnavailableError("hnsw load: cannot write scratch file " + scratch);
  }
  Graph* g;
  try {
    impl->graph = std::make_unique<Graph>(&impl->space);
    g = impl->graph.get();
    // The space-only constructor leaves these uninitialized and loadIndex adds to num_deleted_.
    g->num_deleted_ = 0;
    g->metric_distance_computations = 0;
    g->metric_hops = 0;
    // Capacity as for a new index (options.max_elements), or the saved size if larger.
    g->loadIndex(scratch, &impl->space,
                 std::max<size_t>(nslots, std::min(options.max_elements, kMaxSlots)));
  } catch (...) {
    Status st = FromException("load");
    return DataLossError(st.message());
  }
  if (g->label_offset_ - g->offsetData_ !=
      static_cast<size_t>(options.dimensions) * sizeof(float)) {
    return InvalidArgumentError("hnsw index file has other dimensions than the options");
  }
  if (g->cur_element_count != nslots) {
    return DataLossError("hnsw index file: graph and id table disagree");
  }
  g->setEf(static_cast<size_t>(impl->ef_search));
  // Live slots go back in the id map, deleted ones on the free list.
  for (uint32_t slot = 0; slot < nslots; ++slot) {
    auto it = g->label_lookup_.find(slot);
    if (it == g->label_lookup_.end()) return DataLossError("hnsw index file: missing slot");
    if (g->isMarkedDeleted(it->second)) {
      impl->free_slots.push_back(slot);
    } else if (!impl->slots.emplace(impl->slot_ids[slot], slot).second) {
      return DataLossError("hnsw index file lists an id twice");
    }
  }
  return std::unique_ptr<HnswIndex>(new HnswIndex(std::move(impl)));
}

}  // namespace deja
