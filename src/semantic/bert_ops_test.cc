// The bert encoder's kernels (semantic/bert_matmul.h, semantic/bert_ops.h) against plain float64
// loops, on both paths (AVX2/FMA, and the portable one every x86-64 takes without it; on a CPU
// without AVX2 both runs take the portable path), at sizes that exercise the partial tiles and
// panels: rows not a multiple of 4, outputs not a multiple of 24, vectors with tails.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "semantic/bert_matmul.h"
#include "semantic/bert_ops.h"

namespace deja::semantic::bert_internal {
namespace {

// Deterministic values in [-1, 1).
std::vector<float> Values(size_t n, int seed) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) {
    v[i] = static_cast<float>(std::sin(0.7 * static_cast<double>(i) + seed) * 0.999);
  }
  return v;
}

const char* PathName(bool avx2) { return avx2 ? "avx2" : "portable"; }

TEST(BertMatMulTest, MatchesPlainLoopsWithStridesAndPadding) {
  for (bool avx2 : {false, true}) {
    for (int rows : {1, 3, 4, 5, 13, 28}) {
      for (int in : {1, 7, 40}) {
        for (int out : {1, 23, 24, 25, 50}) {
          for (bool with_bias : {false, true}) {
            const std::string where = std::string(PathName(avx2)) + " rows " +
                                      std::to_string(rows) + " in " + std::to_string(in) + " out " +
                                      std::to_string(out);
            // [out x in] weight, rows of a `in + 3` apart, rows of out `out + 2` apart.
            const std::vector<float> w = Values(static_cast<size_t>(out) * in, 1);
            const size_t a_stride = in + 3, out_stride = out + 2;
            const std::vector<float> a = Values(rows * a_stride, 2);
            std::vector<float> bias = Values(PackedFloats(1, out), 3);
            std::fill(bias.begin() + out, bias.end(), 0.0f);
            std::vector<float> packed(PackedFloats(in, out), -1.0f);
            Pack(w.data(), in, 1, in, out, packed.data());
            std::vector<float> c(rows * out_stride, 99.0f);
            MatMul(a.data(), a_stride, rows,
                   {packed.data(), with_bias ? bias.data() : nullptr, in, out}, c.data(),
                   out_stride, avx2);
            double worst = 0;
            for (int r = 0; r < rows; ++r) {
              for (int o = 0; o < out; ++o) {
                double want = with_bias ? bias[o] : 0.0;
                for (int k = 0; k < in; ++k) {
                  want += static_cast<double>(a[r * a_stride + k]) * w[o * in + k];
                }
                worst = std::max(worst, std::fabs(c[r * out_stride + o] - want));
              }
              for (size_t gap = out; gap < out_stride; ++gap) {
                EXPECT_EQ(c[r * out_stride + gap], 99.0f) << where << ": wrote past the row";
              }
            }
            EXPECT_LT(worst, 1e-5) << where;
          }
        }
      }
    }
  }
}

TEST(BertMatMulTest, PackReadsAnyLayout) {
  const int in = 11, out = 30;
  const std::vector<float> w = Values(static_cast<size_t>(out) * in, 4);  // [out x in]
  std::vector<float> transposed(w.size());                                // [in x out]
  for (int o = 0; o < out; ++o) {
    for (int k = 0; k < in; ++k) transposed[k * out + o] = w[o * in + k];
  }
  std::vector<float> from_rows(PackedFloats(in, out), -1.0f);
  std::vector<float> from_columns(from_rows.size(), -2.0f);
  std::vector<float> from_strided(from_rows.size(), -3.0f);
  Pack(w.data(), in, 1, in, out, from_rows.data());
  Pack(transposed.data(), 1, out, in, out, from_columns.data());
  // Every other element of a [out x 2in] matrix: steps other than 1 on both sides.
  std::vector<float> spread(w.size() * 2, 7.0f);
  for (size_t i = 0; i < w.size(); ++i) spread[2 * i] = w[i];
  Pack(spread.data(), 2 * in, 2, in, out, from_strided.data());
  EXPECT_EQ(from_rows, from_columns);
  EXPECT_EQ(from_rows, from_strided);
  // Panel 1, row k, column j holds w[24 + j][k]; the padding is zero.
  const size_t panel = static_cast<size_t>(in) * kPanelWidth;
  EXPECT_EQ(from_rows[panel + 2 * kPanelWidth + 3], w[(kPanelWidth + 3) * in + 2]);
  EXPECT_EQ(from_rows[panel + 2 * kPanelWidth + 6], 0.0f);
}

// Plain float64 multi-head attention over qkv (n x 3 hidden).
std::vector<double> NaiveAttention(const std::vector<float>& qkv, int n, int hidden, int heads) {
  const int d = hidden / heads;
  const size_t stride = 3 * static_cast<size_t>(hidden);
  std::vector<double> ctx(static_cast<size_t>(n) * hidden, 0.0);
  for (int h = 0; h < heads; ++h) {
    for (int i = 0; i < n; ++i) {
      std::vector<double> p(n);
      for (int j = 0; j < n; ++j) {
        double s = 0;
        for (int c = 0; c < d; ++c) {
          s += static_cast<double>(qkv[i * stride + h * d + c]) *
               qkv[j * stride + hidden + h * d + c];
        }
        p[j] = s / std::sqrt(static_cast<double>(d));
      }
      const double max = *std::max_element(p.begin(), p.end());
      double sum = 0;
      for (double& v : p) sum += (v = std::exp(v - max));
      for (int j = 0; j < n; ++j) {
        for (int c = 0; c < d; ++c) {
          ctx[i * hidden + h * d + c] += p[j] / sum * qkv[j * stride + 2 * hidden + h * d + c];
        }
      }
    }
  }
  return ctx;
}

TEST(BertOpsTest, SelfAttentionMatchesPlainLoops) {
  struct Shape {
    int n, hidden, heads;
  };
  // Head sizes 8, 12, 32 and 5; token counts below, at and above whole vectors and panels.
  for (const Shape& s :
       {Shape{1, 32, 4}, Shape{5, 36, 3}, Shape{28, 384, 12}, Shape{33, 20, 4}, Shape{50, 64, 2}}) {
    for (bool avx2 : {false, true}) {
      // Scaled up so that the softmax is far from uniform.
      std::vector<float> qkv = Values(static_cast<size_t>(s.n) * 3 * s.hidden, 5);
      for (float& v : qkv) v *= 3.0f;
      std::vector<float> scratch(AttentionScratchFloats(s.n, s.hidden / s.heads), -5.0f);
      std::vector<float> ctx(static_cast<size_t>(s.n) * s.hidden, -9.0f);
      SelfAttention(qkv.data(), s.n, s.hidden, s.heads, scratch.data(), ctx.data(), avx2);
      const std::vector<double> want = NaiveAttention(qkv, s.n, s.hidden, s.heads);
      double worst = 0;
      for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::fabs(ctx[i] - want[i]));
      EXPECT_LT(worst, 2e-5) << PathName(avx2) << " n " << s.n << " hidden " << s.hidden;
    }
  }
}

TEST(BertOpsTest, AddLayerNormMatchesPlainLoops) {
  for (int n : {32, 30, 3}) {  // Whole vectors, a tail, only a tail.
    for (bool with_add : {false, true}) {
      for (bool avx2 : {false, true}) {
        const int rows = 3;
        const std::vector<float> x0 = Values(static_cast<size_t>(rows) * n, 6);
        const std::vector<float> add = Values(x0.size(), 7);
        const std::vector<float> g = Values(n, 8), b = Values(n, 9);
        std::vector<float> x = x0;
        AddLayerNorm(with_add ? add.data() : nullptr, x.data(), rows, n, g.data(), b.data(), 1e-12f,
                     avx2);
        double worst = 0;
        for (int r = 0; r < rows; ++r) {
          std::vector<double> v(n);
          double mean = 0, var = 0;
          for (int i = 0; i < n; ++i) {
            v[i] = static_cast<double>(x0[r * n + i]) + (with_add ? add[r * n + i] : 0.0);
            mean += v[i] / n;
          }
          for (int i = 0; i < n; ++i) var += (v[i] - mean) * (v[i] - mean) / n;
          for (int i = 0; i < n; ++i) {
            const double want = (v[i] - mean) / std::sqrt(var + 1e-12) * g[i] + b[i];
            worst = std::max(worst, std::fabs(x[r * n + i] - want));
          }
        }
        EXPECT_LT(worst, 1e-5) << PathName(avx2) << " n " << n << " add " << with_add;
      }
    }
  }
}

TEST(BertOpsTest, VectorizedGeluMatchesErfForm) {
  for (bool avx2 : {false, true}) {
    std::vector<float> x;
    for (double v = -12; v < 12; v += 0.0037) x.push_back(static_cast<float>(v));
    x.push_back(0.0f);  // An odd count: the tail takes a partial vector.
    std::vector<float> y = x;
    GeluErf(y.data(), y.size(), avx2);
    double worst = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double v = x[i];
      const double exact = 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
      worst = std::max(worst, std::fabs(y[i] - exact));
    }
    // A few units in the last place (over every float in [-12, 12] the worst is 1.4e-6 at 5.6,
    // where floats are 4.8e-7 apart).
    EXPECT_LT(worst, 1.5e-6) << PathName(avx2);
  }
}

}  // namespace
}  // namespace deja::semantic::bert_internal
