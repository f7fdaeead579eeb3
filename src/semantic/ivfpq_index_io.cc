// IvfPqIndex::Save and Load: the faiss index serialized into deja's checksummed index file.
#include <faiss/impl/io.h>
#include <faiss/index_io.h>

#include <cstring>
#include <mutex>
#include <shared_mutex>

#include "semantic/ivfpq_index.h"
#include "semantic/ivfpq_index_impl.h"

namespace deja {
namespace {

using ivfpq::idx_t;
using ivfpq::kFlagFloats;
using ivfpq::kFlagTrained;
using ivfpq::kPayloadVersion;

// faiss's reader interface over the mapped index file, so loading does not copy the blob.
struct SpanReader final : faiss::IOReader {
  explicit SpanReader(std::span<const uint8_t> bytes) : data(bytes) { name = "deja index file"; }
  size_t operator()(void* ptr, size_t size, size_t nitems) override {
    if (size == 0) return nitems;
    nitems = std::min(nitems, (data.size() - pos) / size);
    if (nitems > 0) std::memcpy(ptr, data.data() + pos, size * nitems);
    pos += size * nitems;
    return nitems;
  }
  std::span<const uint8_t> data;
  size_t pos = 0;
};

}  // namespace

using ivfpq::FlatOptions;
using ivfpq::FromException;

// Payload: u32 version | u32 flags | u32 nlist | u32 pq_m | u32 pq_nbits | u32 reserved |
//          (trained) u64 length, faiss write_index bytes | (floats kept) flat index payload.
Status IvfPqIndex::Save(const std::string& path) const {
  const Impl& s = *impl_;
  std::shared_lock lock(s.mu);
  faiss::VectorIOWriter blob;
  if (s.ivf) {
    try {
      faiss::write_index(s.ivf.get(), &blob);
    } catch (...) {
      return FromException("save");
    }
  }
  DEJA_ASSIGN_OR_RETURN(std::unique_ptr<vindex::IndexFileWriter> w,
                        vindex::IndexFileWriter::Create(path, vindex::IndexKind::kIvfPq,
                                                        static_cast<uint32_t>(s.dims)));
  const uint32_t flags = (s.ivf ? kFlagTrained : 0) | (s.floats ? kFlagFloats : 0);
  const uint32_t head[6] = {kPayloadVersion,
                            flags,
                            s.ivf ? static_cast<uint32_t>(s.ivf->nlist) : 0,
                            s.ivf ? static_cast<uint32_t>(s.ivf->pq.M) : 0,
                            s.ivf ? static_cast<uint32_t>(s.ivf->pq.nbits) : 0,
                            0};
  DEJA_RETURN_IF_ERROR(w->Write(head, sizeof head));
  if (s.ivf) {
    DEJA_RETURN_IF_ERROR(w->WriteU64(blob.data.size()));
    DEJA_RETURN_IF_ERROR(w->Write(blob.data.data(), blob.data.size()));
  }
  if (s.floats) DEJA_RETURN_IF_ERROR(s.floats->WritePayload(*w));
  return w->Commit();
}

StatusOr<std::unique_ptr<IvfPqIndex>> IvfPqIndex::Load(const IndexOptions& options,
                                                       vindex::IndexFileReader& reader) {
  uint32_t head[6];
  DEJA_RETURN_IF_ERROR(reader.Read(head, sizeof head));
  if (head[0] != kPayloadVersion) {
    return DataLossError("unsupported ivfpq payload version " + std::to_string(head[0]));
  }
  const bool trained = head[1] & kFlagTrained;
  const bool floats = head[1] & kFlagFloats;
  if (!floats && !trained) return DataLossError("ivfpq index file holds no vectors");
  if (trained) {
    if (floats != options.rerank) {
      return InvalidArgumentError(std::string("the saved ivfpq index was built with rerank = ") +
                                  (floats ? "true" : "false"));
    }
    if ((options.ivf_nlist > 0 && head[2] != static_cast<uint32_t>(options.ivf_nlist)) ||
        (options.pq_m > 0 && head[3] != static_cast<uint32_t>(options.pq_m)) ||
        head[4] != static_cast<uint32_t>(options.pq_nbits)) {
      return InvalidArgumentError("the saved ivfpq index was trained with nlist " +
                                  std::to_string(head[2]) + ", pq_m " + std::to_string(head[3]) +
                                  ", pq_nbits " + std::to_string(head[4]) +
                                  "; the options ask for others");
    }
  }
  auto impl = std::make_unique<Impl>(options);
  if (trained) {
    uint64_t blob_len;
    DEJA_RETURN_IF_ERROR(reader.ReadU64(&blob_len));
    DEJA_ASSIGN_OR_RETURN(std::span<const uint8_t> blob, reader.Take(blob_len));
    SpanReader in(blob);
    std::unique_ptr<faiss::Index> index;
    try {
      index.reset(faiss::read_index(&in));
    } catch (...) {
      return DataLossError(FromException("load").message());
    }
    auto* ivf = dynamic_cast<faiss::IndexIVFPQ*>(index.get());
    if (ivf == nullptr || in.pos != blob.size() || ivf->d != options.dimensions ||
        ivf->metric_type != faiss::METRIC_INNER_PRODUCT ||
        ivf->direct_map.type != faiss::DirectMap::Hashtable || ivf->nlist != head[2] ||
        ivf->pq.M != head[3] || ivf->pq.nbits != head[4]) {
      return DataLossError("ivfpq index file: the faiss index does not match its header");
    }
    index.release();
    impl->ivf.reset(ivf);
    if (!impl->FindCentres()) {
      return DataLossError("ivfpq index file: the quantizer is not a flat index");
    }
    impl->ResolveNprobe();
  }
  if (floats) {
    DEJA_ASSIGN_OR_RETURN(impl->floats, FlatIndex::Load(FlatOptions(options.dimensions), reader));
  } else if (reader.remaining() != 0) {
    return DataLossError("ivfpq index file has trailing payload bytes");
  }
  if (trained && floats && impl->floats->size() != static_cast<size_t>(impl->ivf->ntotal)) {
    return DataLossError("ivfpq index file: codes and floats disagree");
  }
  return std::unique_ptr<IvfPqIndex>(new IvfPqIndex(std::move(impl)));
}

}  // namespace deja
