// Internals of the BLAKE3 implementation shared by blake3.cc, blake3_x86.cc and the tests.
// Not part of deja's API. Names follow the BLAKE3 specification.
//
// Thread safety: everything here is a pure function of its arguments or immutable after first use.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/blake3.h"

namespace deja::blake3_internal {

inline constexpr size_t kBlockLen = 64;
inline constexpr size_t kChunkLen = 1024;
inline constexpr size_t kBlocksPerChunk = kChunkLen / kBlockLen;

// Domain separation flags, one bit each, ORed into the compression's flags word.
inline constexpr uint8_t kChunkStart = 1 << 0;
inline constexpr uint8_t kChunkEnd = 1 << 1;
inline constexpr uint8_t kParent = 1 << 2;
inline constexpr uint8_t kRoot = 1 << 3;
inline constexpr uint8_t kKeyedHash = 1 << 4;
inline constexpr uint8_t kDeriveKeyContext = 1 << 5;
inline constexpr uint8_t kDeriveKeyMaterial = 1 << 6;

// The initialization vector: the same constants as SHA-256's.
inline constexpr uint32_t kIv[8] = {0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                                    0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19};

// The message permutation applied between rounds: after permuting, word i
// of the message is the previous round's word kMsgPermutation[i].
inline constexpr uint8_t kMsgPermutation[16] = {2, 6,  3,  10, 7, 0,  4,  13,
                                                1, 11, 12, 5,  9, 14, 15, 8};
inline constexpr int kRounds = 7;

// kSchedule[r][i] is the index of the original message word at position i in round r. Computing it
// at compile time lets every round read the message words in place instead of permuting them.
inline constexpr std::array<std::array<uint8_t, 16>, kRounds> kSchedule = [] {
  std::array<std::array<uint8_t, 16>, kRounds> s{};
  for (int i = 0; i < 16; ++i) s[0][i] = static_cast<uint8_t>(i);
  for (int r = 1; r < kRounds; ++r) {
    for (int i = 0; i < 16; ++i) s[r][i] = s[r - 1][kMsgPermutation[i]];
  }
  return s;
}();

inline uint32_t LoadLe32(const uint8_t* p) {
  if constexpr (std::endian::native == std::endian::little) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    return w;
  } else {
    return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
  }
}

inline void StoreLe32(uint8_t* p, uint32_t w) {
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(p, &w, 4);
  } else {
    p[0] = static_cast<uint8_t>(w);
    p[1] = static_cast<uint8_t>(w >> 8);
    p[2] = static_cast<uint8_t>(w >> 16);
    p[3] = static_cast<uint8_t>(w >> 24);
  }
}

inline void LoadBlockWords(const uint8_t block[kBlockLen], uint32_t m[16]) {
  for (int i = 0; i < 16; ++i) m[i] = LoadLe32(block + 4 * i);
}

// Which implementation hashes whole chunks and single blocks. Ordered by preference.
enum class Backend : uint8_t { kPortable = 0, kSse41 = 1, kAvx2 = 2 };

// True when this CPU (and build) can run `b`.
bool BackendSupported(Backend b);
// The fastest supported backend; detected once.
Backend BestBackend();

// The compression function in portable C++: updates `cv` in place to the first 8
// output words. `m` is the block as 16 little-endian words.
void CompressInPlacePortable(uint32_t cv[8], const uint32_t m[16], uint32_t block_len,
                             uint64_t counter, uint32_t flags);
// Full 16-word output, for the root node's extended output.
void CompressXofPortable(const uint32_t cv[8], const uint32_t m[16], uint32_t block_len,
                         uint64_t counter, uint32_t flags, uint32_t out[16]);

// Chaining values of `n` consecutive whole chunks starting at `in`, the first being chunk number
// `counter`, none of them the root. Writes 8 words per chunk to `out`.
void HashChunks(Backend b, const uint8_t* in, size_t n, const uint32_t key[8], uint64_t counter,
                uint8_t flags, uint32_t* out);

// Like HashChunks for `n` whole chunks, plus the first `tail_blocks` (1..15) blocks of the chunk
// after them, all in one kernel call, when the backend has a kernel that runs them side by side
// cheaply. Writes n + 1 chaining values (the last one the partial chunk's running value) and
// returns true; returns false having done nothing otherwise.
bool HashChunksWithTail(Backend b, const uint8_t* in, size_t n, size_t tail_blocks,
                        const uint32_t key[8], uint64_t counter, uint8_t flags, uint32_t* out);

#if defined(__x86_64__)
// SIMD kernels (blake3_x86.cc); callers must check BackendSupported first.
// Transposed kernels, one chunk per vector lane: n in [1, 4] for SSE4.1 and [1, 8] for AVX2.
void HashChunksSse41(const uint8_t* in, size_t n, const uint32_t key[8], uint64_t counter,
                     uint8_t flags, uint32_t* out);
void HashChunksAvx2(const uint8_t* in, size_t n, const uint32_t key[8], uint64_t counter,
                    uint8_t flags, uint32_t* out);
// Three or four chunks as row-wise compressions, two states per 256-bit register (AVX2). The last
// of the `n` chunks may be partial: only its first `last_blocks` (1..16) blocks are read and
// compressed (CHUNK_END only if it has all 16), and its 8 output words are then its running
// chaining value.
void HashChunksAvx2Rows(const uint8_t* in, size_t n, size_t last_blocks, const uint32_t key[8],
                        uint64_t counter, uint8_t flags, uint32_t* out);
// Two chunks as two interleaved row-wise compressions (SSE4.1). The second may be partial, as for
// HashChunksAvx2Rows: `blocks_b` (1..16) blocks.
void HashTwoChunksSse41(const uint8_t* in, size_t blocks_b, const uint32_t key[8], uint64_t counter,
                        uint8_t flags, uint32_t* out);
// One compression, holding the state as four rows of a 4x4 matrix in SSE registers.
void CompressInPlaceSse41(uint32_t cv[8], const uint32_t m[16], uint32_t block_len,
                          uint64_t counter, uint32_t flags);
// The full 16-word output, for the root's extended output.
void CompressXofSse41(const uint32_t cv[8], const uint32_t m[16], uint32_t block_len,
                      uint64_t counter, uint32_t flags, uint32_t out[16]);
// `n` consecutive full blocks of one chunk (little-endian bytes), chained through `cv`. The first
// block gets CHUNK_START if `chunk_start`, the last CHUNK_END if `chunk_end`.
void CompressBlocksSse41(uint32_t cv[8], const uint8_t* blocks, size_t n, uint64_t counter,
                         uint32_t flags, bool chunk_start, bool chunk_end);
#endif

// Test hook: lets tests run a hasher on a backend other than the best one.
struct Access {
  static void SetBackend(Blake3& h, Backend b) { h.backend_ = static_cast<uint8_t>(b); }
};

}  // namespace deja::blake3_internal
