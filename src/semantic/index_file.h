// The on-disk container of a saved vector index: a header naming the engine, the engine's payload,
// and a trailer with the payload length and a BLAKE3 checksum of everything before it.
//
//   header  "DEJAVIX\0" | u32 format version | u32 kind | u32 dimensions | u32 reserved (0)
//   payload engine-specific (flat_index.cc, hnsw_index.cc, ivfpq_index.cc; the semantic cache's
//           entries: semantic_index_file.cc)
//   trailer u64 payload length | 32-byte BLAKE3 of header, payload and length
//
// Integers are little-endian (the only byte order deja runs on; checked at compile time). The
// checksum makes any torn, truncated or bit-flipped file fail with DataLoss before an engine parses
// a byte of it, which matters for hnswlib: its loader trusts the bytes it reads.
//
// Thread safety: writer and reader objects are thread-compatible (one thread at a time each).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/blake3.h"
#include "deja/status.h"

namespace deja::vindex {

// The vector index engines, and the semantic cache's own saved entries (semantic_index_file.h),
// which use the same container.
enum class IndexKind : uint32_t { kFlat = 1, kHnsw = 2, kIvfPq = 3, kSemanticCache = 4 };

// Writes `path` atomically: bytes go to a temporary file beside it, which Commit() fsyncs and
// renames over `path`. Destroying an uncommitted writer removes the temporary file.
class IndexFileWriter {
 public:
  static StatusOr<std::unique_ptr<IndexFileWriter>> Create(const std::string& path, IndexKind kind,
                                                           uint32_t dimensions);
  ~IndexFileWriter();
  IndexFileWriter(const IndexFileWriter&) = delete;
  IndexFileWriter& operator=(const IndexFileWriter&) = delete;

  Status Write(const void* data, size_t len);
  Status WriteU64(uint64_t v) { return Write(&v, sizeof v); }
  // Appends the whole content of the file at `other_path`.
  Status AppendFile(const std::string& other_path);
  // Writes the trailer, fsyncs, renames over the target and fsyncs the directory.
  Status Commit();

  // A path beside the target for scratch files (unique per call within the process).
  static std::string ScratchPath(const std::string& path, const char* what);

 private:
  IndexFileWriter(std::string path, std::string tmp, int fd);
  Status Flush();

  std::string path_;
  std::string tmp_;
  int fd_;
  bool committed_ = false;
  uint64_t payload_len_ = 0;
  Blake3 hash_;
  std::vector<uint8_t> buf_;
};

// A verified saved index, mapped into memory. Reads are bounds-checked: running past the payload
// is DataLoss (a file that passed the checksum but has inconsistent lengths).
class IndexFileReader {
 public:
  // NotFound when `path` does not exist; DataLoss when it is not a complete, intact index file.
  static StatusOr<std::unique_ptr<IndexFileReader>> Open(const std::string& path);
  ~IndexFileReader();
  IndexFileReader(const IndexFileReader&) = delete;
  IndexFileReader& operator=(const IndexFileReader&) = delete;

  IndexKind kind() const { return kind_; }
  uint32_t dimensions() const { return dimensions_; }

  Status Read(void* out, size_t len);
  Status ReadU64(uint64_t* v) { return Read(v, sizeof *v); }
  // A view of the next `len` payload bytes (valid while the reader lives), advancing past them.
  StatusOr<std::span<const uint8_t>> Take(size_t len);
  size_t remaining() const { return payload_.size() - pos_; }

 private:
  IndexFileReader() = default;

  void* map_ = nullptr;
  size_t map_len_ = 0;
  IndexKind kind_ = IndexKind::kFlat;
  uint32_t dimensions_ = 0;
  std::span<const uint8_t> payload_;
  size_t pos_ = 0;
};

}  // namespace deja::vindex
