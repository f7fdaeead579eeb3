// IndexOptions validation and the factories that pick an engine.
#include "semantic/vector_index.h"

#include "semantic/flat_index.h"
#include "semantic/hnsw_index.h"
#include "semantic/index_file.h"
#include "semantic/ivfpq_index.h"

namespace deja {

Status IndexOptions::Validate() const {
  if (kind != "flat" && kind != "hnsw" && kind != "ivfpq") {
    return InvalidArgumentError("index kind must be \"flat\", \"hnsw\" or \"ivfpq\", got \"" +
                                kind + "\"");
  }
  if (dimensions <= 0 || dimensions > (1 << 16)) {
    return InvalidArgumentError("index dimensions must be in [1, 65536], got " +
                                std::to_string(dimensions));
  }
  if (kind == "hnsw") {
    if (hnsw_m < 2 || hnsw_m > 256) return InvalidArgumentError("hnsw_m must be in [2, 256]");
    if (ef_construction < 1 || ef_search < 1) {
      return InvalidArgumentError("ef_construction and ef_search must be positive");
    }
    if (max_elements < 1) return InvalidArgumentError("max_elements must be positive");
    if (compress) {
      return InvalidArgumentError(
          "compress (TurboQuant codes) is supported by the flat index only");
    }
  }
  if (kind == "ivfpq") {
    if (compress) {
      return InvalidArgumentError(
          "compress (TurboQuant codes) is supported by the flat index only");
    }
    if (rerank && rerank_factor < 1) return InvalidArgumentError("rerank_factor must be >= 1");
    DEJA_RETURN_IF_ERROR(ValidateIvfPqOptions(*this));
  }
  if (compress) {
    if (compress_bits < 2 || compress_bits > 5) {
      return InvalidArgumentError("compress_bits must be in [2, 5]");
    }
    if (rerank && rerank_factor < 1) return InvalidArgumentError("rerank_factor must be >= 1");
  }
  return Status::Ok();
}

Status VectorIndex::AddBatch(std::span<const uint64_t> ids, std::span<const float> vecs,
                             int /*threads*/) {
  const size_t dims = static_cast<size_t>(dimensions());
  if (vecs.size() != ids.size() * dims) {
    return InvalidArgumentError("AddBatch: vecs must hold ids.size() * dimensions floats");
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    DEJA_RETURN_IF_ERROR(Add(ids[i], vecs.subspan(i * dims, dims)));
  }
  return Status::Ok();
}

StatusOr<std::unique_ptr<VectorIndex>> MakeIndex(const IndexOptions& options) {
  DEJA_RETURN_IF_ERROR(options.Validate());
  if (options.kind == "flat") {
    DEJA_ASSIGN_OR_RETURN(std::unique_ptr<FlatIndex> index, FlatIndex::Create(options));
    return std::unique_ptr<VectorIndex>(std::move(index));
  }
  if (options.kind == "ivfpq") {
    DEJA_ASSIGN_OR_RETURN(std::unique_ptr<IvfPqIndex> index, IvfPqIndex::Create(options));
    return std::unique_ptr<VectorIndex>(std::move(index));
  }
  DEJA_ASSIGN_OR_RETURN(std::unique_ptr<HnswIndex> index, HnswIndex::Create(options));
  return std::unique_ptr<VectorIndex>(std::move(index));
}

StatusOr<std::unique_ptr<VectorIndex>> LoadIndex(const IndexOptions& options,
                                                 const std::string& path) {
  DEJA_RETURN_IF_ERROR(options.Validate());
  DEJA_ASSIGN_OR_RETURN(std::unique_ptr<vindex::IndexFileReader> reader,
                        vindex::IndexFileReader::Open(path));
  const vindex::IndexKind kind = reader->kind();
  if (kind == vindex::IndexKind::kSemanticCache) {
    return InvalidArgumentError(path + " holds a semantic cache, not a vector index");
  }
  const char* file_kind = kind == vindex::IndexKind::kFlat   ? "flat"
                          : kind == vindex::IndexKind::kHnsw ? "hnsw"
                                                             : "ivfpq";
  if (options.kind != file_kind) {
    return InvalidArgumentError(path + " holds a " + file_kind + " index; the options ask for " +
                                options.kind);
  }
  if (reader->dimensions() != static_cast<uint32_t>(options.dimensions)) {
    return InvalidArgumentError(path + " holds " + std::to_string(reader->dimensions()) +
                                "-dimensional vectors; the options say " +
                                std::to_string(options.dimensions));
  }
  if (kind == vindex::IndexKind::kFlat) {
    DEJA_ASSIGN_OR_RETURN(std::unique_ptr<FlatIndex> index, FlatIndex::Load(options, *reader));
    return std::unique_ptr<VectorIndex>(std::move(index));
  }
  if (kind == vindex::IndexKind::kIvfPq) {
    DEJA_ASSIGN_OR_RETURN(std::unique_ptr<IvfPqIndex> index, IvfPqIndex::Load(options, *reader));
    return std::unique_ptr<VectorIndex>(std::move(index));
  }
  DEJA_ASSIGN_OR_RETURN(std::unique_ptr<HnswIndex> index, HnswIndex::Load(options, *reader, path));
  return std::unique_ptr<VectorIndex>(std::move(index));
}

}  // namespace deja
