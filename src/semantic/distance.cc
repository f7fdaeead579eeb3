#include "semantic/distance.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define DEJA_VINDEX_X86 1
#endif

namespace deja::vindex {
namespace {

// Eight independent partial sums break the add dependency chain, so even the SSE code the
// compiler emits for baseline x86-64 keeps several multiplies in flight.
float DotPortable(const float* a, const float* b, size_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (size_t j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  }
  float sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

#ifdef DEJA_VINDEX_X86
__attribute__((target("avx2,fma"))) float DotAvx2(const float* a, const float* b, size_t n) {
  // Four accumulators of eight lanes: FMA latency is 4-5 cycles and two issue per cycle, so four
  // chains keep the units busy at 32 floats per iteration.
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
  }
  for (; i + 8 <= n; i += 8) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
  __m128 lo = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
  float sum = _mm_cvtss_f32(lo);
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

__attribute__((target("avx2,fma"))) float IpDistanceAvx2(const void* a, const void* b,
                                                         const void* dims) {
  return 1.0f - DotAvx2(static_cast<const float*>(a), static_cast<const float*>(b),
                        *static_cast<const size_t*>(dims));
}

using DotFn = float (*)(const float*, const float*, size_t);

DotFn Choose() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return DotAvx2;
  return DotPortable;
}
#endif

float IpDistancePortable(const void* a, const void* b, const void* dims) {
  return 1.0f - DotPortable(static_cast<const float*>(a), static_cast<const float*>(b),
                            *static_cast<const size_t*>(dims));
}

}  // namespace

DistanceFn BestInnerProductDistance() {
#ifdef DEJA_VINDEX_X86
  if (Choose() == DotAvx2) return IpDistanceAvx2;
#endif
  return IpDistancePortable;
}

float DotProduct(const float* a, const float* b, size_t n) {
#ifdef DEJA_VINDEX_X86
  static const DotFn fn = Choose();
  return fn(a, b, n);
#else
  return DotPortable(a, b, n);
#endif
}

void DotProducts(const float* query, const float* rows, size_t count, size_t dims, float* out) {
  for (size_t i = 0; i < count; ++i) out[i] = DotProduct(query, rows + i * dims, dims);
}

}  // namespace deja::vindex
