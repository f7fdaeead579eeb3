#include "semantic/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <utility>

#include "core/json.h"

namespace deja::semantic {

StatusOr<MappedFile> MappedFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    std::string msg = path + ": " + std::strerror(err);
    return err == ENOENT ? NotFoundError(msg) : UnavailableError(msg);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return UnavailableError(path + ": " + std::strerror(err));
  }
  MappedFile f;
  f.size_ = static_cast<size_t>(st.st_size);
  if (f.size_ > 0) {
    void* p = ::mmap(nullptr, f.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      return UnavailableError(path + ": mmap: " + std::strerror(err));
    }
    f.data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);  // The mapping keeps the file alive.
  return f;
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
}

size_t DtypeSize(Dtype d) {
  switch (d) {
    case Dtype::kF64:
    case Dtype::kI64:
      return 8;
    case Dtype::kF32:
    case Dtype::kI32:
      return 4;
    case Dtype::kF16:
    case Dtype::kBF16:
    case Dtype::kI16:
      return 2;
    case Dtype::kI8:
    case Dtype::kU8:
    case Dtype::kBool:
      return 1;
  }
  return 1;
}

namespace {

struct DtypeEntry {
  std::string_view name;
  Dtype dtype;
};
constexpr DtypeEntry kDtypes[] = {
    {"F64", Dtype::kF64}, {"F32", Dtype::kF32},   {"F16", Dtype::kF16}, {"BF16", Dtype::kBF16},
    {"I64", Dtype::kI64}, {"I32", Dtype::kI32},   {"I16", Dtype::kI16}, {"I8", Dtype::kI8},
    {"U8", Dtype::kU8},   {"BOOL", Dtype::kBool},
};

template <typename T>
T LoadLe(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));  // x86-64 and aarch64 are little-endian, like the format.
  return v;
}

}  // namespace

std::string_view DtypeName(Dtype d) {
  for (const DtypeEntry& e : kDtypes) {
    if (e.dtype == d) return e.name;
  }
  return "?";
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1F;
  const uint32_t mant = h & 0x3FF;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {
      // Subnormal: value = mant * 2^-24, exactly representable as a normal float.
      const float f = std::ldexp(static_cast<float>(mant), -24);
      std::memcpy(&bits, &f, 4);
      bits |= sign;
    }
  } else if (exp == 0x1F) {
    bits = sign | 0x7F800000 | (mant << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t abs = x & 0x7FFFFFFF;
  if (abs >= 0x7F800000) return sign | 0x7C00 | (abs > 0x7F800000 ? 0x200 : 0);  // Inf / NaN.
  if (abs >= 0x477FF000) return sign | 0x7C00;  // Rounds past the largest half: infinity.
  if (abs < 0x38800000) {                       // Below the smallest normal half.
    const float a = std::fabs(f);
    // Round to nearest even in units of 2^-24 (nearbyint uses the default rounding mode).
    return sign | static_cast<uint16_t>(std::nearbyint(std::ldexp(a, 24)));
  }
  uint32_t r = abs - 0x38000000;  // Rebias exponent 127 -> 15 (shifted by 13).
  r += 0xFFF + ((r >> 13) & 1);   // Round to nearest even.
  return sign | static_cast<uint16_t>(r >> 13);
}

float TensorView::AsFloat(size_t i) const {
  const uint8_t* p = data + i * DtypeSize(dtype);
  switch (dtype) {
    case Dtype::kF64:
      return static_cast<float>(LoadLe<double>(p));
    case Dtype::kF32:
      return LoadLe<float>(p);
    case Dtype::kF16:
      return HalfToFloat(LoadLe<uint16_t>(p));
    case Dtype::kBF16: {
      const uint32_t bits = static_cast<uint32_t>(LoadLe<uint16_t>(p)) << 16;
      float f;
      std::memcpy(&f, &bits, 4);
      return f;
    }
    case Dtype::kI64:
      return static_cast<float>(LoadLe<int64_t>(p));
    case Dtype::kI32:
      return static_cast<float>(LoadLe<int32_t>(p));
    case Dtype::kI16:
      return static_cast<float>(LoadLe<int16_t>(p));
    case Dtype::kI8:
      return static_cast<float>(static_cast<int8_t>(*p));
    case Dtype::kU8:
    case Dtype::kBool:
      return static_cast<float>(*p);
  }
  return 0;
}

int64_t TensorView::AsInt(size_t i) const {
  const uint8_t* p = data + i * DtypeSize(dtype);
  switch (dtype) {
    case Dtype::kI64:
      return LoadLe<int64_t>(p);
    case Dtype::kI32:
      return LoadLe<int32_t>(p);
    case Dtype::kI16:
      return LoadLe<int16_t>(p);
    case Dtype::kI8:
      return static_cast<int8_t>(*p);
    case Dtype::kU8:
    case Dtype::kBool:
      return *p;
    default:
      return static_cast<int64_t>(AsFloat(i));
  }
}

StatusOr<SafeTensors> SafeTensors::Open(const std::string& path) {
  DEJA_ASSIGN_OR_RETURN(MappedFile file, MappedFile::Open(path));
  return FromMapped(std::move(file), path);
}

StatusOr<SafeTensors> SafeTensors::FromMapped(MappedFile file, std::string_view display_name) {
  const std::string where(display_name);
  auto bad = [&](const std::string& what) { return DataLossError(where + ": " + what); };
  if (file.size() < 8) return bad("too short for a safetensors header");
  const uint64_t header_len = LoadLe<uint64_t>(file.data());
  // The format caps the header at 100 MB.
  if (header_len > 100'000'000 || header_len > file.size() - 8) {
    return bad("header length " + std::to_string(header_len) + " exceeds the file");
  }
  const std::string_view header(reinterpret_cast<const char*>(file.data() + 8), header_len);
  json::ParseOptions popts;
  popts.max_size = header_len;
  popts.max_depth = 8;
  // Writers pad the header with trailing spaces to align the data; JSON allows them.
  StatusOr<json::Value> doc = json::Parse(header, popts);
  if (!doc.ok()) return bad("header: " + doc.status().message());
  if (!doc->is_object()) return bad("header is not a JSON object");

  SafeTensors st;
  const uint8_t* base = file.data() + 8 + header_len;
  const size_t data_size = file.size() - 8 - header_len;
  for (const json::Member& m : doc->as_object()) {
    if (m.first == "__metadata__") continue;
    const json::Value& t = m.second;
    const std::string tname = "tensor \"" + m.first + "\"";
    if (!t.is_object()) return bad(tname + " is not an object");
    const json::Value* dtype = t.Find("dtype");
    const json::Value* shape = t.Find("shape");
    const json::Value* offsets = t.Find("data_offsets");
    if (dtype == nullptr || !dtype->is_string() || shape == nullptr || !shape->is_array() ||
        offsets == nullptr || !offsets->is_array() || offsets->as_array().size() != 2) {
      return bad(tname + " needs dtype, shape and data_offsets [begin, end]");
    }
    TensorView view;
    view.name = m.first;
    bool known = false;
    for (const DtypeEntry& e : kDtypes) {
      if (e.name == dtype->as_string()) view.dtype = e.dtype, known = true;
    }
    if (!known) return bad(tname + " has unsupported dtype " + dtype->as_string());
    auto as_size = [](const json::Value& v, size_t* out) {
      if (!v.is_number()) return false;
      const double d = v.as_number();
      if (!(d >= 0) || d > 9007199254740992.0 || d != std::floor(d)) return false;
      *out = static_cast<size_t>(d);
      return true;
    };
    size_t n = 1;
    for (const json::Value& dim : shape->as_array()) {
      size_t d = 0;
      if (!as_size(dim, &d)) return bad(tname + " has a bad shape");
      if (d != 0 && n > (size_t{1} << 48) / d) return bad(tname + " is impossibly large");
      n *= d;
      view.shape.push_back(d);
    }
    size_t begin = 0, end = 0;
    if (!as_size(offsets->as_array()[0], &begin) || !as_size(offsets->as_array()[1], &end) ||
        begin > end || end > data_size) {
      return bad(tname + " data_offsets lie outside the file");
    }
    if (end - begin != n * DtypeSize(view.dtype)) {
      return bad(tname + " holds " + std::to_string(end - begin) + " bytes, but its dtype and " +
                 "shape need " + std::to_string(n * DtypeSize(view.dtype)));
    }
    view.data = base + begin;
    view.num_elements = n;
    st.tensors_.push_back(std::move(view));
  }
  st.file_ = std::make_shared<MappedFile>(std::move(file));
  return st;
}

const TensorView* SafeTensors::Find(std::string_view name) const {
  for (const TensorView& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

}  // namespace deja::semantic
