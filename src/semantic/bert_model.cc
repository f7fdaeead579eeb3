#include "semantic/bert_model.h"

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "semantic/bert_ops.h"
#include "semantic/model_dir.h"
#include "semantic/safetensors.h"

namespace deja::semantic {
namespace {

using bert_internal::AddLayerNorm;
using bert_internal::AttentionScratchFloats;
using bert_internal::MatMul;
using bert_internal::Pack;
using bert_internal::PackedFloats;
using bert_internal::PackedLinear;
using bert_internal::SelfAttention;

Status Unimplemented(std::string m) { return Status(StatusCode::kUnimplemented, std::move(m)); }

StatusOr<int> SizeField(const json::Value& doc, std::string_view key, int fallback) {
  const json::Value* v = doc.Find(key);
  if (v == nullptr) {
    if (fallback >= 0) return fallback;
    return DataLossError("config.json has no " + std::string(key));
  }
  if (!v->is_number() || v->as_number() < 1 || v->as_number() > (1 << 24) ||
      v->as_number() != std::floor(v->as_number())) {
    return DataLossError("config.json: " + std::string(key) + " is not a positive integer");
  }
  return static_cast<int>(v->as_number());
}

// Reads tensors by Hugging Face name (with the model's prefix) into float32 buffers.
class WeightReader {
 public:
  WeightReader(const SafeTensors& st, std::string prefix, std::string file)
      : st_(st), prefix_(std::move(prefix)), file_(std::move(file)) {}

  // Copies tensor `name`, which must have shape `shape`, to dst.
  Status Read(const std::string& name, std::initializer_list<size_t> shape, float* dst) const {
    const TensorView* t = st_.Find(prefix_ + name);
    if (t == nullptr) return DataLossError(file_ + ": no tensor " + prefix_ + name);
    if (!std::equal(t->shape.begin(), t->shape.end(), shape.begin(), shape.end())) {
      std::string want, got;
      // Appended piece by piece: GCC 12 at -O3 reports a false -Wrestrict on `"x" + string`.
      for (size_t d : shape) {
        if (!want.empty()) want += 'x';
        want += std::to_string(d);
      }
      for (size_t d : t->shape) {
        if (!got.empty()) got += 'x';
        got += std::to_string(d);
      }
      return DataLossError(file_ + ": " + prefix_ + name + " has shape [" + got + "], expected [" +
                           want + "]");
    }
    switch (t->dtype) {
      case Dtype::kF32:
        std::memcpy(dst, t->data, t->num_elements * sizeof(float));
        return Status::Ok();
      case Dtype::kF16:
      case Dtype::kBF16:
      case Dtype::kF64:
        for (size_t i = 0; i < t->num_elements; ++i) dst[i] = t->AsFloat(i);
        return Status::Ok();
      default:
        return Unimplemented(file_ + ": " + prefix_ + name + " has dtype " +
                             std::string(DtypeName(t->dtype)) + " (expected F32, F16 or BF16)");
    }
  }

  Status Read(const std::string& name, std::initializer_list<size_t> shape,
              std::vector<float>* dst) const {
    size_t n = 1;
    for (size_t d : shape) n *= d;
    dst->assign(n, 0.0f);
    return Read(name, shape, dst->data());
  }

 private:
  const SafeTensors& st_;
  std::string prefix_;
  std::string file_;
};

void Activate(float* x, size_t n, BertConfig::Activation act) {
  switch (act) {
    case BertConfig::Activation::kGeluErf:
      bert_internal::GeluErf(x, n);
      break;
    case BertConfig::Activation::kGeluTanh:
      for (size_t i = 0; i < n; ++i) {
        const float v = x[i];
        x[i] = 0.5f * v * (1.0f + std::tanh(0.7978845608f * (v + 0.044715f * v * v * v)));
      }
      break;
    case BertConfig::Activation::kRelu:
      for (size_t i = 0; i < n; ++i) x[i] = std::max(x[i], 0.0f);
      break;
  }
}

// 2 MiB: the transparent huge page size on x86-64.
constexpr size_t kHugePage = size_t{2} << 20;

}  // namespace

StatusOr<BertConfig> BertConfig::FromJson(const json::Value& doc) {
  if (!doc.is_object()) return DataLossError("config.json is not a JSON object");
  const std::string_view model_type = doc.GetString("model_type", "bert");
  if (model_type != "bert") {
    return Unimplemented("config.json: model_type \"" + std::string(model_type) +
                         "\" (only bert is supported)");
  }
  const std::string_view positions = doc.GetString("position_embedding_type", "absolute");
  if (positions != "absolute") {
    return Unimplemented("config.json: position_embedding_type \"" + std::string(positions) +
                         "\" (only absolute is supported)");
  }
  BertConfig c;
  DEJA_ASSIGN_OR_RETURN(c.vocab_size, SizeField(doc, "vocab_size", -1));
  DEJA_ASSIGN_OR_RETURN(c.hidden_size, SizeField(doc, "hidden_size", -1));
  DEJA_ASSIGN_OR_RETURN(c.num_layers, SizeField(doc, "num_hidden_layers", -1));
  DEJA_ASSIGN_OR_RETURN(c.num_heads, SizeField(doc, "num_attention_heads", -1));
  DEJA_ASSIGN_OR_RETURN(c.intermediate_size, SizeField(doc, "intermediate_size", -1));
  DEJA_ASSIGN_OR_RETURN(c.max_positions, SizeField(doc, "max_position_embeddings", -1));
  DEJA_ASSIGN_OR_RETURN(c.type_vocab_size, SizeField(doc, "type_vocab_size", 2));
  c.layer_norm_eps = static_cast<float>(NumberField(doc, "layer_norm_eps", 1e-12));
  if (c.hidden_size % c.num_heads != 0) {
    return DataLossError("config.json: hidden_size " + std::to_string(c.hidden_size) +
                         " is not a multiple of num_attention_heads " +
                         std::to_string(c.num_heads));
  }
  const std::string_view act = doc.GetString("hidden_act", "gelu");
  if (act == "gelu") {
    c.activation = Activation::kGeluErf;
  } else if (act == "gelu_new" || act == "gelu_pytorch_tanh" || act == "gelu_fast") {
    c.activation = Activation::kGeluTanh;
  } else if (act == "relu") {
    c.activation = Activation::kRelu;
  } else {
    return Unimplemented("config.json: hidden_act \"" + std::string(act) + "\"");
  }
  return c;
}

StatusOr<std::unique_ptr<BertEncoder>> BertEncoder::Load(const std::string& dir) {
  auto e = std::unique_ptr<BertEncoder>(new BertEncoder());
  DEJA_RETURN_IF_ERROR(e->Init(dir));
  return e;
}

Status BertEncoder::Init(const std::string& dir) {
  const std::string config_path = dir + "/config.json";
  const std::string model_path = dir + "/model.safetensors";
  if (!FileExists(config_path)) {
    return NotFoundError(config_path +
                         " not found: a BERT model directory holds config.json, "
                         "model.safetensors and tokenizer.json or vocab.txt");
  }
  if (!FileExists(model_path)) {
    return NotFoundError(model_path +
                         " not found (pytorch_model.bin is not supported: convert "
                         "it to safetensors)");
  }
  DEJA_ASSIGN_OR_RETURN(json::Value doc, ReadJsonFile(config_path));
  StatusOr<BertConfig> config = BertConfig::FromJson(doc);
  if (!config.ok()) return Status(config.status().code(), dir + "/" + config.status().message());
  config_ = *config;
  DEJA_ASSIGN_OR_RETURN(SafeTensors st, SafeTensors::Open(model_path));
  std::string prefix;
  if (st.Find("embeddings.word_embeddings.weight") == nullptr &&
      st.Find("bert.embeddings.word_embeddings.weight") != nullptr) {
    prefix = "bert.";
  }
  const WeightReader w(st, prefix, model_path);
  const auto h = static_cast<size_t>(config_.hidden_size);
  const auto inter = static_cast<size_t>(config_.intermediate_size);
  DEJA_RETURN_IF_ERROR(w.Read("embeddings.word_embeddings.weight",
                              {static_cast<size_t>(config_.vocab_size), h}, &word_emb_));
  DEJA_RETURN_IF_ERROR(w.Read("embeddings.position_embeddings.weight",
                              {static_cast<size_t>(config_.max_positions), h}, &pos_emb_));
  DEJA_RETURN_IF_ERROR(w.Read("embeddings.token_type_embeddings.weight",
                              {static_cast<size_t>(config_.type_vocab_size), h}, &type_emb_));
  DEJA_RETURN_IF_ERROR(w.Read("embeddings.LayerNorm.weight", {h}, &emb_ln_g_));
  DEJA_RETURN_IF_ERROR(w.Read("embeddings.LayerNorm.bias", {h}, &emb_ln_b_));
  layers_.resize(static_cast<size_t>(config_.num_layers));
  // The layers' matrices, which every Forward streams through, live in one arena of huge pages
  // (fewer TLB misses), packed for the matrix kernel in the order Forward reads them (the kernel
  // prefetches the bytes after the panel it works on).
  const int hidden = config_.hidden_size, intermediate = config_.intermediate_size;
  const size_t per_layer = PackedFloats(hidden, 3 * hidden) + PackedFloats(hidden, hidden) +
                           PackedFloats(hidden, intermediate) + PackedFloats(intermediate, hidden);
  const size_t bytes =
      (layers_.size() * per_layer * sizeof(float) + kHugePage - 1) / kHugePage * kHugePage;
  matrices_.reset(static_cast<float*>(std::aligned_alloc(kHugePage, bytes)));
  if (matrices_ == nullptr) return ResourceExhaustedError(dir + ": cannot allocate the weights");
  ::madvise(matrices_.get(), bytes, MADV_HUGEPAGE);  // Advice only: failure is harmless.
  float* arena = matrices_.get();
  // Packs the [out x in] weight m into the arena as *layer, with *bias (zero-padded).
  auto pack = [&arena](const std::vector<float>& m, int in, int out, std::vector<float>* bias,
                       PackedLinear* layer) {
    Pack(m.data(), static_cast<size_t>(in), 1, in, out, arena);
    bias->resize(PackedFloats(1, out), 0.0f);
    *layer = PackedLinear{arena, bias->data(), in, out};
    arena += PackedFloats(in, out);
  };
  std::vector<float> qkv(3 * h * h), attn_out, inter_w, out_w;
  for (size_t i = 0; i < layers_.size(); ++i) {
    Layer& l = layers_[i];
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    l.qkv_b.assign(3 * h, 0.0f);
    const char* parts[] = {"query", "key", "value"};
    for (size_t j = 0; j < 3; ++j) {  // Stacked as rows: [3H x H].
      const std::string base = p + "attention.self." + parts[j];
      DEJA_RETURN_IF_ERROR(w.Read(base + ".weight", {h, h}, qkv.data() + j * h * h));
      DEJA_RETURN_IF_ERROR(w.Read(base + ".bias", {h}, l.qkv_b.data() + j * h));
    }
    DEJA_RETURN_IF_ERROR(w.Read(p + "attention.output.dense.weight", {h, h}, &attn_out));
    DEJA_RETURN_IF_ERROR(w.Read(p + "attention.output.dense.bias", {h}, &l.attn_out_b));
    DEJA_RETURN_IF_ERROR(w.Read(p + "attention.output.LayerNorm.weight", {h}, &l.attn_ln_g));
    DEJA_RETURN_IF_ERROR(w.Read(p + "attention.output.LayerNorm.bias", {h}, &l.attn_ln_b));
    DEJA_RETURN_IF_ERROR(w.Read(p + "intermediate.dense.weight", {inter, h}, &inter_w));
    DEJA_RETURN_IF_ERROR(w.Read(p + "intermediate.dense.bias", {inter}, &l.inter_b));
    DEJA_RETURN_IF_ERROR(w.Read(p + "output.dense.weight", {h, inter}, &out_w));
    DEJA_RETURN_IF_ERROR(w.Read(p + "output.dense.bias", {h}, &l.out_b));
    DEJA_RETURN_IF_ERROR(w.Read(p + "output.LayerNorm.weight", {h}, &l.out_ln_g));
    DEJA_RETURN_IF_ERROR(w.Read(p + "output.LayerNorm.bias", {h}, &l.out_ln_b));
    pack(qkv, hidden, 3 * hidden, &l.qkv_b, &l.qkv);
    pack(attn_out, hidden, hidden, &l.attn_out_b, &l.attn_out);
    pack(inter_w, hidden, intermediate, &l.inter_b, &l.inter);
    pack(out_w, intermediate, hidden, &l.out_b, &l.out);
  }
  return Status::Ok();
}

void BertEncoder::Forward(std::span<const uint32_t> ids, std::vector<float>* hidden) const {
  const int n = static_cast<int>(ids.size());
  const int h = config_.hidden_size;
  const int inter = config_.intermediate_size;
  const int heads = config_.num_heads;
  const size_t nh = static_cast<size_t>(n) * h;
  // Scratch, one allocation, not zeroed: qkv (n x 3h), context (n x h), sum (n x h), intermediate
  // (n x inter), attention's own.
  const size_t floats =
      nh * 5 + static_cast<size_t>(n) * inter + AttentionScratchFloats(n, h / heads);
  const std::unique_ptr<float[]> scratch(new float[floats]);
  float* qkv = scratch.get();
  float* ctx = qkv + 3 * nh;
  float* sum = ctx + nh;
  float* mid = sum + nh;
  float* attention = mid + static_cast<size_t>(n) * inter;

  hidden->resize(nh);
  float* x = hidden->data();
  for (int t = 0; t < n; ++t) {
    const float* word = word_emb_.data() + static_cast<size_t>(ids[t]) * h;
    const float* pos = pos_emb_.data() + static_cast<size_t>(t) * h;
    const float* type = type_emb_.data();  // token type 0
    float* row = x + static_cast<size_t>(t) * h;
    for (int i = 0; i < h; ++i) row[i] = word[i] + pos[i] + type[i];
  }
  AddLayerNorm(nullptr, x, n, h, emb_ln_g_.data(), emb_ln_b_.data(), config_.layer_norm_eps);

  for (const Layer& l : layers_) {
    MatMul(x, n, l.qkv, qkv);
    SelfAttention(qkv, n, h, heads, attention, ctx);
    MatMul(ctx, n, l.attn_out, sum);
    AddLayerNorm(sum, x, n, h, l.attn_ln_g.data(), l.attn_ln_b.data(), config_.layer_norm_eps);

    MatMul(x, n, l.inter, mid);
    Activate(mid, static_cast<size_t>(n) * inter, config_.activation);
    MatMul(mid, n, l.out, sum);
    AddLayerNorm(sum, x, n, h, l.out_ln_g.data(), l.out_ln_b.data(), config_.layer_norm_eps);
  }
}

}  // namespace deja::semantic
