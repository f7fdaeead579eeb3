#include "semantic/bert_model.h"

#include <cblas.h>
#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>

#include "semantic/model_dir.h"
#include "semantic/safetensors.h"

namespace deja::semantic {
namespace {

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

// GCC/Clang vector extensions: 4 floats (SSE2, every x86-64) and 8 floats (AVX2, used when the
// CPU has it; the 8-lane code is only ever inlined into a target("avx2,fma") function).
typedef float Float4 __attribute__((vector_size(16)));
typedef int32_t Int4 __attribute__((vector_size(16)));
typedef float Float8 __attribute__((vector_size(32)));
typedef int32_t Int8 __attribute__((vector_size(32)));

// In place, each row of x (rows x n): x = LayerNorm(x + add) = (v - mean) / sqrt(var + eps) * g + b
// with v = x + add (add may be null). Four lanes at a time when n is a multiple of 4 (BERT sizes
// are), as four partial sums: the scalar loops do not vectorize without -ffast-math.
void AddLayerNorm(const float* add, float* x, int rows, int n, const float* g, const float* b,
                  float eps) {
  for (int r = 0; r < rows; ++r) {
    float* v = x + static_cast<size_t>(r) * n;
    if (add != nullptr) {
      const float* a = add + static_cast<size_t>(r) * n;
      for (int i = 0; i < n; ++i) v[i] += a[i];
    }
    float mean = 0, var = 0;
    if (n % 4 == 0) {
      Float4 s{}, q{};
      for (int i = 0; i < n; i += 4) {
        Float4 t;
        std::memcpy(&t, v + i, sizeof(t));
        s += t;
      }
      mean = (s[0] + s[1] + s[2] + s[3]) / static_cast<float>(n);
      for (int i = 0; i < n; i += 4) {
        Float4 t;
        std::memcpy(&t, v + i, sizeof(t));
        t -= mean;
        q += t * t;
      }
      var = (q[0] + q[1] + q[2] + q[3]) / static_cast<float>(n);
    } else {
      for (int i = 0; i < n; ++i) mean += v[i];
      mean /= static_cast<float>(n);
      for (int i = 0; i < n; ++i) var += (v[i] - mean) * (v[i] - mean);
      var /= static_cast<float>(n);
    }
    const float inv = 1.0f / std::sqrt(var + eps);
    for (int i = 0; i < n; ++i) v[i] = (v[i] - mean) * inv * g[i] + b[i];
  }
}

// In place, each row of x (rows x n): softmax.
void Softmax(float* x, int rows, int n) {
  for (int r = 0; r < rows; ++r) {
    float* v = x + static_cast<size_t>(r) * n;
    const float max = *std::max_element(v, v + n);
    float sum = 0;
    for (int i = 0; i < n; ++i) {
      v[i] = std::exp(v[i] - max);
      sum += v[i];
    }
    const float inv = 1.0f / sum;
    for (int i = 0; i < n; ++i) v[i] *= inv;
  }
}

// GELU, erf form, 0.5 x (1 + erf(x / sqrt 2)), on one vector of lanes: glibc's erff is scalar and
// was ~15% of a MiniLM forward pass. 1 + erf(x/sqrt 2) is computed as erfc(|x|/sqrt 2) (x < 0) or
// 2 - erfc (x >= 0), with erfc from the Chebyshev fit in Numerical Recipes (erfcc, fractional
// error < 1.2e-7) and exp by range reduction and a degree-6 polynomial. Absolute error against
// float64 GELU: < 4e-7 over [-12, 12].
template <typename V, typename VI>
__attribute__((always_inline)) inline void GeluErfLanes(float* p, size_t count) {
  V v{};
  std::memcpy(&v, p, count * sizeof(float));
  const V z = (v < 0 ? -v : v) * 0.707106781f;
  const V t = 1.0f / (1.0f + 0.5f * z);
  V poly = V{} + 0.17087277f;
  for (float c : {-0.82215223f, 1.48851587f, -1.13520398f, 0.27886807f, -0.18628806f, 0.09678418f,
                  0.37409196f, 1.00002368f, -1.26551223f}) {
    poly = poly * t + c;
  }
  V x = poly - z * z;  // erfc = t exp(x), x <= 0
  x = x < -87.0f ? V{} - 87.0f : x;
  // exp(x) = 2^n exp(r), n = round(x / ln 2) (adding 1.5 * 2^23 rounds), |r| <= ln(2) / 2.
  const V n = (x * 1.44269504f + 12582912.0f) - 12582912.0f;
  const V r = (x - n * 0.693145752f) - n * 1.42860677e-6f;
  V e = V{} + 1.0f / 720;
  for (float c : {1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f}) e = e * r + c;
  const VI bits = (__builtin_convertvector(n, VI) + 127) << 23;
  V scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  const V erfc = t * e * scale;
  v = 0.5f * v * (v >= 0 ? 2.0f - erfc : erfc);
  std::memcpy(p, &v, count * sizeof(float));
}

template <typename V, typename VI>
__attribute__((always_inline)) inline void GeluErfLoop(float* x, size_t n) {
  constexpr size_t kLanes = sizeof(V) / sizeof(float);
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) GeluErfLanes<V, VI>(x + i, kLanes);
  if (i < n) GeluErfLanes<V, VI>(x + i, n - i);
}

__attribute__((target("avx2,fma"))) void GeluErfAvx2(float* x, size_t n) {
  GeluErfLoop<Float8, Int8>(x, n);
}

bool HasAvx2() {
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return avx2;
}

void Activate(float* x, size_t n, BertConfig::Activation act) {
  switch (act) {
    case BertConfig::Activation::kGeluErf:
      bert_internal::GeluErf(x, n, HasAvx2());
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

// out (rows x n) = broadcast bias, then += a (rows x k) * w (k x n: the Hugging Face [n x k]
// weight, transposed at load; OpenBLAS packs that layout ~20% faster for so few rows).
void Linear(const float* a, int rows, int k, const float* w, const std::vector<float>& bias,
            float* out) {
  const int n = static_cast<int>(bias.size());
  for (int r = 0; r < rows; ++r) {
    std::memcpy(out + static_cast<size_t>(r) * n, bias.data(), n * sizeof(float));
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, n, k, 1.0f, a, k, w, n, 1.0f, out,
              n);
}

// Writes the transpose of the row-major rows x cols matrix `m` to dst (cols x rows).
void TransposeInto(const std::vector<float>& m, size_t rows, size_t cols, float* dst) {
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < cols; ++c) dst[c * rows + r] = m[r * cols + c];
  }
}

// 2 MiB: the transparent huge page size on x86-64.
constexpr size_t kHugePage = size_t{2} << 20;

}  // namespace

namespace bert_internal {
void GeluErf(float* x, size_t n, bool avx2) {
  if (avx2 && HasAvx2()) {
    GeluErfAvx2(x, n);
  } else {
    GeluErfLoop<Float4, Int4>(x, n);
  }
}
}  // namespace bert_internal

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
  static std::once_flag one_thread;
  std::call_once(one_thread, [] { openblas_set_num_threads(1); });
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
  // (fewer TLB misses while OpenBLAS packs them: ~4% of a MiniLM forward pass).
  const size_t per_layer = 3 * h * h + h * h + 2 * h * inter;
  const size_t bytes =
      (layers_.size() * per_layer * sizeof(float) + kHugePage - 1) / kHugePage * kHugePage;
  matrices_.reset(static_cast<float*>(std::aligned_alloc(kHugePage, bytes)));
  if (matrices_ == nullptr) return ResourceExhaustedError(dir + ": cannot allocate the weights");
  ::madvise(matrices_.get(), bytes, MADV_HUGEPAGE);  // Advice only: failure is harmless.
  std::vector<float> qkv(3 * h * h), attn_out, inter_w, out_w;
  for (size_t i = 0; i < layers_.size(); ++i) {
    Layer& l = layers_[i];
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    float* arena = matrices_.get() + i * per_layer;
    l.qkv_w = arena;
    l.attn_out_w = arena + 3 * h * h;
    l.inter_w = arena + 4 * h * h;
    l.out_w = arena + 4 * h * h + h * inter;
    l.qkv_b.assign(3 * h, 0.0f);
    const char* parts[] = {"query", "key", "value"};
    for (size_t j = 0; j < 3; ++j) {  // Stacked as rows [3H x H], transposed below.
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
    TransposeInto(qkv, 3 * h, h, l.qkv_w);
    TransposeInto(attn_out, h, h, l.attn_out_w);
    TransposeInto(inter_w, inter, h, l.inter_w);
    TransposeInto(out_w, h, inter, l.out_w);
  }
  return Status::Ok();
}

void BertEncoder::Forward(std::span<const uint32_t> ids, std::vector<float>* hidden) const {
  const int n = static_cast<int>(ids.size());
  const int h = config_.hidden_size;
  const int inter = config_.intermediate_size;
  const int heads = config_.num_heads;
  const int d = h / heads;
  const size_t nh = static_cast<size_t>(n) * h;
  // Scratch, one allocation: qkv (n x 3h), context (n x h), sum (n x h), intermediate (n x inter),
  // attention scores (n x n).
  std::vector<float> scratch(nh * 5 + static_cast<size_t>(n) * inter + static_cast<size_t>(n) * n);
  float* qkv = scratch.data();
  float* ctx = qkv + 3 * nh;
  float* sum = ctx + nh;
  float* mid = sum + nh;
  float* scores = mid + static_cast<size_t>(n) * inter;

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

  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  for (const Layer& l : layers_) {
    Linear(x, n, h, l.qkv_w, l.qkv_b, qkv);
    for (int head = 0; head < heads; ++head) {
      const float* q = qkv + head * d;
      const float* k = qkv + h + head * d;
      const float* v = qkv + 2 * h + head * d;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, d, scale, q, 3 * h, k, 3 * h, 0.0f,
                  scores, n);
      Softmax(scores, n, n);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, d, n, 1.0f, scores, n, v, 3 * h,
                  0.0f, ctx + head * d, h);
    }
    Linear(ctx, n, h, l.attn_out_w, l.attn_out_b, sum);
    AddLayerNorm(sum, x, n, h, l.attn_ln_g.data(), l.attn_ln_b.data(), config_.layer_norm_eps);

    Linear(x, n, h, l.inter_w, l.inter_b, mid);
    Activate(mid, static_cast<size_t>(n) * inter, config_.activation);
    Linear(mid, n, inter, l.out_w, l.out_b, sum);
    AddLayerNorm(sum, x, n, h, l.out_ln_g.data(), l.out_ln_b.data(), config_.layer_norm_eps);
  }
}

}  // namespace deja::semantic
