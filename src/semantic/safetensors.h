// A read-only memory-mapped file and a reader of the safetensors format on top of it.
//
// safetensors (https://github.com/huggingface/safetensors) is: an 8-byte little-endian header
// length N, N bytes of JSON header {"name": {"dtype": "F32", "shape": [rows, cols],
// "data_offsets": [begin, end]}, ..., "__metadata__": {...}}, then the tensor bytes; offsets are
// relative to the end of the header, little-endian, row-major.
//
//   StatusOr<SafeTensors> st = SafeTensors::Open(dir + "/model.safetensors");
//   if (!st.ok()) return st.status();
//   const TensorView* t = st->Find("embeddings");
//   float x = t->AsFloat(row * t->shape[1] + col);
//
// Every header field is validated against the file (offsets inside the data, sizes matching dtype
// and shape), so a truncated or hostile file is a DataLoss error, never an out-of-bounds read.
// Thread safety: immutable after Open; concurrent reads are safe. Views stay valid while the
// SafeTensors (which owns the mapping) lives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "deja/status.h"

namespace deja::semantic {

// A whole file mapped read-only (MAP_PRIVATE). Move-only; unmaps on destruction. An empty file
// maps to size 0 with a null data pointer.
class MappedFile {
 public:
  static StatusOr<MappedFile> Open(const std::string& path);
  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

enum class Dtype { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

// Bytes per element.
size_t DtypeSize(Dtype d);
std::string_view DtypeName(Dtype d);

// IEEE-754 binary16 -> binary32 (exact, including subnormals, infinities and NaN).
float HalfToFloat(uint16_t h);
// binary32 -> binary16, round to nearest even (for writers and tests).
uint16_t FloatToHalf(float f);

struct TensorView {
  std::string name;
  Dtype dtype = Dtype::kF32;
  std::vector<size_t> shape;
  const uint8_t* data = nullptr;  // Unaligned: read through AsFloat / AsInt.
  size_t num_elements = 0;

  // Element `i` (REQUIRES: i < num_elements) converted to float / integer. Integer dtypes convert
  // by value (as numpy's astype does); float dtypes to integers truncate.
  float AsFloat(size_t i) const;
  int64_t AsInt(size_t i) const;
};

class SafeTensors {
 public:
  // Maps and parses the file.
  static StatusOr<SafeTensors> Open(const std::string& path);
  // Parses `file` (taking ownership of the mapping).
  static StatusOr<SafeTensors> FromMapped(MappedFile file, std::string_view display_name);

  // nullptr if there is no tensor of that name.
  const TensorView* Find(std::string_view name) const;
  const std::vector<TensorView>& tensors() const { return tensors_; }

 private:
  std::shared_ptr<MappedFile> file_;  // Shared so SafeTensors stays cheaply movable.
  std::vector<TensorView> tensors_;
};

}  // namespace deja::semantic
