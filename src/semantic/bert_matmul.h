// The bert encoder's matrix products: out = a * W^T + bias for a few dozen token rows against a
// matrix W packed beforehand (a linear layer's weight, packed once at load; attention's keys and
// values, packed per call), with an AVX2/FMA kernel (a portable loop when the CPU lacks AVX2 or
// FMA).
//
// Why not BLAS: with ~30 rows, OpenBLAS's sgemm repacked the whole weight matrix on every call (a
// quarter of a MiniLM forward pass) and read it from memory in bursts the core had to wait for.
// Here the weights are stored in the kernel's panel layout, and while the kernel works on one panel
// it prefetches the next bytes of the weights, spread over the panel's work, so the weights stream
// from memory at an even pace under the arithmetic (the encoder packs its weights in the order a
// forward pass uses them, so "the next bytes" is the next panel or the next matrix).
//
// Packed layout of an [out x in] matrix W: the out dimension is cut into panels of kPanelWidth (the
// last one zero-padded), panel p holding W^T's columns [p * kPanelWidth, (p + 1) * kPanelWidth) as
// in x kPanelWidth row-major. The kernel computes 4 rows x 24 columns at a time in 12 AVX
// registers.
//
// Thread safety: pure functions; they write only their output arguments.
#pragma once

#include <cstddef>

namespace deja::semantic::bert_internal {

constexpr int kPanelWidth = 24;

// Whether this CPU has AVX2 and FMA (the fast paths of the bert encoder's kernels).
bool HasAvx2Fma();

// Floats the packed form of an [out x in] matrix takes.
size_t PackedFloats(int in, int out);

// Packs the [out x in] matrix whose element (o, k) is m[o * out_step + k * in_step] into dst
// (PackedFloats(in, out) floats). A Hugging Face linear weight is row-major [out x in]:
// out_step = in, in_step = 1.
void Pack(const float* m, size_t out_step, size_t in_step, int in, int out, float* dst);

// A packed matrix and its bias (neither owned).
struct PackedLinear {
  const float* weight = nullptr;  // PackedFloats(in, out) floats.
  const float* bias = nullptr;    // Null (zero bias) or PackedFloats(1, out) floats, zero-padded.
  int in = 0;
  int out = 0;
};

// out = a * W^T + bias: row r of a (w.in floats) starts at a + r * a_stride, of out (w.out floats)
// at out + r * out_stride. Uses the AVX2/FMA kernel when `avx2` and the CPU has AVX2 and FMA, else
// a portable loop (same results up to float rounding; the flag is for tests).
void MatMul(const float* a, size_t a_stride, int rows, const PackedLinear& w, float* out,
            size_t out_stride, bool avx2 = true);

// MatMul on contiguous rows.
inline void MatMul(const float* a, int rows, const PackedLinear& w, float* out) {
  MatMul(a, static_cast<size_t>(w.in), rows, w, out, static_cast<size_t>(w.out));
}

}  // namespace deja::semantic::bert_internal
