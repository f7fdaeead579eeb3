// A BERT encoder (Hugging Face BertModel semantics, inference only) on the CPU: embeddings
// (word + absolute position + token type 0, LayerNorm), then num_hidden_layers post-LayerNorm
// transformer layers (multi-head self-attention, GELU feed-forward). Pooling and normalization are
// the embedder's job (semantic/bert_embedder.h).
//
// A model directory holds config.json (hidden_size, num_hidden_layers, num_attention_heads,
// intermediate_size, max_position_embeddings, type_vocab_size, vocab_size, layer_norm_eps,
// hidden_act: gelu (erf form), gelu_new / gelu_pytorch_tanh (tanh form) or relu) and
// model.safetensors with the weights under their Hugging Face names
// (embeddings.word_embeddings.weight, encoder.layer.N.attention.self.query.weight, ...), optionally
// prefixed "bert.", in F32, F16 or BF16. Weights are converted to float32 and kept in memory (the
// MiniLM-L6 shape: 90 MB); the query, key and value projections are fused into one matrix so a
// layer does four matrix products.
//
// The linear layers run on a packed-weight AVX2/FMA kernel (semantic/bert_matmul.h), attention,
// LayerNorm and GELU on vectorized loops (semantic/bert_ops.h), all on the calling thread: deja
// embeds many requests concurrently, one per calling thread, and a 20-word question is too small
// to gain from splitting across cores.
//
// Thread safety: immutable after Load; Forward may be called concurrently (each call allocates its
// own scratch, ~15 KB per token at the MiniLM shape).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/json.h"
#include "deja/status.h"
#include "semantic/bert_matmul.h"

namespace deja::semantic {

struct BertConfig {
  enum class Activation { kGeluErf, kGeluTanh, kRelu };

  int vocab_size = 0;
  int hidden_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int intermediate_size = 0;
  int max_positions = 0;
  int type_vocab_size = 0;
  float layer_norm_eps = 1e-12f;
  Activation activation = Activation::kGeluErf;

  // Reads a config.json document. Errors: DataLoss (missing or inconsistent sizes),
  // Unimplemented (another hidden_act or position_embedding_type, or not a BERT-style model).
  static StatusOr<BertConfig> FromJson(const json::Value& doc);
};

class BertEncoder {
 public:
  // Loads `dir`/config.json and `dir`/model.safetensors. Errors: NotFound, DataLoss (a missing
  // tensor or one of the wrong shape, named), Unimplemented.
  static StatusOr<std::unique_ptr<BertEncoder>> Load(const std::string& dir);

  const BertConfig& config() const { return config_; }

  // The last layer's hidden states for one sequence of token ids (all attended, token type 0,
  // positions 0..n-1) into *hidden: ids.size() x hidden_size, row-major.
  // REQUIRES: 1 <= ids.size() <= max_positions and every id < vocab_size.
  void Forward(std::span<const uint32_t> ids, std::vector<float>* hidden) const;

 private:
  // The linear layers' weights point into matrices_, their biases into the vectors (zero-padded to
  // whole panels).
  struct Layer {
    bert_internal::PackedLinear qkv;  // Query, key and value projections as one [3H x H] layer.
    bert_internal::PackedLinear attn_out, inter, out;
    std::vector<float> qkv_b, attn_out_b, inter_b, out_b;
    std::vector<float> attn_ln_g, attn_ln_b, out_ln_g, out_ln_b;
  };
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };

  BertEncoder() = default;
  Status Init(const std::string& dir);

  BertConfig config_;
  std::vector<float> word_emb_, pos_emb_, type_emb_, emb_ln_g_, emb_ln_b_;
  std::vector<Layer> layers_;
  // Huge-page aligned arena of the layers' packed matrices, in the order Forward uses them.
  std::unique_ptr<float, Free> matrices_;
};

}  // namespace deja::semantic
