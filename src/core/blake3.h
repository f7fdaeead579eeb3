// BLAKE3: the cryptographic hash deja uses to fingerprint requests.
//
// Written from the BLAKE3 specification (Aumasson, Neves, O'Connor, Wilcox-O'Hearn, 2020). All
// three modes are supported (hash, keyed_hash, derive_key), each with extendable output of any
// length.
//
//   deja::Blake3 h;
//   h.Update(route_path);
//   h.Update(canonical_body);
//   std::array<uint8_t, 32> fp = h.Finalize();
//   std::string hex = deja::HexEncode(fp.data(), fp.size());
//
// Speed: the chunks (1 KiB each) of a multi-chunk input are compressed side by side with SSE4.1 or
// AVX2 kernels when the CPU has them, and a single chunk's blocks with an SSE4.1 compression
// function; the choice is made once at run time, so the binary runs on any x86-64. Other
// architectures use the portable code. Hashing a 1 KB body takes ~1.3 us, 2 KB ~1.6 us, 4 KB
// ~2.5 us on the development VMs (bench/results/hash_bench.md).
//
// Thread safety: Blake3 is a value type (thread-compatible). Distinct objects may be used from
// different threads at once; one object must not be updated while another thread uses it.
// Finalize() is const: it may be called more than once, and Update() after Finalize() continues the
// same input.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace deja {

namespace blake3_internal {
struct Access;  // Test hook: forces a particular SIMD backend (see blake3_impl.h).
}

class Blake3 {
 public:
  static constexpr size_t kKeyLen = 32;
  static constexpr size_t kOutLen = 32;

  // hash mode.
  Blake3();
  // keyed_hash mode with a 32-byte key (a MAC or a domain-separated hash).
  static Blake3 Keyed(const uint8_t key[kKeyLen]);
  // derive_key mode: `context` should be a hardcoded, globally unique, application-specific string;
  // the key material is what is then passed to Update().
  static Blake3 DeriveKey(std::string_view context);

  // Copies only the live part of the subtree stack (a few bytes for any request-sized input).
  Blake3(const Blake3& other);
  Blake3& operator=(const Blake3& other);

  void Update(const void* data, size_t len);
  void Update(std::string_view s) { Update(s.data(), s.size()); }

  // Writes `out_len` bytes of output. Any length is allowed; a shorter output is a prefix of a
  // longer one.
  void Finalize(uint8_t* out, size_t out_len) const;
  std::array<uint8_t, kOutLen> Finalize() const;

 private:
  friend struct blake3_internal::Access;

  // A subtree of 2^54 chunks covers 2^64 bytes; one more slot for the lazily merged newest entry.
  static constexpr size_t kMaxDepth = 54;

  Blake3(const uint32_t key[8], uint8_t flags);
  void CopyFrom(const Blake3& other);

  size_t ChunkLen() const { return size_t{blocks_compressed_} * 64 + buf_len_; }
  // Adds bytes to the current chunk. REQUIRES: len <= 1024 - ChunkLen().
  void ChunkUpdate(const uint8_t* in, size_t len);
  // Chaining value of the current (full, non-root) chunk.
  void ChunkChainingValue(uint32_t cv[8]) const;
  void StartChunk(uint64_t index);
  // Pushes the chaining value of chunk `index`, first merging the subtrees it completes' left
  // halves.
  void PushChunkCv(const uint32_t cv[8], uint64_t index);
  // Merges stack entries until only one per completed subtree of `total_chunks` chunks remains.
  void MergeStack(uint64_t total_chunks);

  uint32_t key_[8] = {};
  uint32_t cv_[8] = {};         // Chaining value of the chunk being filled.
  uint64_t chunk_counter_ = 0;  // Index of the chunk being filled.
  uint8_t buf_[64] = {};        // Pending block of the current chunk (its last seen block).
  uint8_t buf_len_ = 0;
  uint8_t blocks_compressed_ = 0;  // Blocks of the current chunk already compressed.
  uint8_t flags_ = 0;              // Mode flags (keyed_hash / derive_key).
  uint8_t stack_len_ = 0;
  uint8_t backend_ = 0;  // blake3_internal::Backend chosen at construction.
  // Chaining values of completed subtrees, largest (leftmost) first. Only the first stack_len_
  // entries are ever read; the rest stays uninitialised because zeroing 1.7 KB would cost ~30 ns on
  // every hash (a few percent of hashing a typical request).
  uint32_t stack_[(kMaxDepth + 1) * 8];
};

// BLAKE3 hash (default mode, 32-byte output) of `data`.
std::array<uint8_t, 32> Blake3Hash(std::string_view data);

// Lowercase hexadecimal.
std::string HexEncode(const uint8_t* data, size_t len);

}  // namespace deja
