#include "semantic/turbo_quant.h"

#include <cmath>
#include <cstdio>
#include <vector>

#include "gtest/gtest.h"
#include "semantic/vector_index_test_util.h"

namespace deja::tq {
namespace {

using deja::testing::Dot;
using deja::testing::RandomUnitVectors;
using deja::testing::Row;

TEST(TurboQuantTest, WalshHadamardTwiceScalesByN) {
  std::vector<float> v = {1, -2, 3, 0.5f, 0, 7, -1, 2};
  std::vector<float> w = v;
  internal::WalshHadamard(w.data(), w.size());
  EXPECT_FLOAT_EQ(w[0], 10.5f);  // the first output is the plain sum
  internal::WalshHadamard(w.data(), w.size());
  for (size_t i = 0; i < v.size(); ++i) EXPECT_FLOAT_EQ(w[i], 8 * v[i]);
}

// In high dimension a coordinate of a random unit vector is ~ N(0, 1/d), so the codebook must be
// the Gaussian Lloyd-Max quantizer scaled by 1/sqrt(d): +-0.7979 (1 bit), +-0.4528 and +-1.5104
// (2 bits), the classic values.
TEST(TurboQuantTest, LloydMaxMatchesGaussianQuantizerInHighDimension) {
  const int d = 1 << 14;
  const double s = std::sqrt(static_cast<double>(d));
  std::vector<float> c1 = internal::LloydMaxCodebook(d, 1);
  ASSERT_EQ(c1.size(), 2u);
  EXPECT_NEAR(c1[1] * s, 0.7979, 2e-3);
  EXPECT_NEAR(c1[0], -c1[1], 1e-6);
  std::vector<float> c2 = internal::LloydMaxCodebook(d, 2);
  ASSERT_EQ(c2.size(), 4u);
  EXPECT_NEAR(c2[2] * s, 0.4528, 2e-3);
  EXPECT_NEAR(c2[3] * s, 1.5104, 3e-3);
  EXPECT_NEAR(c2[0], -c2[3], 1e-6);
  std::vector<float> c4 = internal::LloydMaxCodebook(d, 4);
  ASSERT_EQ(c4.size(), 16u);
  for (size_t i = 1; i < c4.size(); ++i) EXPECT_LT(c4[i - 1], c4[i]);
}

TEST(TurboQuantTest, RejectsBadParameters) {
  EXPECT_FALSE(TurboQuantizer::Create(0, 4, 1).ok());
  EXPECT_FALSE(TurboQuantizer::Create(64, 1, 1).ok());
  EXPECT_FALSE(TurboQuantizer::Create(64, 6, 1).ok());
}

TEST(TurboQuantTest, CodeSize) {
  auto q = TurboQuantizer::Create(384, 4, 7);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->padded_dims(), 512);
  // 2 floats + 512 x 3 bits + 512 sign bits.
  EXPECT_EQ(q->code_bytes(), 8u + 192u + 64u);
  auto small = TurboQuantizer::Create(10, 2, 7);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->padded_dims(), 64);
  EXPECT_EQ(small->code_bytes(), 8u + 8u + 8u);
}

// The MSE part's distortion E|x - x~|^2 for unit x is what the paper states for the Lloyd-Max
// quantizer of the rotated coordinates: ~0.363, 0.117, 0.0345, 0.0095 for 1..4 bits.
TEST(TurboQuantTest, ReconstructionErrorMatchesLloydMaxDistortion) {
  const int dims = 100;  // padded to 128
  const double expected[] = {0.3634, 0.1175, 0.03454, 0.009497};
  std::vector<float> xs = RandomUnitVectors(400, dims, 11);
  for (int bits = 2; bits <= 5; ++bits) {
    auto q = TurboQuantizer::Create(dims, bits, 99);
    ASSERT_TRUE(q.ok());
    std::vector<uint8_t> code(q->code_bytes());
    double total = 0;
    for (size_t i = 0; i < 400; ++i) {
      auto x = Row(xs, i, dims);
      q->Encode(x, code.data());
      std::vector<float> back = q->Decode(code.data());
      for (int j = 0; j < dims; ++j) total += (back[j] - x[j]) * (back[j] - x[j]);
    }
    // The padded coordinates' error is not seen in the original space (100 of 128 dimensions).
    const double mse = total / 400 / (100.0 / 128.0);
    EXPECT_NEAR(mse, expected[bits - 2], 0.2 * expected[bits - 2]) << "bits=" << bits;
  }
}

struct ErrorStats {
  double mean, stderr_mean, mean_abs;
};

ErrorStats Errors(const std::vector<double>& e) {
  double sum = 0, sq = 0, abs_sum = 0;
  for (double x : e) {
    sum += x;
    sq += x * x;
    abs_sum += std::abs(x);
  }
  const double n = static_cast<double>(e.size());
  const double mean = sum / n;
  return {mean, std::sqrt((sq / n - mean * mean) / n), abs_sum / n};
}

// Inner products of correlated pairs (y = x + noise, <x, y> ~ 1), over several quantizers: the MSE
// codes alone shrink them (bias ~ -D_mse * <x, y>), the QJL-corrected estimate is unbiased.
TEST(TurboQuantTest, InnerProductEstimateIsUnbiased) {
  const int dims = 128;
  const size_t pairs = 1500;
  for (int bits : {2, 3, 4}) {
    std::vector<double> err, err_mse;
    for (uint64_t seed : {1, 2, 3}) {
      auto q = TurboQuantizer::Create(dims, bits, seed);
      ASSERT_TRUE(q.ok());
      std::vector<float> xs = RandomUnitVectors(pairs, dims, 100 + seed);
      std::vector<float> noise = RandomUnitVectors(pairs, dims, 200 + seed);
      std::vector<uint8_t> code(q->code_bytes());
      for (size_t i = 0; i < pairs; ++i) {
        auto x = Row(xs, i, dims);
        std::vector<float> y(dims);
        for (int j = 0; j < dims; ++j) y[j] = x[j] + noise[i * dims + j];
        q->Encode(x, code.data());
        TurboQuantizer::Query prepared = q->Prepare(y);
        const double exact = Dot(x, y);
        err.push_back(q->Estimate(prepared, code.data()) - exact);
        err_mse.push_back(q->EstimateMseOnly(prepared, code.data()) - exact);
      }
    }
    ErrorStats e = Errors(err), m = Errors(err_mse);
    std::printf(
        "bits=%d: unbiased estimate mean err %+.5f (stderr %.5f, mean |err| %.4f); "
        "MSE-only mean err %+.5f (mean |err| %.4f)\n",
        bits, e.mean, e.stderr_mean, e.mean_abs, m.mean, m.mean_abs);
    EXPECT_LT(std::abs(e.mean), 4 * e.stderr_mean + 1e-3) << "bits=" << bits;
    EXPECT_LT(m.mean, -10 * m.stderr_mean) << "bits=" << bits;
    EXPECT_LT(e.mean_abs, 0.1) << "bits=" << bits;
  }
}

TEST(TurboQuantTest, SameSeedSameQuantizer) {
  auto a = TurboQuantizer::Create(64, 3, 5);
  auto b = TurboQuantizer::Create(64, 3, 5);
  auto c = TurboQuantizer::Create(64, 3, 6);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->Fingerprint(), b->Fingerprint());
  EXPECT_NE(a->Fingerprint(), c->Fingerprint());
}

}  // namespace
}  // namespace deja::tq
