#include "semantic/bert_matmul.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

namespace deja::semantic::bert_internal {
namespace {

constexpr int kTileRows = 4;
constexpr int kLines = 64;  // Cache line bytes.

size_t PanelFloats(int in) { return static_cast<size_t>(in) * kPanelWidth; }

// One tile of out: kRows rows x kPanelWidth columns (3 vectors of 8) of one panel, accumulated in
// 12 registers over k = 0..in: per k, 3 loads of the panel row, kRows broadcasts of a, 3 * kRows
// FMAs. Only the first `cols` columns are written (the last panel may be padded).
//
// Meanwhile it prefetches `prefetch_lines` cache lines from `prefetch`, spread evenly over the k
// loop (a prefetch never faults, so reading past the weights is harmless).
template <int kRows>
__attribute__((target("avx2,fma"), always_inline)) inline void TileAvx2(
    const float* a, size_t a_stride, int in, const float* panel, const float* bias, float* out,
    size_t out_stride, int cols, const char* prefetch, int prefetch_lines) {
  __m256 acc[kRows][3];
#pragma GCC unroll 3
  for (int v = 0; v < 3; ++v) {
    const __m256 b = bias == nullptr ? _mm256_setzero_ps() : _mm256_loadu_ps(bias + 8 * v);
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) acc[r][v] = b;
  }
  int due = 0;  // Bresenham: prefetch_lines prefetches over `in` steps.
  for (int k = 0; k < in; ++k) {
    due += prefetch_lines;
    while (due >= in) {
      _mm_prefetch(prefetch, _MM_HINT_T0);
      prefetch += kLines;
      due -= in;
    }
    const float* row = panel + static_cast<size_t>(k) * kPanelWidth;
    const __m256 b0 = _mm256_loadu_ps(row);
    const __m256 b1 = _mm256_loadu_ps(row + 8);
    const __m256 b2 = _mm256_loadu_ps(row + 16);
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) {
      const __m256 x = _mm256_broadcast_ss(a + r * a_stride + k);
      acc[r][0] = _mm256_fmadd_ps(x, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(x, b1, acc[r][1]);
      acc[r][2] = _mm256_fmadd_ps(x, b2, acc[r][2]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < kRows; ++r) {
    float* dst = out + r * out_stride;
    if (cols == kPanelWidth) {
#pragma GCC unroll 3
      for (int v = 0; v < 3; ++v) _mm256_storeu_ps(dst + 8 * v, acc[r][v]);
    } else {
      float full[kPanelWidth];
#pragma GCC unroll 3
      for (int v = 0; v < 3; ++v) _mm256_storeu_ps(full + 8 * v, acc[r][v]);
      std::memcpy(dst, full, static_cast<size_t>(cols) * sizeof(float));
    }
  }
}

__attribute__((target("avx2,fma"))) void MatMulAvx2(const float* a, size_t a_stride, int rows,
                                                    const PackedLinear& w, float* out,
                                                    size_t out_stride) {
  const size_t panel_floats = PanelFloats(w.in);
  const int panels = (w.out + kPanelWidth - 1) / kPanelWidth;
  // While computing panel p, prefetch the next panel's bytes, a share per tile of rows.
  const int lines = static_cast<int>((panel_floats * sizeof(float) + kLines - 1) / kLines);
  const int tiles = (rows + kTileRows - 1) / kTileRows;
  const int lines_per_tile = (lines + tiles - 1) / tiles;
  for (int p = 0; p < panels; ++p) {
    const float* panel = w.weight + p * panel_floats;
    const char* next = reinterpret_cast<const char*>(panel + panel_floats);
    const float* bias = w.bias == nullptr ? nullptr : w.bias + p * kPanelWidth;
    const int cols = std::min(kPanelWidth, w.out - p * kPanelWidth);
    for (int r = 0, t = 0; r < rows; r += kTileRows, ++t) {
      const float* a_rows = a + r * a_stride;
      float* o = out + r * out_stride + p * kPanelWidth;
      const char* prefetch = next + static_cast<size_t>(t) * lines_per_tile * kLines;
      const int prefetch_lines = std::clamp(lines - t * lines_per_tile, 0, lines_per_tile);
      switch (std::min(kTileRows, rows - r)) {
        case 4:
          TileAvx2<4>(a_rows, a_stride, w.in, panel, bias, o, out_stride, cols, prefetch,
                      prefetch_lines);
          break;
        case 3:
          TileAvx2<3>(a_rows, a_stride, w.in, panel, bias, o, out_stride, cols, prefetch,
                      prefetch_lines);
          break;
        case 2:
          TileAvx2<2>(a_rows, a_stride, w.in, panel, bias, o, out_stride, cols, prefetch,
                      prefetch_lines);
          break;
        default:
          TileAvx2<1>(a_rows, a_stride, w.in, panel, bias, o, out_stride, cols, prefetch,
                      prefetch_lines);
          break;
      }
    }
  }
}

typedef float Float4 __attribute__((vector_size(16)));

// The portable tile: kRows rows x one panel in SSE2 vectors (GCC vector extensions).
template <int kRows>
inline void TilePortable(const float* a, size_t a_stride, int in, const float* panel,
                         const float* bias, float* out, size_t out_stride, int cols) {
  constexpr int kVecs = kPanelWidth / 4;
  Float4 acc[kRows][kVecs];
#pragma GCC unroll 6
  for (int v = 0; v < kVecs; ++v) {
    Float4 b{};
    if (bias != nullptr) std::memcpy(&b, bias + 4 * v, sizeof(b));
#pragma GCC unroll 2
    for (int r = 0; r < kRows; ++r) acc[r][v] = b;
  }
  for (int k = 0; k < in; ++k) {
    Float4 b[kVecs];
    std::memcpy(b, panel + static_cast<size_t>(k) * kPanelWidth, sizeof(b));
#pragma GCC unroll 2
    for (int r = 0; r < kRows; ++r) {
      const float x = a[r * a_stride + k];
#pragma GCC unroll 6
      for (int v = 0; v < kVecs; ++v) acc[r][v] += x * b[v];
    }
  }
  for (int r = 0; r < kRows; ++r) {
    float full[kPanelWidth];  // A whole-row copy first keeps acc in registers.
    std::memcpy(full, acc[r], sizeof(full));
    std::memcpy(out + r * out_stride, full, static_cast<size_t>(cols) * sizeof(float));
  }
}

// The product without AVX2: two rows and one panel at a time.
void MatMulPortable(const float* a, size_t a_stride, int rows, const PackedLinear& w, float* out,
                    size_t out_stride) {
  const size_t panel_floats = PanelFloats(w.in);
  for (int p = 0; p * kPanelWidth < w.out; ++p) {
    const float* panel = w.weight + p * panel_floats;
    const float* bias = w.bias == nullptr ? nullptr : w.bias + p * kPanelWidth;
    const int cols = std::min(kPanelWidth, w.out - p * kPanelWidth);
    for (int r = 0; r < rows; r += 2) {
      const float* a_rows = a + r * a_stride;
      float* o = out + r * out_stride + p * kPanelWidth;
      if (r + 1 < rows) {
        TilePortable<2>(a_rows, a_stride, w.in, panel, bias, o, out_stride, cols);
      } else {
        TilePortable<1>(a_rows, a_stride, w.in, panel, bias, o, out_stride, cols);
      }
    }
  }
}

}  // namespace

bool HasAvx2Fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

size_t PackedFloats(int in, int out) {
  const size_t panels = (static_cast<size_t>(out) + kPanelWidth - 1) / kPanelWidth;
  return panels * PanelFloats(in);
}

void Pack(const float* m, size_t out_step, size_t in_step, int in, int out, float* dst) {
  const size_t panel_floats = PanelFloats(in);
  if (out % kPanelWidth != 0) {  // Zero the last panel's padding.
    std::fill(dst + (PackedFloats(in, out) - panel_floats), dst + PackedFloats(in, out), 0.0f);
  }
  if (in_step == 1) {  // Rows of m are contiguous: copy each into its panel's column.
    for (int o = 0; o < out; ++o) {
      const float* src = m + o * out_step;
      float* column = dst + (o / kPanelWidth) * panel_floats + o % kPanelWidth;
      for (int k = 0; k < in; ++k) column[static_cast<size_t>(k) * kPanelWidth] = src[k];
    }
    return;
  }
  for (int p = 0; p * kPanelWidth < out; ++p) {
    const int cols = std::min(kPanelWidth, out - p * kPanelWidth);
    float* panel = dst + p * panel_floats;
    for (int k = 0; k < in; ++k) {
      const float* src = m + static_cast<size_t>(p) * kPanelWidth * out_step + k * in_step;
      float* row = panel + static_cast<size_t>(k) * kPanelWidth;
      if (out_step == 1) {
        std::memcpy(row, src, static_cast<size_t>(cols) * sizeof(float));
      } else {
        for (int j = 0; j < cols; ++j) row[j] = src[j * out_step];
      }
    }
  }
}

void MatMul(const float* a, size_t a_stride, int rows, const PackedLinear& w, float* out,
            size_t out_stride, bool avx2) {
  if (rows <= 0) return;
  if (avx2 && HasAvx2Fma()) {
    MatMulAvx2(a, a_stride, rows, w, out, out_stride);
  } else {
    MatMulPortable(a, a_stride, rows, w, out, out_stride);
  }
}

}  // namespace deja::semantic::bert_internal
