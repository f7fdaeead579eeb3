// BLAKE3 hasher: the portable compression function, the chunk/tree logic and backend dispatch.
// The SSE4.1 and AVX2 kernels live in blake3_x86.cc.
//
// Tree bookkeeping (the specification's incremental "chaining value stack"): chunk chaining values
// go on a stack that holds one entry per completed subtree, largest first. Merging is lazy: a new
// chunk's chaining value is pushed without merging the subtrees it completes; they are merged only
// when a later chunk arrives. That way the last chunk (or the last parent) never gets merged as a
// non-root node before we know whether more input follows, and whole chunks can be hashed eagerly
// straight from the caller's buffer, many at a time.
#include "core/blake3.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "core/blake3_impl.h"

namespace deja {
namespace blake3_internal {
namespace {

// The hot path must be one straight-line function; GCC will not inline seven rounds by itself.
#define DEJA_B3_INLINE __attribute__((always_inline)) inline

DEJA_B3_INLINE void G(uint32_t& a, uint32_t& b, uint32_t& c, uint32_t& d, uint32_t x, uint32_t y) {
  a = a + x + b;  // b is the operand ready last; adding it last shortens the dependency chain.
  d = std::rotr(d ^ a, 16);
  c = c + d;
  b = std::rotr(b ^ c, 12);
  a = a + y + b;
  d = std::rotr(d ^ a, 8);
  c = c + d;
  b = std::rotr(b ^ c, 7);
}

// One round: G on the four columns, then on the four diagonals of the 4x4 state. The message words
// come straight from the compile-time schedule, so no permutation happens at run time.
template <int R>
DEJA_B3_INLINE void Round(uint32_t v[16], const uint32_t m[16]) {
  constexpr const std::array<uint8_t, 16>& s = kSchedule[R];
  G(v[0], v[4], v[8], v[12], m[s[0]], m[s[1]]);
  G(v[1], v[5], v[9], v[13], m[s[2]], m[s[3]]);
  G(v[2], v[6], v[10], v[14], m[s[4]], m[s[5]]);
  G(v[3], v[7], v[11], v[15], m[s[6]], m[s[7]]);
  G(v[0], v[5], v[10], v[15], m[s[8]], m[s[9]]);
  G(v[1], v[6], v[11], v[12], m[s[10]], m[s[11]]);
  G(v[2], v[7], v[8], v[13], m[s[12]], m[s[13]]);
  G(v[3], v[4], v[9], v[14], m[s[14]], m[s[15]]);
}

// Runs the seven rounds on the initial state built from the inputs, fully unrolled so all sixteen
// state words can live in registers and every message index is a constant.
DEJA_B3_INLINE void CompressRounds(const uint32_t cv[8], const uint32_t m[16], uint32_t block_len,
                                   uint64_t counter, uint32_t flags, uint32_t v[16]) {
  v[0] = cv[0];
  v[1] = cv[1];
  v[2] = cv[2];
  v[3] = cv[3];
  v[4] = cv[4];
  v[5] = cv[5];
  v[6] = cv[6];
  v[7] = cv[7];
  v[8] = kIv[0];
  v[9] = kIv[1];
  v[10] = kIv[2];
  v[11] = kIv[3];
  v[12] = static_cast<uint32_t>(counter);
  v[13] = static_cast<uint32_t>(counter >> 32);
  v[14] = block_len;
  v[15] = flags;
  static_assert(kRounds == 7);
  Round<0>(v, m);
  Round<1>(v, m);
  Round<2>(v, m);
  Round<3>(v, m);
  Round<4>(v, m);
  Round<5>(v, m);
  Round<6>(v, m);
}

inline void CompressInPlace(Backend b, uint32_t cv[8], const uint32_t m[16], uint32_t block_len,
                            uint64_t counter, uint32_t flags) {
#if defined(__x86_64__)
  if (b != Backend::kPortable) return CompressInPlaceSse41(cv, m, block_len, counter, flags);
#else
  (void)b;
#endif
  CompressInPlacePortable(cv, m, block_len, counter, flags);
}

// Compresses `n` consecutive full blocks of one chunk into `cv` (see CompressBlocksSse41).
void CompressBlocks(Backend b, uint32_t cv[8], const uint8_t* blocks, size_t n, uint64_t counter,
                    uint32_t flags, bool chunk_start, bool chunk_end) {
#if defined(__x86_64__)
  if (b != Backend::kPortable) {
    return CompressBlocksSse41(cv, blocks, n, counter, flags, chunk_start, chunk_end);
  }
#else
  (void)b;
#endif
  for (size_t i = 0; i < n; ++i) {
    uint32_t m[16];
    LoadBlockWords(blocks + i * kBlockLen, m);
    uint32_t f = flags;
    if (i == 0 && chunk_start) f |= kChunkStart;
    if (i == n - 1 && chunk_end) f |= kChunkEnd;
    CompressInPlacePortable(cv, m, kBlockLen, counter, f);
  }
}

// Chaining value of one whole, non-root chunk, block after block.
void HashChunkSerial(Backend b, const uint8_t* chunk, const uint32_t key[8], uint64_t counter,
                     uint8_t flags, uint32_t out[8]) {
  std::memcpy(out, key, 32);
  CompressBlocks(b, out, chunk, kBlocksPerChunk, counter, flags, true, true);
}

// The inputs of a node's last compression, kept unevaluated until we know whether the node is the
// root: the root's compression gets the ROOT flag and may produce any output length.
struct Output {
  uint32_t cv[8];
  uint32_t block[16];
  uint64_t counter;
  uint32_t block_len;
  uint32_t flags;

  void ChainingValue(Backend b, uint32_t out[8]) const {
    std::memcpy(out, cv, 32);
    CompressInPlace(b, out, block, block_len, counter, flags);
  }

  // Output block i is the root compression with the counter set to i.
  void RootBytes(Backend b, uint8_t* out, size_t len) const {
    uint32_t words[16];
    for (uint64_t i = 0; len > 0; ++i) {
#if defined(__x86_64__)
      if (b != Backend::kPortable) {
        CompressXofSse41(cv, block, block_len, i, flags | kRoot, words);
      } else {
        CompressXofPortable(cv, block, block_len, i, flags | kRoot, words);
      }
#else
      (void)b;
      CompressXofPortable(cv, block, block_len, i, flags | kRoot, words);
#endif
      const size_t take = std::min(len, kBlockLen);
      uint8_t bytes[kBlockLen];
      for (int w = 0; w < 16; ++w) StoreLe32(bytes + 4 * w, words[w]);
      std::memcpy(out, bytes, take);
      out += take;
      len -= take;
    }
  }
};

Output ParentOutput(const uint32_t left[8], const uint32_t right[8], const uint32_t key[8],
                    uint8_t flags) {
  Output o;
  std::memcpy(o.cv, key, 32);
  std::memcpy(o.block, left, 32);
  std::memcpy(o.block + 8, right, 32);
  o.counter = 0;
  o.block_len = kBlockLen;
  o.flags = flags | kParent;
  return o;
}

}  // namespace

void CompressInPlacePortable(uint32_t cv[8], const uint32_t m[16], uint32_t block_len,
                             uint64_t counter, uint32_t flags) {
  uint32_t v[16];
  CompressRounds(cv, m, block_len, counter, flags, v);
  for (int i = 0; i < 8; ++i) cv[i] = v[i] ^ v[i + 8];
}

void CompressXofPortable(const uint32_t cv[8], const uint32_t m[16], uint32_t block_len,
                         uint64_t counter, uint32_t flags, uint32_t out[16]) {
  uint32_t v[16];
  CompressRounds(cv, m, block_len, counter, flags, v);
  for (int i = 0; i < 8; ++i) {
    out[i] = v[i] ^ v[i + 8];
    out[i + 8] = v[i + 8] ^ cv[i];
  }
}

bool BackendSupported(Backend b) {
  switch (b) {
    case Backend::kPortable:
      return true;
#if defined(__x86_64__)
    case Backend::kSse41:
      __builtin_cpu_init();  // Needed if we run before the runtime initialised it (static init).
      return __builtin_cpu_supports("sse4.1");
    case Backend::kAvx2:
      __builtin_cpu_init();
      // libgcc and compiler-rt only report avx2 when the OS saves the YMM registers too.
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("sse4.1");
#endif
    default:
      return false;
  }
}

Backend BestBackend() {
  static const Backend best = [] {
    for (Backend b : {Backend::kAvx2, Backend::kSse41}) {
      if (BackendSupported(b)) return b;
    }
    return Backend::kPortable;
  }();
  return best;
}

void HashChunks(Backend b, const uint8_t* in, size_t n, const uint32_t key[8], uint64_t counter,
                uint8_t flags, uint32_t* out) {
#if defined(__x86_64__)
  // A kernel costs the same for a partly filled vector as for a full one, so each is used only
  // where it beats the alternatives: the transposed 8-way AVX2 kernel from 5 chunks; for 3-4 chunks
  // the row-wise AVX2 kernel, else the transposed 4-way SSE4.1 one; for 2 chunks two interleaved
  // row-wise compressions; one chunk block by block. Measured on Zen 3 with GCC 12, the project's
  // compiler. (clang 14 compiles the row-wise kernels ~30% slower, spilling and splitting byte
  // shuffles, so a clang build would do better with the transposed SSE4.1 kernel for 2-4 chunks.)
  if (b == Backend::kAvx2) {
    while (n >= 5) {
      const size_t k = std::min<size_t>(n, 8);
      HashChunksAvx2(in, k, key, counter, flags, out);
      in += k * kChunkLen;
      counter += k;
      out += k * 8;
      n -= k;
    }
    if (n >= 3) {
      HashChunksAvx2Rows(in, n, kBlocksPerChunk, key, counter, flags, out);
      return;
    }
  }
  if (b != Backend::kPortable) {
    while (n >= 3) {
      const size_t k = std::min<size_t>(n, 4);
      HashChunksSse41(in, k, key, counter, flags, out);
      in += k * kChunkLen;
      counter += k;
      out += k * 8;
      n -= k;
    }
    if (n == 2) {
      HashTwoChunksSse41(in, kBlocksPerChunk, key, counter, flags, out);
      return;
    }
  }
#endif
  for (; n > 0; --n, in += kChunkLen, ++counter, out += 8) {
    HashChunkSerial(b, in, key, counter, flags, out);
  }
}

bool HashChunksWithTail(Backend b, const uint8_t* in, size_t n, size_t tail_blocks,
                        const uint32_t key[8], uint64_t counter, uint8_t flags, uint32_t* out) {
#if defined(__x86_64__)
  // The partial chunk rides along in a lane that would otherwise run alone or idle. With two whole
  // chunks, the three-lane AVX2 kernel only beats "two-chunk kernel, then the tail block by block"
  // when the tail is long (each row-wise AVX2 step costs ~1.5 single-block compressions).
  if (b == Backend::kPortable || tail_blocks == 0) return false;
  if (n == 1) {
    HashTwoChunksSse41(in, tail_blocks, key, counter, flags, out);
    return true;
  }
  if (b == Backend::kAvx2 && (n == 3 || (n == 2 && tail_blocks >= 8))) {
    HashChunksAvx2Rows(in, n + 1, tail_blocks, key, counter, flags, out);
    return true;
  }
#else
  (void)b, (void)in, (void)n, (void)tail_blocks, (void)key, (void)counter, (void)flags, (void)out;
#endif
  return false;
}

}  // namespace blake3_internal

using namespace blake3_internal;

Blake3::Blake3() : Blake3(kIv, 0) {}

Blake3::Blake3(const uint32_t key[8], uint8_t flags)
    : flags_(flags), backend_(static_cast<uint8_t>(BestBackend())) {
  std::memcpy(key_, key, 32);
  std::memcpy(cv_, key, 32);
}

Blake3::Blake3(const Blake3& other) { CopyFrom(other); }

Blake3& Blake3::operator=(const Blake3& other) {
  if (this != &other) CopyFrom(other);
  return *this;
}

void Blake3::CopyFrom(const Blake3& other) {
  std::memcpy(key_, other.key_, sizeof(key_));
  std::memcpy(cv_, other.cv_, sizeof(cv_));
  chunk_counter_ = other.chunk_counter_;
  std::memcpy(buf_, other.buf_, sizeof(buf_));
  buf_len_ = other.buf_len_;
  blocks_compressed_ = other.blocks_compressed_;
  flags_ = other.flags_;
  stack_len_ = other.stack_len_;
  backend_ = other.backend_;
  std::memcpy(stack_, other.stack_, size_t{stack_len_} * 8 * sizeof(uint32_t));
}

Blake3 Blake3::Keyed(const uint8_t key[kKeyLen]) {
  uint32_t k[8];
  for (int i = 0; i < 8; ++i) k[i] = LoadLe32(key + 4 * i);
  return Blake3(k, kKeyedHash);
}

Blake3 Blake3::DeriveKey(std::string_view context) {
  // derive_key: the context string is hashed on its own into a context key, which then keys the
  // hashing of the key material.
  Blake3 context_hasher(kIv, kDeriveKeyContext);
  context_hasher.Update(context);
  uint8_t context_key[kKeyLen];
  context_hasher.Finalize(context_key, kKeyLen);
  uint32_t k[8];
  for (int i = 0; i < 8; ++i) k[i] = LoadLe32(context_key + 4 * i);
  return Blake3(k, kDeriveKeyMaterial);
}

void Blake3::StartChunk(uint64_t index) {
  std::memcpy(cv_, key_, 32);
  chunk_counter_ = index;
  buf_len_ = 0;
  blocks_compressed_ = 0;
}

void Blake3::ChunkUpdate(const uint8_t* in, size_t len) {
  const Backend b = static_cast<Backend>(backend_);
  // The chunk's last block must be compressed with CHUNK_END (and maybe ROOT), so a full block is
  // compressed only once at least one more byte of this chunk has arrived.
  if (buf_len_ > 0) {
    const size_t take = std::min(len, kBlockLen - buf_len_);
    std::memcpy(buf_ + buf_len_, in, take);
    buf_len_ += static_cast<uint8_t>(take);
    in += take;
    len -= take;
    if (len == 0) return;
    CompressBlocks(b, cv_, buf_, 1, chunk_counter_, flags_, blocks_compressed_ == 0, false);
    ++blocks_compressed_;
    buf_len_ = 0;
  }
  if (len > kBlockLen) {
    // Every full block but the last one (which stays buffered), straight from the input.
    const size_t n = (len - 1) / kBlockLen;
    CompressBlocks(b, cv_, in, n, chunk_counter_, flags_, blocks_compressed_ == 0, false);
    blocks_compressed_ += static_cast<uint8_t>(n);
    in += n * kBlockLen;
    len -= n * kBlockLen;
  }
  std::memcpy(buf_, in, len);
  buf_len_ = static_cast<uint8_t>(len);
}

void Blake3::ChunkChainingValue(uint32_t cv[8]) const {
  uint8_t block[kBlockLen] = {};
  std::memcpy(block, buf_, buf_len_);
  uint32_t m[16];
  LoadBlockWords(block, m);
  std::memcpy(cv, cv_, 32);
  CompressInPlace(static_cast<Backend>(backend_), cv, m, buf_len_, chunk_counter_,
                  flags_ | kChunkEnd | (blocks_compressed_ == 0 ? kChunkStart : 0));
}

void Blake3::MergeStack(uint64_t total_chunks) {
  const size_t keep = static_cast<size_t>(std::popcount(total_chunks));
  while (stack_len_ > keep) {
    // The two newest entries are adjacent in memory: together they are the parent's block.
    uint32_t* left = &stack_[(stack_len_ - 2) * 8];
    uint32_t m[16];
    std::memcpy(m, left, 64);
    std::memcpy(left, key_, 32);
    CompressInPlace(static_cast<Backend>(backend_), left, m, kBlockLen, 0, flags_ | kParent);
    --stack_len_;
  }
}

void Blake3::PushChunkCv(const uint32_t cv[8], uint64_t index) {
  MergeStack(index);
  std::memcpy(&stack_[stack_len_ * 8], cv, 32);
  ++stack_len_;
}

void Blake3::Update(const void* data, size_t len) {
  const auto* in = static_cast<const uint8_t*>(data);
  if (len == 0) return;

  // 1. Top up the chunk in progress; if it fills and more input follows, it is not the root.
  if (ChunkLen() > 0) {
    const size_t take = std::min(len, kChunkLen - ChunkLen());
    ChunkUpdate(in, take);
    in += take;
    len -= take;
    if (len > 0) {
      uint32_t cv[8];
      ChunkChainingValue(cv);
      PushChunkCv(cv, chunk_counter_);
      StartChunk(chunk_counter_ + 1);
    }
  }

  // 2. Whole chunks straight from the input, several at a time. Any chunk of a multi-chunk input is
  // a non-root leaf, so only chunk 0 with nothing after it must wait (it could be the root).
  constexpr size_t kMaxBatch = 16;
  const Backend b = static_cast<Backend>(backend_);
  while (len >= kChunkLen && !(chunk_counter_ == 0 && len == kChunkLen)) {
    const size_t n = std::min(len / kChunkLen, kMaxBatch);
    uint32_t cvs[(kMaxBatch + 1) * 8];
    // If the input ends inside the chunk after these, that chunk's blocks (all but its last, which
    // must wait for CHUNK_END) can share the kernel call: a 1.5 KB input then costs about as much
    // as 1 KB.
    const size_t rest = len - n * kChunkLen;
    const size_t tail_blocks = rest > kBlockLen && rest < kChunkLen ? (rest - 1) / kBlockLen : 0;
    if (tail_blocks > 0 &&
        HashChunksWithTail(b, in, n, tail_blocks, key_, chunk_counter_, flags_, cvs)) {
      for (size_t i = 0; i < n; ++i) PushChunkCv(&cvs[i * 8], chunk_counter_ + i);
      StartChunk(chunk_counter_ + n);
      std::memcpy(cv_, &cvs[n * 8], 32);
      blocks_compressed_ = static_cast<uint8_t>(tail_blocks);
      in += n * kChunkLen + tail_blocks * kBlockLen;
      len = rest - tail_blocks * kBlockLen;  // 1..64 bytes, buffered below.
      break;
    }
    HashChunks(b, in, n, key_, chunk_counter_, flags_, cvs);
    for (size_t i = 0; i < n; ++i) PushChunkCv(&cvs[i * 8], chunk_counter_ + i);
    StartChunk(chunk_counter_ + n);
    in += n * kChunkLen;
    len -= n * kChunkLen;
  }

  // 3. The tail goes into the chunk state.
  if (len > 0) ChunkUpdate(in, len);
  // Finalize() rolls the chunk in progress up through the stack, which is only right once the stack
  // holds exactly the completed subtrees to its left.
  if (ChunkLen() > 0) MergeStack(chunk_counter_);
}

void Blake3::Finalize(uint8_t* out, size_t out_len) const {
  const Backend b = static_cast<Backend>(backend_);
  Output o;
  size_t below;  // Stack entries still to merge into `o`, from the top.
  if (ChunkLen() > 0 || chunk_counter_ == 0) {
    // The chunk in progress (or the empty input's single empty chunk) is the rightmost leaf.
    uint8_t block[kBlockLen] = {};
    std::memcpy(block, buf_, buf_len_);
    std::memcpy(o.cv, cv_, 32);
    LoadBlockWords(block, o.block);
    o.counter = chunk_counter_;
    o.block_len = buf_len_;
    o.flags = flags_ | kChunkEnd | (blocks_compressed_ == 0 ? kChunkStart : 0);
    below = stack_len_;
  } else {
    // The input ended on a chunk boundary after the last chunk was pushed eagerly; the top two
    // entries (never merged, by laziness) are the rightmost parent's children. Here the input had
    // at least two chunks, so stack_len_ >= 2.
    below = stack_len_ - 2u;
    o = ParentOutput(&stack_[below * 8], &stack_[(below + 1) * 8], key_, flags_);
  }
  while (below > 0) {
    --below;
    uint32_t right[8];
    o.ChainingValue(b, right);
    o = ParentOutput(&stack_[below * 8], right, key_, flags_);
  }
  o.RootBytes(b, out, out_len);
}

std::array<uint8_t, Blake3::kOutLen> Blake3::Finalize() const {
  std::array<uint8_t, kOutLen> out;
  Finalize(out.data(), out.size());
  return out;
}

std::array<uint8_t, 32> Blake3Hash(std::string_view data) {
  Blake3 h;
  h.Update(data);
  return h.Finalize();
}

std::string HexEncode(const uint8_t* data, size_t len) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(len * 2, '\0');
  for (size_t i = 0; i < len; ++i) {
    s[2 * i] = kDigits[data[i] >> 4];
    s[2 * i + 1] = kDigits[data[i] & 0xf];
  }
  return s;
}

}  // namespace deja
