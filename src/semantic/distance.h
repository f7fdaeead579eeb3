// Inner products of float vectors, the one kernel every vector index here spends its time in.
//
// DotProduct picks an AVX2+FMA kernel at run time when the CPU has it (the build targets baseline
// x86-64, so the compiler may not use AVX2 on its own), else a portable loop with independent
// accumulators that the compiler turns into SSE code.
//
// Thread safety: pure functions; safe to call from any thread.
#pragma once

#include <cstddef>

namespace deja::vindex {

// sum_i a[i] * b[i].
float DotProduct(const float* a, const float* b, size_t n);

// out[i] = DotProduct(query, rows + i * dims, dims) for i < count (rows contiguous).
void DotProducts(const float* query, const float* rows, size_t count, size_t dims, float* out);

// 1 - DotProduct(a, b, *dims_ptr) with the best kernel for this CPU, as a plain function pointer
// (the shape of a distance callback: a graph library calls it without knowing about dispatch).
// `dims_ptr` points to a size_t.
using DistanceFn = float (*)(const void* a, const void* b, const void* dims_ptr);
DistanceFn BestInnerProductDistance();

}  // namespace deja::vindex
