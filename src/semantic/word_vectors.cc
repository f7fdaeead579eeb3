#include "semantic/word_vectors.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <unordered_set>
#include <utility>

namespace deja::semantic {
namespace {

constexpr char kMagic[8] = {'D', 'E', 'J', 'A', 'W', 'V', '1', '\n'};
constexpr size_t kHeaderSize = 80;

template <typename T>
T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

template <typename T>
void Put(std::string* out, size_t at, T v) {
  std::memcpy(out->data() + at, &v, sizeof(T));
}

size_t Align8(size_t n) { return (n + 7) & ~size_t{7}; }

}  // namespace

uint32_t Fnv1a32(std::string_view s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

StatusOr<WordVectors> WordVectors::Open(const std::string& path) {
  DEJA_ASSIGN_OR_RETURN(MappedFile file, MappedFile::Open(path));
  auto bad = [&](const std::string& what) {
    return DataLossError(path + ": not a valid deja word-vector file: " + what);
  };
  const uint8_t* d = file.data();
  const size_t size = file.size();
  if (size < kHeaderSize || std::memcmp(d, kMagic, 8) != 0) return bad("bad magic");
  if (Load<uint32_t>(d + 8) != 1) return bad("unsupported version");
  WordVectors wv;
  wv.dims_ = Load<uint32_t>(d + 12);
  wv.count_ = Load<uint32_t>(d + 16);
  const uint32_t type = Load<uint32_t>(d + 20);
  const uint32_t slots = Load<uint32_t>(d + 24);
  wv.median_norm_ = Load<float>(d + 28);
  const uint64_t blob = Load<uint64_t>(d + 32), offsets = Load<uint64_t>(d + 40),
                 table = Load<uint64_t>(d + 48), vectors = Load<uint64_t>(d + 56),
                 scales = Load<uint64_t>(d + 64), file_size = Load<uint64_t>(d + 72);
  if (file_size != size)
    return bad("truncated (header says " + std::to_string(file_size) + " bytes)");
  if (type != 1 && type != 2) return bad("unknown vector type " + std::to_string(type));
  wv.type_ = static_cast<WordVectorType>(type);
  if (wv.dims_ == 0 || wv.dims_ > 4096 || wv.count_ == 0) return bad("empty or absurd shape");
  if (slots == 0 || (slots & (slots - 1)) != 0 || slots < 2ull * wv.count_)
    return bad("table size");
  // Each section must lie inside the file (sizes computed in 64 bits cannot overflow here).
  auto inside = [&](uint64_t off, uint64_t len) { return off <= size && len <= size - off; };
  const uint64_t elem = wv.type_ == WordVectorType::kInt8 ? 1 : 2;
  if (!inside(offsets, 4ull * (wv.count_ + 1)) || !inside(table, 4ull * slots) ||
      !inside(vectors, elem * wv.count_ * wv.dims_) ||
      (wv.type_ == WordVectorType::kInt8 && !inside(scales, 4ull * wv.count_))) {
    return bad("a section lies outside the file");
  }
  const uint32_t blob_size = Load<uint32_t>(d + offsets + 4ull * wv.count_);
  if (!inside(blob, blob_size)) return bad("the word blob lies outside the file");
  // Offsets must be non-decreasing and inside the blob, so Word() never reads outside it.
  uint32_t prev = 0;
  for (uint32_t i = 0; i <= wv.count_; ++i) {
    const uint32_t o = Load<uint32_t>(d + offsets + 4ull * i);
    if (o < prev || o > blob_size) return bad("word offsets out of order");
    prev = o;
  }
  wv.slot_mask_ = slots - 1;
  wv.blob_ = d + blob;
  wv.word_offsets_ = d + offsets;
  wv.table_ = d + table;
  wv.vectors_ = d + vectors;
  wv.scales_ = wv.type_ == WordVectorType::kInt8 ? d + scales : nullptr;
  // Table entries are checked as they are used (row < count), so no full scan is needed here.
  wv.file_ = std::move(file);
  return wv;
}

std::string_view WordVectors::Word(uint32_t row) const {
  const uint32_t begin = Load<uint32_t>(word_offsets_ + 4ull * row);
  const uint32_t end = Load<uint32_t>(word_offsets_ + 4ull * row + 4);
  return {reinterpret_cast<const char*>(blob_) + begin, end - begin};
}

std::optional<uint32_t> WordVectors::Find(std::string_view word) const {
  uint32_t slot = Fnv1a32(word) & slot_mask_;
  // The table is at most half full, so a probe ends at an empty slot; the bound guards against a
  // corrupt table with no empty slot.
  for (uint32_t probes = 0; probes <= slot_mask_; ++probes) {
    const uint32_t entry = Load<uint32_t>(table_ + 4ull * slot);
    if (entry == 0) return std::nullopt;
    const uint32_t row = entry - 1;
    if (row < count_ && Word(row) == word) return row;
    slot = (slot + 1) & slot_mask_;
  }
  return std::nullopt;
}

void WordVectors::AddRow(uint32_t row, float weight, float* out) const {
  const size_t n = dims_;
  if (type_ == WordVectorType::kInt8) {
    const float scale = weight * Load<float>(scales_ + 4ull * row);
    const auto* q = reinterpret_cast<const int8_t*>(vectors_ + static_cast<size_t>(row) * n);
    for (size_t i = 0; i < n; ++i) out[i] += scale * static_cast<float>(q[i]);
  } else {
    const uint8_t* p = vectors_ + static_cast<size_t>(row) * n * 2;
    for (size_t i = 0; i < n; ++i) out[i] += weight * HalfToFloat(Load<uint16_t>(p + 2 * i));
  }
}

Status WriteWordVectors(const std::string& path, const std::vector<std::string>& words,
                        const std::vector<float>& vectors, int dims, WordVectorType type) {
  const size_t count = words.size();
  if (dims <= 0 || count == 0 || vectors.size() != count * static_cast<size_t>(dims)) {
    return InvalidArgumentError("WriteWordVectors: vectors must hold words.size() * dims floats");
  }
  std::unordered_set<std::string_view> seen;
  for (const std::string& w : words) {
    if (!seen.insert(w).second) return InvalidArgumentError("duplicate word \"" + w + "\"");
  }
  uint32_t slots = 1;
  while (slots < 2 * count) slots <<= 1;
  size_t blob_size = 0;
  for (const std::string& w : words) blob_size += w.size();
  const size_t d = static_cast<size_t>(dims);
  const size_t elem = type == WordVectorType::kInt8 ? 1 : 2;
  const size_t blob = kHeaderSize;
  const size_t offsets = Align8(blob + blob_size);
  const size_t table = Align8(offsets + 4 * (count + 1));
  const size_t vecs = Align8(table + 4 * size_t{slots});
  const size_t scales = Align8(vecs + elem * count * d);
  const size_t total = type == WordVectorType::kInt8 ? Align8(scales + 4 * count) : scales;

  std::string out(total, '\0');
  std::memcpy(out.data(), kMagic, 8);
  Put<uint32_t>(&out, 8, 1);
  Put<uint32_t>(&out, 12, static_cast<uint32_t>(dims));
  Put<uint32_t>(&out, 16, static_cast<uint32_t>(count));
  Put<uint32_t>(&out, 20, static_cast<uint32_t>(type));
  Put<uint32_t>(&out, 24, slots);
  Put<uint64_t>(&out, 32, blob);
  Put<uint64_t>(&out, 40, offsets);
  Put<uint64_t>(&out, 48, table);
  Put<uint64_t>(&out, 56, vecs);
  Put<uint64_t>(&out, 64, type == WordVectorType::kInt8 ? scales : 0);
  Put<uint64_t>(&out, 72, total);

  std::vector<float> norms;
  size_t at = 0;
  for (size_t r = 0; r < count; ++r) {
    Put<uint32_t>(&out, offsets + 4 * r, static_cast<uint32_t>(at));
    std::memcpy(out.data() + blob + at, words[r].data(), words[r].size());
    at += words[r].size();
    uint32_t slot = Fnv1a32(words[r]) & (slots - 1);
    while (Load<uint32_t>(reinterpret_cast<const uint8_t*>(out.data()) + table + 4 * slot) != 0) {
      slot = (slot + 1) & (slots - 1);
    }
    Put<uint32_t>(&out, table + 4 * slot, static_cast<uint32_t>(r + 1));

    const float* v = vectors.data() + r * d;
    double norm = 0;
    if (type == WordVectorType::kInt8) {
      float max_abs = 0;
      for (size_t i = 0; i < d; ++i) max_abs = std::max(max_abs, std::fabs(v[i]));
      const float scale = max_abs > 0 ? max_abs / 127.0f : 1.0f;
      Put<float>(&out, scales + 4 * r, scale);
      for (size_t i = 0; i < d; ++i) {
        const auto q = static_cast<int8_t>(std::lround(v[i] / scale));
        out[vecs + r * d + i] = static_cast<char>(q);
        norm += static_cast<double>(q * scale) * (q * scale);
      }
    } else {
      for (size_t i = 0; i < d; ++i) {
        const uint16_t h = FloatToHalf(v[i]);
        Put<uint16_t>(&out, vecs + 2 * (r * d + i), h);
        norm += static_cast<double>(HalfToFloat(h)) * HalfToFloat(h);
      }
    }
    norms.push_back(static_cast<float>(std::sqrt(norm)));
  }
  Put<uint32_t>(&out, offsets + 4 * count, static_cast<uint32_t>(at));
  std::nth_element(norms.begin(), norms.begin() + static_cast<std::ptrdiff_t>(count / 2),
                   norms.end());
  Put<float>(&out, 28, norms[count / 2]);

  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return UnavailableError(tmp + ": cannot create");
    f.write(out.data(), static_cast<std::streamsize>(out.size()));
    if (!f) return UnavailableError(tmp + ": write failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return UnavailableError(path + ": rename failed");
  return Status::Ok();
}

}  // namespace deja::semantic
