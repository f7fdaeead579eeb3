#include "semantic/bert_ops.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "semantic/bert_matmul.h"

namespace deja::semantic::bert_internal {
namespace {

// GCC/Clang vector extensions: 4 floats (SSE2, every x86-64) and 8 floats (AVX2, used when the
// CPU has it; the 8-lane code is only ever inlined into a target("avx2,fma") function). Helpers
// take vectors by reference: passing or returning an 8-float vector by value from a function not
// compiled for AVX changes the ABI (GCC's -Wpsabi).
typedef float Float4 __attribute__((vector_size(16)));
typedef int32_t Int4 __attribute__((vector_size(16)));
typedef float Float8 __attribute__((vector_size(32)));
typedef int32_t Int8 __attribute__((vector_size(32)));

#define DEJA_INLINE __attribute__((always_inline)) inline

template <typename V>
DEJA_INLINE void Load(V& v, const float* p) {
  std::memcpy(&v, p, sizeof(V));
}
template <typename V>
DEJA_INLINE void Store(float* p, const V& v) {
  std::memcpy(p, &v, sizeof(V));
}

// In place, x = exp(x) on each lane, for x <= 0 (below -87: exp(-87), the smallest normal scale):
// 2^n exp(r), n = round(x / ln 2) (adding 1.5 * 2^23 rounds), |r| <= ln(2) / 2, exp(r) by its
// degree-6 Taylor polynomial (relative error ~2e-7, about that of expf's rounding).
template <typename V, typename VI>
DEJA_INLINE void ExpNonPositive(V& x) {
  x = x < -87.0f ? V{} - 87.0f : x;
  const V n = (x * 1.44269504f + 12582912.0f) - 12582912.0f;
  const V r = (x - n * 0.693145752f) - n * 1.42860677e-6f;
  V e = V{} + 1.0f / 720;
#pragma GCC unroll 6
  for (float c : {1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f}) e = e * r + c;
  const VI bits = (__builtin_convertvector(n, VI) + 127) << 23;
  V scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  x = e * scale;
}

// GELU, erf form, 0.5 x (1 + erf(x / sqrt 2)), on `count` <= lanes floats at p: glibc's erff is
// scalar and was ~15% of a MiniLM forward pass. erf is the odd rational minimax fit on [-4, 4]
// (beyond it erf is +-1 in float) that Eigen and XLA use for float: degree 13 / 8, one division.
// Absolute error against float64 GELU: < 1.4e-6 over [-12, 12] (a few units in the last place; the
// result's rounding alone is up to 4.8e-7 there).
template <typename V>
DEJA_INLINE void GeluErfLanes(float* p, size_t count) {
  V v{};
  std::memcpy(&v, p, count * sizeof(float));
  V x = v * 0.707106781f;
  x = x > 4.0f ? V{} + 4.0f : x;
  x = x < -4.0f ? V{} - 4.0f : x;
  const V x2 = x * x;
  V num = V{} - 2.72614225801306e-10f;
#pragma GCC unroll 6
  for (float c : {2.77068142495902e-08f, -2.10102402082508e-06f, -5.69250639462346e-05f,
                  -7.34990630326855e-04f, -2.95459980854025e-03f, -1.60960333262415e-02f}) {
    num = num * x2 + c;
  }
  V den = V{} - 1.45660718464996e-05f;
#pragma GCC unroll 4
  for (float c : {-2.13374055278905e-04f, -1.68282697438203e-03f, -7.37332916720468e-03f,
                  -1.42647390514189e-02f}) {
    den = den * x2 + c;
  }
  const V half = 0.5f * v;
  v = half * (x * num / den) + half;
  std::memcpy(p, &v, count * sizeof(float));
}

template <typename V>
DEJA_INLINE void GeluErfLoop(float* x, size_t n) {
  constexpr size_t kLanes = sizeof(V) / sizeof(float);
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) GeluErfLanes<V>(x + i, kLanes);
  if (i < n) GeluErfLanes<V>(x + i, n - i);
}

__attribute__((target("avx2,fma"))) void GeluErfAvx2(float* x, size_t n) {
  GeluErfLoop<Float8>(x, n);
}

// AddLayerNorm with `lanes`-float vectors (a scalar tail when n is not a multiple of lanes): the
// sums as `lanes` partial sums, as the scalar loops would not vectorize without -ffast-math.
template <typename V>
DEJA_INLINE void AddLayerNormLoop(const float* add, float* x, int rows, int n, const float* g,
                                  const float* b, float eps) {
  constexpr int kLanes = sizeof(V) / sizeof(float);
  const int whole = n / kLanes * kLanes;
  for (int r = 0; r < rows; ++r) {
    float* row = x + static_cast<size_t>(r) * n;
    if (add != nullptr) {
      const float* a = add + static_cast<size_t>(r) * n;
      for (int i = 0; i < whole; i += kLanes) {
        V v, w;
        Load(v, row + i);
        Load(w, a + i);
        Store(row + i, v + w);
      }
      for (int i = whole; i < n; ++i) row[i] += a[i];
    }
    V sums{}, v;
    for (int i = 0; i < whole; i += kLanes) {
      Load(v, row + i);
      sums += v;
    }
    float sum = 0;
    for (int l = 0; l < kLanes; ++l) sum += sums[l];
    for (int i = whole; i < n; ++i) sum += row[i];
    const float mean = sum / static_cast<float>(n);
    V squares{};
    for (int i = 0; i < whole; i += kLanes) {
      Load(v, row + i);
      v -= mean;
      squares += v * v;
    }
    float var = 0;
    for (int l = 0; l < kLanes; ++l) var += squares[l];
    for (int i = whole; i < n; ++i) var += (row[i] - mean) * (row[i] - mean);
    var /= static_cast<float>(n);
    const float inv = 1.0f / std::sqrt(var + eps);
    for (int i = 0; i < whole; i += kLanes) {
      V gv, bv;
      Load(v, row + i);
      Load(gv, g + i);
      Load(bv, b + i);
      Store(row + i, (v - mean) * inv * gv + bv);
    }
    for (int i = whole; i < n; ++i) row[i] = (row[i] - mean) * inv * g[i] + b[i];
  }
}

__attribute__((target("avx2,fma"))) void AddLayerNormAvx2(const float* add, float* x, int rows,
                                                          int n, const float* g, const float* b,
                                                          float eps) {
  AddLayerNormLoop<Float8>(add, x, rows, n, g, b, eps);
}

// In place, each row of x (rows x n, rows `stride` floats apart): softmax(scale * row), `lanes`
// floats at a time. REQUIRES: stride >= n rounded up to a multiple of 8, the padding initialized
// (it is overwritten).
template <typename V, typename VI>
DEJA_INLINE void SoftmaxLoop(float* x, int rows, int n, size_t stride, float scale) {
  constexpr int kLanes = sizeof(V) / sizeof(float);
  for (int r = 0; r < rows; ++r) {
    float* row = x + r * stride;
    const float max = *std::max_element(row, row + n);
    for (int i = 0; i < n; i += kLanes) {
      V v;
      Load(v, row + i);
      v = (v - max) * scale;
      ExpNonPositive<V, VI>(v);
      Store(row + i, v);
    }
    float sum = 0;
    for (int i = 0; i < n; ++i) sum += row[i];
    const float inv = 1.0f / sum;
    for (int i = 0; i < n; i += kLanes) {
      V v;
      Load(v, row + i);
      Store(row + i, v * inv);
    }
  }
}

__attribute__((target("avx2,fma"))) void SoftmaxAvx2(float* x, int rows, int n, size_t stride,
                                                     float scale) {
  SoftmaxLoop<Float8, Int8>(x, rows, n, stride, scale);
}

size_t PaddedRow(int n) { return (static_cast<size_t>(n) + 7) / 8 * 8; }

}  // namespace

void AddLayerNorm(const float* add, float* x, int rows, int n, const float* g, const float* b,
                  float eps, bool avx2) {
  if (avx2 && HasAvx2Fma()) {
    AddLayerNormAvx2(add, x, rows, n, g, b, eps);
  } else {
    AddLayerNormLoop<Float4>(add, x, rows, n, g, b, eps);
  }
}

size_t AttentionScratchFloats(int n, int head_dim) {
  return PackedFloats(head_dim, n) + PackedFloats(n, head_dim) + n * PaddedRow(n);
}

void SelfAttention(const float* qkv, int n, int hidden, int heads, float* scratch, float* ctx,
                   bool avx2) {
  const int d = hidden / heads;
  const size_t stride = 3 * static_cast<size_t>(hidden);
  float* keys = scratch;                        // PackedFloats(d, n)
  float* values = keys + PackedFloats(d, n);    // PackedFloats(n, d)
  float* scores = values + PackedFloats(n, d);  // n x PaddedRow(n), padding zeroed here
  const size_t scores_stride = PaddedRow(n);
  std::fill(scores, scores + n * scores_stride, 0.0f);
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const bool fast = avx2 && HasAvx2Fma();
  for (int head = 0; head < heads; ++head) {
    const float* q = qkv + static_cast<size_t>(head) * d;
    const float* k = q + hidden;
    const float* v = q + 2 * static_cast<size_t>(hidden);
    // scores = q k^T: "weight" [n x d] = the keys. Then context = softmax(scores) v: "weight"
    // [d x n] = the values transposed.
    Pack(k, stride, 1, d, n, keys);
    MatMul(q, stride, n, PackedLinear{keys, nullptr, d, n}, scores, scores_stride, avx2);
    if (fast) {
      SoftmaxAvx2(scores, n, n, scores_stride, scale);
    } else {
      SoftmaxLoop<Float4, Int4>(scores, n, n, scores_stride, scale);
    }
    Pack(v, 1, stride, n, d, values);
    MatMul(scores, scores_stride, n, PackedLinear{values, nullptr, n, d},
           ctx + static_cast<size_t>(head) * d, hidden, avx2);
  }
}

void GeluErf(float* x, size_t n, bool avx2) {
  if (avx2 && HasAvx2Fma()) {
    GeluErfAvx2(x, n);
  } else {
    GeluErfLoop<Float4>(x, n);
  }
}

}  // namespace deja::semantic::bert_internal
