// BLAKE3 SIMD kernels for x86-64 (SSE4.1 and AVX2).
//
// Each function carries its own target attribute instead of the file being built with -mavx2, so
// the rest of the binary stays baseline x86-64 and blake3.cc picks a kernel at run time
// (__builtin_cpu_supports). Nothing here may be called on a CPU without the named extension.
//
// Two layouts:
//  - Row-wise: one state as four 128-bit rows; G runs on the four columns at once, then (after
//    rotating rows 1-3) on the four diagonals. One compression is bound by the latency of G's
//    dependency chain, not by throughput, so the kernels for two to four chunks interleave
//    independent row-wise states (two per 256-bit register with AVX2) to fill the idle ports.
//  - Transposed ("many lanes"): vector register i holds state word i of every lane (one chunk per
//    lane), so the compression function is the scalar one with each 32-bit operation widened; the
//    message blocks are transposed on load and the chaining values transposed back at the end. Used
//    for 3-4 chunks without AVX2 (SSE4.1, 4 lanes) and from 5 chunks with AVX2 (8 lanes).
#if defined(__x86_64__)

#include <immintrin.h>

#include <algorithm>

#include "core/blake3_impl.h"

#define DEJA_SSE41 __attribute__((target("sse4.1"), always_inline)) inline
#define DEJA_AVX2 __attribute__((target("avx2"), always_inline)) inline

namespace deja::blake3_internal {
namespace {

// ---- 128-bit operations (SSE4.1; pshufb is SSSE3, which SSE4.1 implies). ----

DEJA_SSE41 __m128i Add(__m128i a, __m128i b) { return _mm_add_epi32(a, b); }
DEJA_SSE41 __m128i Xor(__m128i a, __m128i b) { return _mm_xor_si128(a, b); }
// Rotations by 16 and 8 move whole bytes, so one byte shuffle does them.
DEJA_SSE41 __m128i Rotr16(__m128i x) {
  return _mm_shuffle_epi8(x, _mm_setr_epi8(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13));
}
DEJA_SSE41 __m128i Rotr8(__m128i x) {
  return _mm_shuffle_epi8(x, _mm_setr_epi8(1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12));
}
DEJA_SSE41 __m128i Rotr12(__m128i x) {
  return _mm_or_si128(_mm_srli_epi32(x, 12), _mm_slli_epi32(x, 20));
}
DEJA_SSE41 __m128i Rotr7(__m128i x) {
  return _mm_or_si128(_mm_srli_epi32(x, 7), _mm_slli_epi32(x, 25));
}

DEJA_SSE41 void G(__m128i& a, __m128i& b, __m128i& c, __m128i& d, __m128i x, __m128i y) {
  a = Add(Add(a, x), b);  // b is ready last; adding it last shortens the dependency chain.
  d = Rotr16(Xor(d, a));
  c = Add(c, d);
  b = Rotr12(Xor(b, c));
  a = Add(Add(a, y), b);
  d = Rotr8(Xor(d, a));
  c = Add(c, d);
  b = Rotr7(Xor(b, c));
}

// Rows (a0 a1 a2 a3), (b...), (c...), (d...) -> columns (a0 b0 c0 d0), (a1 b1 c1 d1), ...
DEJA_SSE41 void Transpose4(__m128i& a, __m128i& b, __m128i& c, __m128i& d) {
  const __m128i ab_lo = _mm_unpacklo_epi32(a, b);  // a0 b0 a1 b1
  const __m128i ab_hi = _mm_unpackhi_epi32(a, b);  // a2 b2 a3 b3
  const __m128i cd_lo = _mm_unpacklo_epi32(c, d);  // c0 d0 c1 d1
  const __m128i cd_hi = _mm_unpackhi_epi32(c, d);  // c2 d2 c3 d3
  a = _mm_unpacklo_epi64(ab_lo, cd_lo);
  b = _mm_unpackhi_epi64(ab_lo, cd_lo);
  c = _mm_unpacklo_epi64(ab_hi, cd_hi);
  d = _mm_unpackhi_epi64(ab_hi, cd_hi);
}

// ---- 256-bit operations (AVX2). ----

DEJA_AVX2 __m256i Add(__m256i a, __m256i b) { return _mm256_add_epi32(a, b); }
DEJA_AVX2 __m256i Xor(__m256i a, __m256i b) { return _mm256_xor_si256(a, b); }
DEJA_AVX2 __m256i Rotr16(__m256i x) {
  return _mm256_shuffle_epi8(
      x, _mm256_setr_epi8(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13, 2, 3, 0, 1, 6, 7, 4,
                          5, 10, 11, 8, 9, 14, 15, 12, 13));
}
DEJA_AVX2 __m256i Rotr8(__m256i x) {
  return _mm256_shuffle_epi8(
      x, _mm256_setr_epi8(1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12, 1, 2, 3, 0, 5, 6, 7,
                          4, 9, 10, 11, 8, 13, 14, 15, 12));
}
DEJA_AVX2 __m256i Rotr12(__m256i x) {
  return _mm256_or_si256(_mm256_srli_epi32(x, 12), _mm256_slli_epi32(x, 20));
}
DEJA_AVX2 __m256i Rotr7(__m256i x) {
  return _mm256_or_si256(_mm256_srli_epi32(x, 7), _mm256_slli_epi32(x, 25));
}

DEJA_AVX2 void G(__m256i& a, __m256i& b, __m256i& c, __m256i& d, __m256i x, __m256i y) {
  a = Add(Add(a, x), b);  // b is ready last; adding it last shortens the dependency chain.
  d = Rotr16(Xor(d, a));
  c = Add(c, d);
  b = Rotr12(Xor(b, c));
  a = Add(Add(a, y), b);
  d = Rotr8(Xor(d, a));
  c = Add(c, d);
  b = Rotr7(Xor(b, c));
}

// 8x8 transpose of 32-bit words: r[i] holds row i; afterwards r[j] holds column j.
DEJA_AVX2 void Transpose8(__m256i r[8]) {
  // Interleave pairs of rows: within each 128-bit half, t = (x0 y0 x1 y1 | x4 y4 x5 y5) etc.
  const __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]);
  const __m256i t1 = _mm256_unpackhi_epi32(r[0], r[1]);
  const __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]);
  const __m256i t3 = _mm256_unpackhi_epi32(r[2], r[3]);
  const __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]);
  const __m256i t5 = _mm256_unpackhi_epi32(r[4], r[5]);
  const __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]);
  const __m256i t7 = _mm256_unpackhi_epi32(r[6], r[7]);
  // Then pairs of pairs: u0 = (r0..3 word 0 | r0..3 word 4), u1 = words 1|5, u2 = 2|6, u3 = 3|7.
  const __m256i u0 = _mm256_unpacklo_epi64(t0, t2);
  const __m256i u1 = _mm256_unpackhi_epi64(t0, t2);
  const __m256i u2 = _mm256_unpacklo_epi64(t1, t3);
  const __m256i u3 = _mm256_unpackhi_epi64(t1, t3);
  const __m256i u4 = _mm256_unpacklo_epi64(t4, t6);
  const __m256i u5 = _mm256_unpackhi_epi64(t4, t6);
  const __m256i u6 = _mm256_unpacklo_epi64(t5, t7);
  const __m256i u7 = _mm256_unpackhi_epi64(t5, t7);
  // Finally join rows 0-3 with rows 4-7 across the 128-bit halves.
  r[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
  r[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
  r[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
  r[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
  r[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
  r[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
  r[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
  r[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

// ---- One round of the transposed (many-lane) compression. ----

// The same body for both widths; a macro because a function carrying one target attribute cannot
// inline helpers of the other, and a template cannot choose its target attribute.
// Written G by G: GCC allocates registers better for this than for the four G's interleaved step by
// step (about 10% faster with GCC 12; clang 14 prefers the interleaved form by a similar margin).
#define DEJA_B3_TRANSPOSED_ROUND(v, m, R)                      \
  do {                                                         \
    constexpr const std::array<uint8_t, 16>& s = kSchedule[R]; \
    G(v[0], v[4], v[8], v[12], m[s[0]], m[s[1]]);              \
    G(v[1], v[5], v[9], v[13], m[s[2]], m[s[3]]);              \
    G(v[2], v[6], v[10], v[14], m[s[4]], m[s[5]]);             \
    G(v[3], v[7], v[11], v[15], m[s[6]], m[s[7]]);             \
    G(v[0], v[5], v[10], v[15], m[s[8]], m[s[9]]);             \
    G(v[1], v[6], v[11], v[12], m[s[10]], m[s[11]]);           \
    G(v[2], v[7], v[8], v[13], m[s[12]], m[s[13]]);            \
    G(v[3], v[4], v[9], v[14], m[s[14]], m[s[15]]);            \
  } while (0)

template <int R>
DEJA_SSE41 void TransposedRound(__m128i v[16], const __m128i m[16]) {
  DEJA_B3_TRANSPOSED_ROUND(v, m, R);
}

template <int R>
DEJA_AVX2 void TransposedRound(__m256i v[16], const __m256i m[16]) {
  DEJA_B3_TRANSPOSED_ROUND(v, m, R);
}

// Flags for block `i` of a chunk.
inline uint32_t BlockFlags(uint8_t flags, size_t i) {
  uint32_t f = flags;
  if (i == 0) f |= kChunkStart;
  if (i == kBlocksPerChunk - 1) f |= kChunkEnd;
  return f;
}

// ---- Single-block compression with the state as four row vectors. ----

// Lane i of the result is message word s[A], s[B], s[C], s[D] for the round's schedule s. The
// words are read straight from memory (a word array or the raw little-endian block): GCC -O3 would
// otherwise keep a loaded block in vector registers and extract the words one by one, at twice
// the cost.
inline uint32_t MessageWord(const uint32_t* m, int i) { return m[i]; }
inline uint32_t MessageWord(const uint8_t* block, int i) { return LoadLe32(block + 4 * i); }

template <int R, int A, int B, int C, int D, typename M>
DEJA_SSE41 __m128i Gather(M m) {
  constexpr const std::array<uint8_t, 16>& s = kSchedule[R];
  return _mm_setr_epi32(
      static_cast<int>(MessageWord(m, s[A])), static_cast<int>(MessageWord(m, s[B])),
      static_cast<int>(MessageWord(m, s[C])), static_cast<int>(MessageWord(m, s[D])));
}

// Diagonal step without delaying row 1: G's last result is row 1 (b), so instead of rotating rows
// 1-3 into place, rows 0, 2 and 3 are rotated (they are finished earlier and shuffle in b's
// shadow). Lane i then holds (a[i-1], b[i], c[i+1], d[i+2]): diagonal i-1, so the diagonal
// message words are taken in the order of diagonals 3, 0, 1, 2. Saves a cycle of latency per
// half-round, ~6% of a compression.
template <int R, typename M>
DEJA_SSE41 void RowRound(__m128i& r0, __m128i& r1, __m128i& r2, __m128i& r3, M m) {
  // Columns: lane i runs G on (v[i], v[4+i], v[8+i], v[12+i]).
  G(r0, r1, r2, r3, Gather<R, 0, 2, 4, 6>(m), Gather<R, 1, 3, 5, 7>(m));
  r0 = _mm_shuffle_epi32(r0, _MM_SHUFFLE(2, 1, 0, 3));  // lane i <- a[i-1]
  r2 = _mm_shuffle_epi32(r2, _MM_SHUFFLE(0, 3, 2, 1));  // lane i <- c[i+1]
  r3 = _mm_shuffle_epi32(r3, _MM_SHUFFLE(1, 0, 3, 2));  // lane i <- d[i+2]
  G(r0, r1, r2, r3, Gather<R, 14, 8, 10, 12>(m), Gather<R, 15, 9, 11, 13>(m));
  r0 = _mm_shuffle_epi32(r0, _MM_SHUFFLE(0, 3, 2, 1));
  r2 = _mm_shuffle_epi32(r2, _MM_SHUFFLE(2, 1, 0, 3));
  r3 = _mm_shuffle_epi32(r3, _MM_SHUFFLE(1, 0, 3, 2));
}

// The message words one G step of two blocks needs, as x = [a's x words | b's x words] and
// y = [a's y words | b's y words], from the blocks held as low (words 0-7) and high (8-15) halves.
// X0..X3 are the schedule positions of the x words (the y words follow each). Built with permutes
// whose index vectors and blend masks come from the schedule at compile time.
template <int R, int X0, int X1, int X2, int X3>
DEJA_AVX2 void Messages2(__m256i a_lo, __m256i a_hi, __m256i b_lo, __m256i b_hi, __m256i& x,
                         __m256i& y) {
  constexpr const std::array<uint8_t, 16>& s = kSchedule[R];
  // Lanes 0-3: x words (schedule positions X0..X3); lanes 4-7: y words (the positions after).
  constexpr int w[8] = {s[X0], s[X1], s[X2], s[X3], s[X0 + 1], s[X1 + 1], s[X2 + 1], s[X3 + 1]};
  constexpr int kHighMask = (w[0] >= 8) | (w[1] >= 8) << 1 | (w[2] >= 8) << 2 | (w[3] >= 8) << 3 |
                            (w[4] >= 8) << 4 | (w[5] >= 8) << 5 | (w[6] >= 8) << 6 |
                            (w[7] >= 8) << 7;
  const __m256i idx = _mm256_setr_epi32(w[0] & 7, w[1] & 7, w[2] & 7, w[3] & 7, w[4] & 7, w[5] & 7,
                                        w[6] & 7, w[7] & 7);
  const __m256i ta = _mm256_blend_epi32(_mm256_permutevar8x32_epi32(a_lo, idx),
                                        _mm256_permutevar8x32_epi32(a_hi, idx), kHighMask);
  const __m256i tb = _mm256_blend_epi32(_mm256_permutevar8x32_epi32(b_lo, idx),
                                        _mm256_permutevar8x32_epi32(b_hi, idx), kHighMask);
  x = _mm256_permute2x128_si256(ta, tb, 0x20);
  y = _mm256_permute2x128_si256(ta, tb, 0x31);
}

// A row-wise round on 256-bit rows that hold two independent states, one per 128-bit half (AVX2
// shuffles work within halves, so the diagonal rotations are the same as for one state).
template <int R>
DEJA_AVX2 void RowRound2(__m256i& r0, __m256i& r1, __m256i& r2, __m256i& r3, const __m256i m[4]) {
  __m256i x, y;
  Messages2<R, 0, 2, 4, 6>(m[0], m[1], m[2], m[3], x, y);
  G(r0, r1, r2, r3, x, y);
  // Diagonals as in RowRound.
  r0 = _mm256_shuffle_epi32(r0, _MM_SHUFFLE(2, 1, 0, 3));
  r2 = _mm256_shuffle_epi32(r2, _MM_SHUFFLE(0, 3, 2, 1));
  r3 = _mm256_shuffle_epi32(r3, _MM_SHUFFLE(1, 0, 3, 2));
  Messages2<R, 14, 8, 10, 12>(m[0], m[1], m[2], m[3], x, y);
  G(r0, r1, r2, r3, x, y);
  r0 = _mm256_shuffle_epi32(r0, _MM_SHUFFLE(0, 3, 2, 1));
  r2 = _mm256_shuffle_epi32(r2, _MM_SHUFFLE(2, 1, 0, 3));
  r3 = _mm256_shuffle_epi32(r3, _MM_SHUFFLE(1, 0, 3, 2));
}

}  // namespace

__attribute__((target("sse4.1"))) void CompressInPlaceSse41(uint32_t cv[8], const uint32_t m[16],
                                                            uint32_t block_len, uint64_t counter,
                                                            uint32_t flags) {
  __m128i r0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(cv));
  __m128i r1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(cv + 4));
  __m128i r2 = _mm_setr_epi32(static_cast<int>(kIv[0]), static_cast<int>(kIv[1]),
                              static_cast<int>(kIv[2]), static_cast<int>(kIv[3]));
  __m128i r3 = _mm_setr_epi32(static_cast<int>(counter), static_cast<int>(counter >> 32),
                              static_cast<int>(block_len), static_cast<int>(flags));
  RowRound<0>(r0, r1, r2, r3, m);
  RowRound<1>(r0, r1, r2, r3, m);
  RowRound<2>(r0, r1, r2, r3, m);
  RowRound<3>(r0, r1, r2, r3, m);
  RowRound<4>(r0, r1, r2, r3, m);
  RowRound<5>(r0, r1, r2, r3, m);
  RowRound<6>(r0, r1, r2, r3, m);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(cv), Xor(r0, r2));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(cv + 4), Xor(r1, r3));
}

__attribute__((target("sse4.1"))) void CompressXofSse41(const uint32_t cv[8], const uint32_t m[16],
                                                        uint32_t block_len, uint64_t counter,
                                                        uint32_t flags, uint32_t out[16]) {
  const __m128i cv0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(cv));
  const __m128i cv1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(cv + 4));
  __m128i r0 = cv0;
  __m128i r1 = cv1;
  __m128i r2 = _mm_setr_epi32(static_cast<int>(kIv[0]), static_cast<int>(kIv[1]),
                              static_cast<int>(kIv[2]), static_cast<int>(kIv[3]));
  __m128i r3 = _mm_setr_epi32(static_cast<int>(counter), static_cast<int>(counter >> 32),
                              static_cast<int>(block_len), static_cast<int>(flags));
  RowRound<0>(r0, r1, r2, r3, m);
  RowRound<1>(r0, r1, r2, r3, m);
  RowRound<2>(r0, r1, r2, r3, m);
  RowRound<3>(r0, r1, r2, r3, m);
  RowRound<4>(r0, r1, r2, r3, m);
  RowRound<5>(r0, r1, r2, r3, m);
  RowRound<6>(r0, r1, r2, r3, m);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), Xor(r0, r2));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 4), Xor(r1, r3));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 8), Xor(r2, cv0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 12), Xor(r3, cv1));
}

__attribute__((target("sse4.1"))) void CompressBlocksSse41(uint32_t cv[8], const uint8_t* blocks,
                                                           size_t n, uint64_t counter,
                                                           uint32_t flags, bool chunk_start,
                                                           bool chunk_end) {
  // The chaining value stays in registers from block to block: going through memory between
  // compressions puts a store-to-load round trip on the critical path (~10% slower with GCC).
  __m128i r0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(cv));
  __m128i r1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(cv + 4));
  const __m128i iv = _mm_setr_epi32(static_cast<int>(kIv[0]), static_cast<int>(kIv[1]),
                                    static_cast<int>(kIv[2]), static_cast<int>(kIv[3]));
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* m = blocks + i * kBlockLen;
    uint32_t f = flags;
    if (i == 0 && chunk_start) f |= kChunkStart;
    if (i == n - 1 && chunk_end) f |= kChunkEnd;
    __m128i r2 = iv;
    __m128i r3 = _mm_setr_epi32(static_cast<int>(counter), static_cast<int>(counter >> 32),
                                static_cast<int>(kBlockLen), static_cast<int>(f));
    RowRound<0>(r0, r1, r2, r3, m);
    RowRound<1>(r0, r1, r2, r3, m);
    RowRound<2>(r0, r1, r2, r3, m);
    RowRound<3>(r0, r1, r2, r3, m);
    RowRound<4>(r0, r1, r2, r3, m);
    RowRound<5>(r0, r1, r2, r3, m);
    RowRound<6>(r0, r1, r2, r3, m);
    r0 = Xor(r0, r2);
    r1 = Xor(r1, r3);
  }
  _mm_storeu_si128(reinterpret_cast<__m128i*>(cv), r0);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(cv + 4), r1);
}

__attribute__((target("sse4.1"))) void HashTwoChunksSse41(const uint8_t* in, size_t blocks_b,
                                                          const uint32_t key[8], uint64_t counter,
                                                          uint8_t flags, uint32_t* out) {
  // Two independent row-wise compressions, interleaved round by round. One alone is bound by the
  // latency of G's dependency chain and leaves most execution ports idle; the second chain fills
  // them, so two chunks cost little more than one. Both states fit in registers (no spills).
  const __m128i iv = _mm_setr_epi32(static_cast<int>(kIv[0]), static_cast<int>(kIv[1]),
                                    static_cast<int>(kIv[2]), static_cast<int>(kIv[3]));
  __m128i a0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(key));
  __m128i a1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(key + 4));
  __m128i b0 = a0;
  __m128i b1 = a1;
  const uint8_t* in_b = in + kChunkLen;
  size_t blk = 0;
  for (; blk < blocks_b; ++blk) {
    const uint8_t* ma = in + blk * kBlockLen;
    const uint8_t* mb = in_b + blk * kBlockLen;
    // Chunk b's blocks get the same flags: CHUNK_END only on block 15, which it reaches only when
    // it is a whole chunk.
    const int f = static_cast<int>(BlockFlags(flags, blk));
    __m128i a2 = iv;
    __m128i a3 = _mm_setr_epi32(static_cast<int>(counter), static_cast<int>(counter >> 32),
                                static_cast<int>(kBlockLen), f);
    __m128i b2 = iv;
    __m128i b3 =
        _mm_setr_epi32(static_cast<int>(counter + 1), static_cast<int>((counter + 1) >> 32),
                       static_cast<int>(kBlockLen), f);
    RowRound<0>(a0, a1, a2, a3, ma);
    RowRound<0>(b0, b1, b2, b3, mb);
    RowRound<1>(a0, a1, a2, a3, ma);
    RowRound<1>(b0, b1, b2, b3, mb);
    RowRound<2>(a0, a1, a2, a3, ma);
    RowRound<2>(b0, b1, b2, b3, mb);
    RowRound<3>(a0, a1, a2, a3, ma);
    RowRound<3>(b0, b1, b2, b3, mb);
    RowRound<4>(a0, a1, a2, a3, ma);
    RowRound<4>(b0, b1, b2, b3, mb);
    RowRound<5>(a0, a1, a2, a3, ma);
    RowRound<5>(b0, b1, b2, b3, mb);
    RowRound<6>(a0, a1, a2, a3, ma);
    RowRound<6>(b0, b1, b2, b3, mb);
    a0 = Xor(a0, a2);
    a1 = Xor(a1, a3);
    b0 = Xor(b0, b2);
    b1 = Xor(b1, b3);
  }
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 8), b0);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 12), b1);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), a0);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 4), a1);
  // Chunk a alone for the blocks chunk b does not have.
  if (blk < kBlocksPerChunk) {
    CompressBlocksSse41(out, in + blk * kBlockLen, kBlocksPerChunk - blk, counter, flags,
                        /*chunk_start=*/blk == 0, /*chunk_end=*/true);
  }
}

__attribute__((target("sse4.1"))) void HashChunksSse41(const uint8_t* in, size_t n,
                                                       const uint32_t key[8], uint64_t counter,
                                                       uint8_t flags, uint32_t* out) {
  constexpr size_t kLanes = 4;
  // Unused lanes re-read lane 0's chunk (never past the caller's buffer); their output is dropped.
  const uint8_t* lane[kLanes];
  for (size_t j = 0; j < kLanes; ++j) lane[j] = in + (j < n ? j : 0) * kChunkLen;

  __m128i h[8];
  for (int i = 0; i < 8; ++i) h[i] = _mm_set1_epi32(static_cast<int>(key[i]));
  const __m128i ctr_lo =
      _mm_setr_epi32(static_cast<int>(counter), static_cast<int>(counter + 1),
                     static_cast<int>(counter + 2), static_cast<int>(counter + 3));
  const __m128i ctr_hi =
      _mm_setr_epi32(static_cast<int>(counter >> 32), static_cast<int>((counter + 1) >> 32),
                     static_cast<int>((counter + 2) >> 32), static_cast<int>((counter + 3) >> 32));

  for (size_t blk = 0; blk < kBlocksPerChunk; ++blk) {
    __m128i m[16];
    for (int q = 0; q < 4; ++q) {
      // Words 4q..4q+3 of each lane's block, transposed into one vector per word.
      for (size_t j = 0; j < kLanes; ++j) {
        m[4 * q + j] =
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(lane[j] + blk * kBlockLen + 16 * q));
      }
      Transpose4(m[4 * q], m[4 * q + 1], m[4 * q + 2], m[4 * q + 3]);
    }
    __m128i v[16] = {h[0],
                     h[1],
                     h[2],
                     h[3],
                     h[4],
                     h[5],
                     h[6],
                     h[7],
                     _mm_set1_epi32(static_cast<int>(kIv[0])),
                     _mm_set1_epi32(static_cast<int>(kIv[1])),
                     _mm_set1_epi32(static_cast<int>(kIv[2])),
                     _mm_set1_epi32(static_cast<int>(kIv[3])),
                     ctr_lo,
                     ctr_hi,
                     _mm_set1_epi32(static_cast<int>(kBlockLen)),
                     _mm_set1_epi32(static_cast<int>(BlockFlags(flags, blk)))};
    TransposedRound<0>(v, m);
    TransposedRound<1>(v, m);
    TransposedRound<2>(v, m);
    TransposedRound<3>(v, m);
    TransposedRound<4>(v, m);
    TransposedRound<5>(v, m);
    TransposedRound<6>(v, m);
    for (int i = 0; i < 8; ++i) h[i] = Xor(v[i], v[i + 8]);
  }

  // Back to one chaining value per lane: words 0-3 and 4-7 of lane j.
  Transpose4(h[0], h[1], h[2], h[3]);
  Transpose4(h[4], h[5], h[6], h[7]);
  for (size_t j = 0; j < n; ++j) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 8 * j), h[j]);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 8 * j + 4), h[4 + j]);
  }
}

__attribute__((target("avx2"))) void HashChunksAvx2(const uint8_t* in, size_t n,
                                                    const uint32_t key[8], uint64_t counter,
                                                    uint8_t flags, uint32_t* out) {
  constexpr size_t kLanes = 8;
  const uint8_t* lane[kLanes];
  for (size_t j = 0; j < kLanes; ++j) lane[j] = in + (j < n ? j : 0) * kChunkLen;

  __m256i h[8];
  for (int i = 0; i < 8; ++i) h[i] = _mm256_set1_epi32(static_cast<int>(key[i]));
  alignas(32) int32_t lo[kLanes];
  alignas(32) int32_t hi[kLanes];
  for (size_t j = 0; j < kLanes; ++j) {
    lo[j] = static_cast<int32_t>(counter + j);
    hi[j] = static_cast<int32_t>((counter + j) >> 32);
  }
  const __m256i ctr_lo = _mm256_load_si256(reinterpret_cast<const __m256i*>(lo));
  const __m256i ctr_hi = _mm256_load_si256(reinterpret_cast<const __m256i*>(hi));

  for (size_t blk = 0; blk < kBlocksPerChunk; ++blk) {
    __m256i m[16];
    for (int q = 0; q < 2; ++q) {
      for (size_t j = 0; j < kLanes; ++j) {
        m[8 * q + j] = _mm256_loadu_si256(
            reinterpret_cast<const __m256i*>(lane[j] + blk * kBlockLen + 32 * q));
      }
      Transpose8(m + 8 * q);
    }
    __m256i v[16] = {h[0],
                     h[1],
                     h[2],
                     h[3],
                     h[4],
                     h[5],
                     h[6],
                     h[7],
                     _mm256_set1_epi32(static_cast<int>(kIv[0])),
                     _mm256_set1_epi32(static_cast<int>(kIv[1])),
                     _mm256_set1_epi32(static_cast<int>(kIv[2])),
                     _mm256_set1_epi32(static_cast<int>(kIv[3])),
                     ctr_lo,
                     ctr_hi,
                     _mm256_set1_epi32(static_cast<int>(kBlockLen)),
                     _mm256_set1_epi32(static_cast<int>(BlockFlags(flags, blk)))};
    TransposedRound<0>(v, m);
    TransposedRound<1>(v, m);
    TransposedRound<2>(v, m);
    TransposedRound<3>(v, m);
    TransposedRound<4>(v, m);
    TransposedRound<5>(v, m);
    TransposedRound<6>(v, m);
    for (int i = 0; i < 8; ++i) h[i] = Xor(v[i], v[i + 8]);
  }

  Transpose8(h);
  for (size_t j = 0; j < n; ++j) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 8 * j), h[j]);
  }
}

__attribute__((target("avx2"))) void HashChunksAvx2Rows(const uint8_t* in, size_t n,
                                                        size_t last_blocks, const uint32_t key[8],
                                                        uint64_t counter, uint8_t flags,
                                                        uint32_t* out) {
  // Chunks 0 and 1 share one set of 256-bit rows (p), chunks 2 and 3 another (q); the two sets are
  // interleaved round by round like HashTwoChunksSse41. With three chunks the fourth state repeats
  // chunk 2 and its output is dropped. The last chunk (2 or 3, so always in q) may have only
  // `last_blocks` blocks: its state is captured after its last one, and after that it re-reads
  // that block, never reading past the caller's buffer, and computes nothing that is kept.
  const uint8_t* chunk[4] = {in, in + kChunkLen, in + 2 * kChunkLen,
                             in + (n == 4 ? 3 : 2) * kChunkLen};
  const size_t blocks[4] = {kBlocksPerChunk, kBlocksPerChunk,
                            n == 3 ? last_blocks : kBlocksPerChunk, last_blocks};
  __m256i last0 = _mm256_setzero_si256(), last1 = _mm256_setzero_si256();
  const __m256i iv = _mm256_setr_epi32(static_cast<int>(kIv[0]), static_cast<int>(kIv[1]),
                                       static_cast<int>(kIv[2]), static_cast<int>(kIv[3]),
                                       static_cast<int>(kIv[0]), static_cast<int>(kIv[1]),
                                       static_cast<int>(kIv[2]), static_cast<int>(kIv[3]));
  const __m256i k0 =
      _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(key)));
  const __m256i k1 =
      _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(key + 4)));
  __m256i p0 = k0, p1 = k1, q0 = k0, q1 = k1;
  for (size_t blk = 0; blk < kBlocksPerChunk; ++blk) {
    // mp: chunk 0 words 0-7, 8-15, chunk 1 words 0-7, 8-15; mq: the same for chunks 2 and 3.
    __m256i mp[4], mq[4];
    for (int h = 0; h < 4; ++h) {
      const size_t half = (h % 2) * 32;
      const size_t bp = blk, bq = std::min(blk, blocks[2 + h / 2] - 1);
      mp[h] = _mm256_loadu_si256(
          reinterpret_cast<const __m256i*>(chunk[h / 2] + bp * kBlockLen + half));
      mq[h] = _mm256_loadu_si256(
          reinterpret_cast<const __m256i*>(chunk[2 + h / 2] + bq * kBlockLen + half));
    }
    const int f = static_cast<int>(BlockFlags(flags, blk));
    const int len = static_cast<int>(kBlockLen);
    __m256i p2 = iv;
    __m256i p3 = _mm256_setr_epi32(static_cast<int>(counter), static_cast<int>(counter >> 32), len,
                                   f, static_cast<int>(counter + 1),
                                   static_cast<int>((counter + 1) >> 32), len, f);
    __m256i q2 = iv;
    __m256i q3 = _mm256_setr_epi32(
        static_cast<int>(counter + 2), static_cast<int>((counter + 2) >> 32), len, f,
        static_cast<int>(counter + 3), static_cast<int>((counter + 3) >> 32), len, f);
    RowRound2<0>(p0, p1, p2, p3, mp);
    RowRound2<0>(q0, q1, q2, q3, mq);
    RowRound2<1>(p0, p1, p2, p3, mp);
    RowRound2<1>(q0, q1, q2, q3, mq);
    RowRound2<2>(p0, p1, p2, p3, mp);
    RowRound2<2>(q0, q1, q2, q3, mq);
    RowRound2<3>(p0, p1, p2, p3, mp);
    RowRound2<3>(q0, q1, q2, q3, mq);
    RowRound2<4>(p0, p1, p2, p3, mp);
    RowRound2<4>(q0, q1, q2, q3, mq);
    RowRound2<5>(p0, p1, p2, p3, mp);
    RowRound2<5>(q0, q1, q2, q3, mq);
    RowRound2<6>(p0, p1, p2, p3, mp);
    RowRound2<6>(q0, q1, q2, q3, mq);
    p0 = Xor(p0, p2);
    p1 = Xor(p1, p3);
    q0 = Xor(q0, q2);
    q1 = Xor(q1, q3);
    if (blk + 1 == last_blocks) {
      last0 = q0;
      last1 = q1;
    }
  }
  if (last_blocks < kBlocksPerChunk) {
    // Put the partial chunk's captured state where its lane's results are read from.
    if (n == 3) {
      q0 = _mm256_blend_epi32(q0, last0, 0x0F);
      q1 = _mm256_blend_epi32(q1, last1, 0x0F);
    } else {
      q0 = _mm256_blend_epi32(q0, last0, 0xF0);
      q1 = _mm256_blend_epi32(q1, last1, 0xF0);
    }
  }
  // Row 0 holds words 0-3 of two chaining values, row 1 words 4-7.
  const __m256i ra = _mm256_permute2x128_si256(p0, p1, 0x20);  // chunk 0: words 0-7
  const __m256i rb = _mm256_permute2x128_si256(p0, p1, 0x31);  // chunk 1
  const __m256i rc = _mm256_permute2x128_si256(q0, q1, 0x20);
  const __m256i rd = _mm256_permute2x128_si256(q0, q1, 0x31);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), ra);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 8), rb);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 16), rc);
  if (n == 4) _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 24), rd);
}

}  // namespace deja::blake3_internal

#endif  // defined(__x86_64__)
