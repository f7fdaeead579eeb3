#include "semantic/static_embedder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <utility>

#include "core/json.h"
#include "semantic/hf_tokenizer.h"
#include "semantic/model_dir.h"
#include "semantic/safetensors.h"
#include "semantic/text.h"

namespace deja::semantic {
namespace {

// model2vec's default max_length for encode().
constexpr size_t kMaxTokens = 512;

class StaticEmbedder final : public Embedder {
 public:
  std::string_view name() const override { return "static"; }
  int dimensions() const override { return static_cast<int>(dims_); }

  Status Embed(std::string_view text, std::vector<float>* out) const override {
    const std::vector<uint32_t> ids = TokenIds(text);
    out->assign(dims_, 0.0f);
    if (ids.empty()) return Status::Ok();
    // The reference (numpy) averages in the promoted dtype of the rows: float32, or float64 when
    // a vocabulary-quantized model's weights are float64. Mirroring that, in token order, makes
    // the golden outputs come out to ~1e-7 rather than merely to 1e-5: averaging 512 equal rows in
    // float32 moves the result ~5e-6 off their direction, and the reference does exactly that.
    if (weights_ != nullptr && weights_->dtype == Dtype::kF64) {
      Pool<double>(ids, out->data());
    } else {
      Pool<float>(ids, out->data());
    }
    return Status::Ok();
  }

  std::vector<uint32_t> TokenIds(std::string_view text) const {
    text = text.substr(0, OffsetOfCodePoint(text, kMaxTokens * median_token_length_));
    std::vector<uint32_t> ids;
    tokenizer_->Encode(text, &ids);
    if (unk_id_.has_value()) std::erase(ids, *unk_id_);
    // Ids past the model's rows (a tokenizer/model mismatch caught at load for the common case)
    // are dropped rather than read out of bounds.
    std::erase_if(ids, [this](uint32_t id) { return id >= id_limit_; });
    if (ids.size() > kMaxTokens) ids.resize(kMaxTokens);
    return ids;
  }

  Status Init(const std::string& dir);

 private:
  template <typename T>
  void Pool(const std::vector<uint32_t>& ids, float* out) const {
    std::vector<T> sum(dims_, T{0});
    for (uint32_t id : ids) {
      const size_t row = mapping_ != nullptr ? static_cast<size_t>(mapping_->AsInt(id)) : id;
      const T scale = weights_ != nullptr ? Weight<T>(id) : T{1};
      AddRow(row, scale, sum.data());
    }
    const T count = static_cast<T>(ids.size());
    T norm = 0;
    for (T& x : sum) {
      x /= count;
      norm += x * x;
    }
    norm = std::max(std::sqrt(norm), T(1e-12));
    for (size_t i = 0; i < dims_; ++i) out[i] = static_cast<float>(sum[i] / norm);
  }

  template <typename T>
  T Weight(uint32_t id) const {
    if constexpr (std::is_same_v<T, double>) {
      double w;
      std::memcpy(&w, weights_->data + 8 * size_t{id}, 8);  // REQUIRES: F64 weights.
      return w;
    } else {
      return weights_->AsFloat(id);
    }
  }

  template <typename T>
  void AddRow(size_t row, T scale, T* sum) const {
    const size_t n = dims_;
    const uint8_t* p = emb_->data + row * n * DtypeSize(emb_->dtype);
    switch (emb_->dtype) {
      case Dtype::kF32:
        for (size_t i = 0; i < n; ++i) {
          float v;
          std::memcpy(&v, p + 4 * i, 4);
          sum[i] += static_cast<T>(v) * scale;
        }
        break;
      case Dtype::kF16:
        for (size_t i = 0; i < n; ++i) {
          uint16_t h;
          std::memcpy(&h, p + 2 * i, 2);
          sum[i] += static_cast<T>(HalfToFloat(h)) * scale;
        }
        break;
      case Dtype::kI8:
        for (size_t i = 0; i < n; ++i) sum[i] += static_cast<T>(static_cast<int8_t>(p[i])) * scale;
        break;
      default:
        for (size_t i = 0; i < n; ++i) sum[i] += static_cast<T>(emb_->AsFloat(row * n + i)) * scale;
        break;
    }
  }

  std::unique_ptr<Tokenizer> tokenizer_;
  SafeTensors st_;
  const TensorView* emb_ = nullptr;
  const TensorView* weights_ = nullptr;
  const TensorView* mapping_ = nullptr;
  size_t dims_ = 0;
  size_t id_limit_ = 0;
  size_t median_token_length_ = 1;
  std::optional<uint32_t> unk_id_;
};

Status StaticEmbedder::Init(const std::string& dir) {
  const std::string tok_path = dir + "/tokenizer.json";
  const std::string model_path = dir + "/model.safetensors";
  for (const std::string& p : {tok_path, model_path}) {
    if (!FileExists(p)) {
      return NotFoundError(p +
                           " not found: a model2vec model directory holds model.safetensors, "
                           "tokenizer.json and config.json");
    }
  }
  // config.json (model2vec layout) wins over config_sentence_transformers.json; both are optional.
  // Only "normalize" matters to model2vec's encode, and deja always normalizes.
  for (const char* name : {"/config.json", "/config_sentence_transformers.json"}) {
    const std::string path = dir + name;
    if (!FileExists(path)) continue;
    DEJA_ASSIGN_OR_RETURN(json::Value cfg, ReadJsonFile(path));
    if (!cfg.is_object()) return DataLossError(path + ": not a JSON object");
    break;
  }

  DEJA_ASSIGN_OR_RETURN(tokenizer_, Tokenizer::Load(tok_path));
  unk_id_ = tokenizer_->unk_id();
  DEJA_ASSIGN_OR_RETURN(st_, SafeTensors::Open(model_path));
  for (const char* name : {"embeddings", "0", "embedding.weight"}) {
    if ((emb_ = st_.Find(name)) != nullptr) break;
  }
  if (emb_ == nullptr) return DataLossError(model_path + ": no \"embeddings\" tensor");
  if (emb_->shape.size() != 2 || emb_->shape[0] == 0 || emb_->shape[1] == 0) {
    return DataLossError(model_path + ": the embeddings tensor is not a non-empty matrix");
  }
  switch (emb_->dtype) {
    case Dtype::kF32:
    case Dtype::kF16:
    case Dtype::kBF16:
    case Dtype::kF64:
    case Dtype::kI8:
      break;
    default:
      return Status(StatusCode::kUnimplemented, model_path + ": embeddings of dtype " +
                                                    std::string(DtypeName(emb_->dtype)) +
                                                    " are not supported");
  }
  const size_t rows = emb_->shape[0];
  dims_ = emb_->shape[1];
  const size_t vocab = tokenizer_->tokens().size();
  weights_ = st_.Find("weights");
  mapping_ = st_.Find("mapping");
  if (mapping_ != nullptr) {
    if (mapping_->shape.size() != 1 || mapping_->dtype == Dtype::kF32 ||
        mapping_->dtype == Dtype::kF16 || mapping_->dtype == Dtype::kF64) {
      return DataLossError(model_path + ": \"mapping\" must be a vector of integers");
    }
    for (size_t i = 0; i < mapping_->num_elements; ++i) {
      const int64_t r = mapping_->AsInt(i);
      if (r < 0 || static_cast<size_t>(r) >= rows) {
        return DataLossError(model_path + ": mapping[" + std::to_string(i) +
                             "] = " + std::to_string(r) + " is not a row of the embeddings");
      }
    }
    id_limit_ = mapping_->num_elements;
  } else {
    id_limit_ = rows;
  }
  if (weights_ != nullptr) {
    if (weights_->shape.size() != 1)
      return DataLossError(model_path + ": \"weights\" must be a vector");
    id_limit_ = std::min(id_limit_, weights_->num_elements);
  }
  if (vocab > id_limit_) {
    return DataLossError(model_path + ": the tokenizer has " + std::to_string(vocab) +
                         " tokens but the model only " + std::to_string(id_limit_) + " vectors");
  }
  // Median token length in code points over the whole vocabulary (added tokens included), as
  // int(np.median(...)): the mean of the two middle values for an even count, truncated.
  std::vector<size_t> lens;
  lens.reserve(vocab);
  for (const std::string& t : tokenizer_->tokens()) lens.push_back(CountCodePoints(t));
  std::sort(lens.begin(), lens.end());
  if (!lens.empty()) {
    const size_t mid = lens.size() / 2;
    median_token_length_ = lens.size() % 2 == 1 ? lens[mid] : (lens[mid - 1] + lens[mid]) / 2;
    median_token_length_ = std::max<size_t>(median_token_length_, 1);
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::unique_ptr<Embedder>> LoadStaticEmbedder(const std::string& dir) {
  auto e = std::make_unique<StaticEmbedder>();
  DEJA_RETURN_IF_ERROR(e->Init(dir));
  return std::unique_ptr<Embedder>(std::move(e));
}

std::vector<uint32_t> StaticEmbedderTokenIds(const Embedder& embedder, std::string_view text) {
  const auto* e = dynamic_cast<const StaticEmbedder*>(&embedder);
  return e == nullptr ? std::vector<uint32_t>() : e->TokenIds(text);
}

}  // namespace deja::semantic
