// The bert encoder's operations besides the linear layers (semantic/bert_matmul.h): self-attention,
// residual + LayerNorm and the erf-form GELU, on vectors of floats (GCC vector extensions: 8 lanes
// in functions compiled for AVX2 and FMA, used when the CPU has them, else 4 SSE2 lanes; the two
// agree up to float rounding).
//
// Thread safety: pure functions; they write only their output and scratch arguments.
#pragma once

#include <cstddef>

namespace deja::semantic::bert_internal {

// In place, each row of x (rows x n): x = LayerNorm(x + add) = (v - mean) / sqrt(var + eps) * g + b
// with v = x + add (add may be null). `avx2` as in MatMul.
void AddLayerNorm(const float* add, float* x, int rows, int n, const float* g, const float* b,
                  float eps, bool avx2 = true);

// Floats of scratch SelfAttention needs for n tokens and heads of head_dim.
size_t AttentionScratchFloats(int n, int head_dim);

// Multi-head self-attention over n tokens, every token attending to every other: qkv is n x
// 3 * hidden (each row: query, key, value, each `heads` heads of hidden / heads), ctx (n x hidden)
// receives softmax(q k^T / sqrt(head_dim)) v per head, heads side by side. `scratch` holds
// AttentionScratchFloats(n, hidden / heads) floats. The two products per head run on MatMul (keys
// and values packed per head); `avx2` as in MatMul.
void SelfAttention(const float* qkv, int n, int hidden, int heads, float* scratch, float* ctx,
                   bool avx2 = true);

// In place: x = GELU(x), erf form, vectorized. Exposed with the flag for tests.
void GeluErf(float* x, size_t n, bool avx2 = true);

}  // namespace deja::semantic::bert_internal
