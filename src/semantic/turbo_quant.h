// TurboQuant: a few bits per coordinate for embedding vectors, with inner products estimated
// without bias. Implemented from the description in Zandieh, Daliri, Hadian, Mirrokni,
// "TurboQuant: Online Vector Quantization with Near-optimal Distortion Rate" (arXiv 2504.19874).
//
// Encoding a vector x (dims d, padded to D = max(64, next power of two)):
//   1. u = R(x / |x|) with R a random rotation: three rounds of random sign flips followed by a
//      fast Walsh-Hadamard transform. After a random rotation every coordinate of a unit vector
//      follows the same known law, density ~ (1 - t^2)^((D-3)/2) (~ N(0, 1/D)), whatever x was;
//      that is what lets one fixed scalar quantizer serve every coordinate of every vector.
//   2. Each u_j is quantized with a (bits-1)-bit Lloyd-Max quantizer for that law: the codebook
//      minimizing the expected squared error, computed by Lloyd's algorithm when the quantizer is
//      built (no training data needed: the distribution is known).
//   3. The residual r = u - codebook[codes] gets a 1-bit QJL sketch: sign(S r) with S a D x D
//      Gaussian matrix. For a query y, <y, r> ~ |r| sqrt(pi/2) / D * <S y, sign(S r)>, an unbiased
//      estimate. The MSE codes alone shrink inner products toward 0 (a bias that grows as bits
//      shrink); adding the sketch's estimate removes it.
// A code is |x| and |r| (two floats), D*(bits-1) bits of codes and D sign bits: for d = 384
// (D = 512) and bits = 4, 264 bytes instead of 1536 float bytes.
//
// Estimating <q, x> for many codes: Prepare(q) rotates q once and builds lookup tables (one per
// byte of code: 256 partial sums), so each code costs one table lookup per byte of code.
//
//   StatusOr<TurboQuantizer> tq = TurboQuantizer::Create(384, 4, seed);
//   std::vector<uint8_t> code(tq->code_bytes());
//   tq->Encode(x, code.data());
//   TurboQuantizer::Query prepared = tq->Prepare(q);
//   float ip = tq->Estimate(prepared, code.data());
//
// Thread safety: a TurboQuantizer is immutable once built; all const methods may run concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "deja/status.h"

namespace deja::tq {

class TurboQuantizer {
 public:
  static constexpr int kMinBits = 2;
  static constexpr int kMaxBits = 5;

  // dims > 0; bits in [kMinBits, kMaxBits] counts the QJL sign bit.
  static StatusOr<TurboQuantizer> Create(int dims, int bits, uint64_t seed);

  int dims() const { return dims_; }
  int padded_dims() const { return padded_; }
  int bits() const { return mse_bits_ + 1; }
  uint64_t seed() const { return seed_; }
  size_t code_bytes() const { return code_bytes_; }
  // The Lloyd-Max centroids for one rotated coordinate, ascending (2^(bits-1) values).
  const std::vector<float>& codebook() const { return codebook_; }
  // A digest of the random rotation and sketch matrix, to check that a saved index's codes were
  // made by the same quantizer as this one (they are regenerated from the seed, not stored).
  uint64_t Fingerprint() const;

  // Writes code_bytes() bytes. REQUIRES: x.size() == dims().
  void Encode(std::span<const float> x, uint8_t* code) const;
  // The MSE reconstruction of a code (the sketch is not invertible), in the original space.
  std::vector<float> Decode(const uint8_t* code) const;

  // Lookup tables for one query.
  struct Query {
    // 256 entries per code byte (1, 2 or 4 bits per code), or 64 per 6-bit pair of 3-bit codes.
    std::vector<float> mse_lut;
    // 256 entries per byte of the sign sketch, scaled by the estimator's sqrt(pi/2) / D.
    std::vector<float> qjl_lut;
  };
  // REQUIRES: q.size() == dims().
  Query Prepare(std::span<const float> q) const;
  // Unbiased estimate of <q, x> for the x that `code` encodes.
  float Estimate(const Query& query, const uint8_t* code) const;
  // The MSE codes' estimate alone (biased toward 0), for comparison.
  float EstimateMseOnly(const Query& query, const uint8_t* code) const;

 private:
  TurboQuantizer() = default;
  void Rotate(float* v) const;  // in place, padded_ floats
  float MseSum(const Query& query, const uint8_t* codes) const;

  int dims_ = 0;
  int padded_ = 0;
  int mse_bits_ = 0;
  uint64_t seed_ = 0;
  size_t code_bytes_ = 0;
  std::vector<float> codebook_;
  std::vector<float> boundaries_;  // midpoints between neighbouring centroids
  std::vector<float> signs_;       // 3 rounds x padded_ of +-1
  std::vector<float> sketch_;      // S, padded_ x padded_, row-major
};

namespace internal {
// Lloyd-Max quantizer with 2^bits levels for the coordinate law of a random unit vector in `dims`
// dimensions. Exposed for tests.
std::vector<float> LloydMaxCodebook(int dims, int bits);
// In-place unnormalized fast Walsh-Hadamard transform. REQUIRES: n is a power of two.
void WalshHadamard(float* v, size_t n);
}  // namespace internal

}  // namespace deja::tq
