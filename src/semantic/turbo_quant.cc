#include "semantic/turbo_quant.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <numbers>

#include "semantic/distance.h"

namespace deja::tq {
namespace {

constexpr int kRounds = 3;                          // sign-flip + Hadamard rounds of the rotation
constexpr size_t kHeaderBytes = 2 * sizeof(float);  // |x|, |r|

// SplitMix64: a tiny, well-mixed generator whose output is fixed by its definition, so a seed gives
// the same rotation on every platform (std::normal_distribution is implementation-defined).
class SplitMix {
 public:
  explicit SplitMix(uint64_t seed) : s_(seed) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double Uniform() { return (static_cast<double>(Next() >> 11) + 0.5) * 0x1.0p-53; }  // (0, 1)
  double Gaussian() {                                                                 // Box-Muller
    double u1 = Uniform(), u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

 private:
  uint64_t s_;
};

// Lookup field width in bits: a field holds whole codes of mse_bits each. Nibbles for 1, 2 and 4
// bits; pairs of 3-bit codes (6 bits, read three bytes at a time) otherwise.
int FieldBits(int mse_bits) { return mse_bits == 3 ? 6 : 4; }

// Sum of lut[256 * i + bytes[i]] over i < n: the scan's inner loop when every code byte has its own
// 256-entry table. REQUIRES: n is a multiple of 4. The lookups are independent; four accumulators
// keep the additions' latency from serializing them. (AVX2 gathers measured ~1.4x slower than this
// on the project's Zen 3 VMs; the known way to go faster is a "fast scan" over 16-entry 8-bit
// tables held in registers, which needs codes stored transposed in blocks of 32 vectors.)
float ByteTableSum(const float* lut, const uint8_t* bytes, size_t n) {
  float a[4] = {0, 0, 0, 0};
  for (size_t i = 0; i < n; i += 4, lut += 1024) {
    a[0] += lut[bytes[i]];
    a[1] += lut[256 + bytes[i + 1]];
    a[2] += lut[512 + bytes[i + 2]];
    a[3] += lut[768 + bytes[i + 3]];
  }
  return (a[0] + a[1]) + (a[2] + a[3]);
}

}  // namespace

namespace internal {

void WalshHadamard(float* v, size_t n) {
  for (size_t h = 1; h < n; h <<= 1) {
    for (size_t i = 0; i < n; i += 2 * h) {
      for (size_t j = i; j < i + h; ++j) {
        float a = v[j], b = v[j + h];
        v[j] = a + b;
        v[j + h] = a - b;
      }
    }
  }
}

std::vector<float> LloydMaxCodebook(int dims, int bits) {
  const int levels = 1 << bits;
  // The density of one coordinate of a uniformly random unit vector in R^dims, sampled on a fine
  // grid over the range that holds all but a negligible part of its mass (~12 standard deviations).
  const int n = 1 << 16;
  const double range = std::min(1.0, 12.0 / std::sqrt(static_cast<double>(dims)));
  const double step = 2 * range / n;
  const double exponent = std::max(0.0, (dims - 3) / 2.0);
  std::vector<double> cum_w(n + 1, 0.0), cum_wt(n + 1, 0.0);
  for (int i = 0; i < n; ++i) {
    double t = -range + (i + 0.5) * step;
    double w = std::exp(exponent * std::log1p(-t * t));
    cum_w[i + 1] = cum_w[i] + w;
    cum_wt[i + 1] = cum_wt[i] + w * t;
  }
  auto index_of = [&](double t) {  // grid cells [0, index) lie left of t
    return std::clamp(static_cast<int>(std::lround((t + range) / step)), 0, n);
  };
  // Start from the centroids of equal-probability cells, then alternate Lloyd's two steps:
  // boundaries halfway between centroids, centroids at the conditional mean of their cell.
  std::vector<double> c(levels);
  {
    int k = 0, lo = 0;
    for (int i = 1; i <= n && k < levels; ++i) {
      if (cum_w[i] >= cum_w[n] * (k + 1) / levels || i == n) {
        double w = cum_w[i] - cum_w[lo];
        c[k] = w > 0 ? (cum_wt[i] - cum_wt[lo]) / w : -range + (i - 0.5) * step;
        lo = i;
        ++k;
      }
    }
  }
  for (int iter = 0; iter < 2000; ++iter) {
    double moved = 0;
    int lo = 0;
    for (int k = 0; k < levels; ++k) {
      int hi = k + 1 < levels ? index_of((c[k] + c[k + 1]) / 2) : n;
      double w = cum_w[hi] - cum_w[lo];
      if (w > 0) {
        double next = (cum_wt[hi] - cum_wt[lo]) / w;
        moved = std::max(moved, std::abs(next - c[k]));
        c[k] = next;
      }
      lo = hi;
    }
    if (moved < 1e-12 * range) break;
  }
  return std::vector<float>(c.begin(), c.end());
}

}  // namespace internal

StatusOr<TurboQuantizer> TurboQuantizer::Create(int dims, int bits, uint64_t seed) {
  if (dims <= 0 || dims > (1 << 16)) {
    return InvalidArgumentError("TurboQuant: dimensions must be in [1, 65536], got " +
                                std::to_string(dims));
  }
  if (bits < kMinBits || bits > kMaxBits) {
    return InvalidArgumentError("TurboQuant: bits must be in [2, 5], got " + std::to_string(bits));
  }
  TurboQuantizer q;
  q.dims_ = dims;
  q.padded_ = static_cast<int>(std::max<unsigned>(64, std::bit_ceil(static_cast<unsigned>(dims))));
  q.mse_bits_ = bits - 1;
  q.seed_ = seed;
  const size_t d = static_cast<size_t>(q.padded_);
  q.code_bytes_ = kHeaderBytes + d * q.mse_bits_ / 8 + d / 8;
  q.codebook_ = internal::LloydMaxCodebook(q.padded_, q.mse_bits_);
  for (size_t k = 0; k + 1 < q.codebook_.size(); ++k) {
    q.boundaries_.push_back((q.codebook_[k] + q.codebook_[k + 1]) / 2);
  }
  SplitMix rng(seed);
  q.signs_.resize(kRounds * d);
  for (float& s : q.signs_) s = (rng.Next() >> 63) ? 1.0f : -1.0f;
  q.sketch_.resize(d * d);
  for (float& s : q.sketch_) s = static_cast<float>(rng.Gaussian());
  return q;
}

uint64_t TurboQuantizer::Fingerprint() const {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a over the random matrices' bytes
  auto mix = [&h](const std::vector<float>& v) {
    const auto* p = reinterpret_cast<const uint8_t*>(v.data());
    for (size_t i = 0; i < v.size() * sizeof(float); ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  };
  mix(signs_);
  mix(sketch_);
  mix(codebook_);
  return h;
}

void TurboQuantizer::Rotate(float* v) const {
  const size_t d = static_cast<size_t>(padded_);
  for (int r = 0; r < kRounds; ++r) {
    const float* s = signs_.data() + r * d;
    for (size_t j = 0; j < d; ++j) v[j] *= s[j];
    internal::WalshHadamard(v, d);
  }
  // Each unnormalized transform scales lengths by sqrt(d).
  const float scale = static_cast<float>(1.0 / std::pow(static_cast<double>(d), kRounds / 2.0));
  for (size_t j = 0; j < d; ++j) v[j] *= scale;
}

void TurboQuantizer::Encode(std::span<const float> x, uint8_t* code) const {
  const size_t d = static_cast<size_t>(padded_);
  std::memset(code, 0, code_bytes_);
  const float norm = std::sqrt(vindex::DotProduct(x.data(), x.data(), x.size()));
  std::vector<float> u(d, 0.0f);
  if (norm > 0) {
    for (size_t j = 0; j < x.size(); ++j) u[j] = x[j] / norm;
  }
  Rotate(u.data());
  // Lloyd-Max codes, packed LSB-first, mse_bits_ each; u becomes the residual.
  uint8_t* packed = code + kHeaderBytes;
  for (size_t j = 0; j < d; ++j) {
    const uint32_t c = static_cast<uint32_t>(
        std::upper_bound(boundaries_.begin(), boundaries_.end(), u[j]) - boundaries_.begin());
    u[j] -= codebook_[c];
    const size_t bit = j * mse_bits_;
    packed[bit / 8] |= static_cast<uint8_t>(c << (bit % 8));
    if (bit % 8 + mse_bits_ > 8) packed[bit / 8 + 1] |= static_cast<uint8_t>(c >> (8 - bit % 8));
  }
  const float rnorm = std::sqrt(vindex::DotProduct(u.data(), u.data(), d));
  // QJL: one sign bit per row of S.
  uint8_t* sign_bits = packed + d * mse_bits_ / 8;
  for (size_t i = 0; i < d; ++i) {
    if (vindex::DotProduct(sketch_.data() + i * d, u.data(), d) >= 0) {
      sign_bits[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
    }
  }
  std::memcpy(code, &norm, sizeof norm);
  std::memcpy(code + sizeof norm, &rnorm, sizeof rnorm);
}

std::vector<float> TurboQuantizer::Decode(const uint8_t* code) const {
  const size_t d = static_cast<size_t>(padded_);
  float norm;
  std::memcpy(&norm, code, sizeof norm);
  const uint8_t* packed = code + kHeaderBytes;
  const uint32_t mask = (1u << mse_bits_) - 1;
  std::vector<float> v(d);
  for (size_t j = 0; j < d; ++j) {
    const size_t bit = j * mse_bits_;
    uint32_t word = packed[bit / 8];
    if (bit / 8 + 1 < d * mse_bits_ / 8) word |= uint32_t{packed[bit / 8 + 1]} << 8;
    v[j] = codebook_[(word >> (bit % 8)) & mask];
  }
  // The inverse rotation: each (Hadamard / sqrt(d)) and each sign flip is its own inverse.
  for (int r = kRounds - 1; r >= 0; --r) {
    internal::WalshHadamard(v.data(), d);
    const float* s = signs_.data() + r * d;
    for (size_t j = 0; j < d; ++j) v[j] *= s[j];
  }
  const float scale =
      norm * static_cast<float>(1.0 / std::pow(static_cast<double>(d), kRounds / 2.0));
  v.resize(static_cast<size_t>(dims_));
  for (float& x : v) x *= scale;
  return v;
}

// Expands the 16-entry tables of a byte's low and high nibble into one 256-entry table of the
// byte, so a scan does one lookup per code byte and no nibble arithmetic.
static void ExpandByteTable(const float* lo, const float* hi, float* out) {
  for (uint32_t h = 0; h < 16; ++h) {
    for (uint32_t l = 0; l < 16; ++l) out[h * 16 + l] = lo[l] + hi[h];
  }
}

TurboQuantizer::Query TurboQuantizer::Prepare(std::span<const float> q) const {
  const size_t d = static_cast<size_t>(padded_);
  std::vector<float> rq(d, 0.0f);
  std::copy(q.begin(), q.end(), rq.begin());
  Rotate(rq.data());
  Query out;
  // MSE table: for each field of w bits (w / mse_bits coordinates), the sum of q'_j * centroid
  // over the coordinates in the field, for each of the 2^w values the field can hold.
  const int w = FieldBits(mse_bits_);
  const size_t per_field = static_cast<size_t>(w / mse_bits_);
  const size_t fields = d / per_field;
  const uint32_t mask = (1u << mse_bits_) - 1;
  std::vector<float> field_lut(fields << w);
  for (size_t f = 0; f < fields; ++f) {
    float* row = field_lut.data() + (f << w);
    for (uint32_t v = 0; v < (1u << w); ++v) {
      float s = 0;
      for (size_t k = 0; k < per_field; ++k) {
        s += rq[f * per_field + k] * codebook_[(v >> (k * mse_bits_)) & mask];
      }
      row[v] = s;
    }
  }
  if (w == 4) {  // nibble fields: one table per code byte
    out.mse_lut.resize(fields / 2 * 256);
    for (size_t b = 0; b < fields / 2; ++b) {
      ExpandByteTable(&field_lut[2 * b * 16], &field_lut[(2 * b + 1) * 16], &out.mse_lut[b * 256]);
    }
  } else {
    out.mse_lut = std::move(field_lut);
  }
  // QJL table: per byte of signs, sum of +-(S q')_i, times the estimator's scale sqrt(pi/2) / D.
  std::vector<float> sq(d);
  vindex::DotProducts(rq.data(), sketch_.data(), d, d, sq.data());
  const float scale = static_cast<float>(std::sqrt(std::numbers::pi / 2) / static_cast<double>(d));
  std::vector<float> nibble(d / 4 * 16);
  for (size_t f = 0; f < d / 4; ++f) {
    for (uint32_t v = 0; v < 16; ++v) {
      float s = 0;
      for (size_t k = 0; k < 4; ++k) s += ((v >> k) & 1) ? sq[f * 4 + k] : -sq[f * 4 + k];
      nibble[f * 16 + v] = s * scale;
    }
  }
  out.qjl_lut.resize(d / 8 * 256);
  for (size_t b = 0; b < d / 8; ++b) {
    ExpandByteTable(&nibble[2 * b * 16], &nibble[(2 * b + 1) * 16], &out.qjl_lut[b * 256]);
  }
  return out;
}

float TurboQuantizer::MseSum(const Query& query, const uint8_t* codes) const {
  const size_t nbytes = static_cast<size_t>(padded_) * mse_bits_ / 8;
  const float* lut = query.mse_lut.data();
  if (FieldBits(mse_bits_) == 4) {  // a table per byte; nbytes is a multiple of 8 (D >= 64)
    return ByteTableSum(lut, codes, nbytes);
  }
  // 6-bit fields, four per three bytes; four accumulators so the additions do not serialize.
  float a[4] = {0, 0, 0, 0};
  for (size_t i = 0; i < nbytes; i += 3, lut += 256) {
    const uint32_t v = codes[i] | uint32_t{codes[i + 1]} << 8 | uint32_t{codes[i + 2]} << 16;
    a[0] += lut[v & 63];
    a[1] += lut[64 + ((v >> 6) & 63)];
    a[2] += lut[128 + ((v >> 12) & 63)];
    a[3] += lut[192 + (v >> 18)];
  }
  return (a[0] + a[1]) + (a[2] + a[3]);
}

float TurboQuantizer::EstimateMseOnly(const Query& query, const uint8_t* code) const {
  float norm;
  std::memcpy(&norm, code, sizeof norm);
  return norm * MseSum(query, code + kHeaderBytes);
}

float TurboQuantizer::Estimate(const Query& query, const uint8_t* code) const {
  float norm, rnorm;
  std::memcpy(&norm, code, sizeof norm);
  std::memcpy(&rnorm, code + sizeof norm, sizeof rnorm);
  const size_t d = static_cast<size_t>(padded_);
  const uint8_t* packed = code + kHeaderBytes;
  const uint8_t* sign_bits = packed + d * mse_bits_ / 8;
  const float sketch = ByteTableSum(query.qjl_lut.data(), sign_bits, d / 8);
  return norm * (MseSum(query, packed) + rnorm * sketch);
}

}  // namespace deja::tq
