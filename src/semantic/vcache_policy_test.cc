#include "semantic/vcache_policy.h"

#include <vector>

#include <gtest/gtest.h>

namespace deja::semantic {
namespace {

TEST(VCachePolicyTest, NoEvidenceMeansVerifyMostly) {
  VCacheEstimate e = EstimateFalseHit({}, 0.9f, 0.05);
  EXPECT_EQ(e.informative, 0);
  EXPECT_DOUBLE_EQ(e.upper_wrong, 1);
  EXPECT_DOUBLE_EQ(e.explore_probability, 0.95);
}

TEST(VCachePolicyTest, CorrectEvidenceAtOrBelowTheSimilarityStopsExploration) {
  std::vector<VerificationObservation> obs(73, VerificationObservation{0.85f, true});
  // 73 correct at 0.85: informative for s >= 0.85; Wilson bound 3.84 / 76.84 < 0.05.
  VCacheEstimate e = EstimateFalseHit(obs, 0.9f, 0.05);
  EXPECT_EQ(e.informative, 73);
  EXPECT_LT(e.upper_wrong, 0.05);
  EXPECT_EQ(e.explore_probability, 0);
  // A looser match (below every correct observation) has no evidence for it.
  EXPECT_DOUBLE_EQ(EstimateFalseHit(obs, 0.8f, 0.05).explore_probability, 0.95);
  // Fewer observations: still exploring, less often than with none.
  obs.resize(20);
  VCacheEstimate some = EstimateFalseHit(obs, 0.9f, 0.05);
  EXPECT_GT(some.explore_probability, 0);
  EXPECT_LT(some.explore_probability, 0.95);
}

TEST(VCachePolicyTest, WrongEvidenceAtOrAboveTheSimilarityCounts) {
  std::vector<VerificationObservation> obs(40, VerificationObservation{0.8f, true});
  obs.push_back({0.95f, false});
  VCacheEstimate at90 = EstimateFalseHit(obs, 0.9f, 0.05);
  EXPECT_EQ(at90.wrong, 1);
  EXPECT_EQ(at90.informative, 41);
  VCacheEstimate at97 = EstimateFalseHit(obs, 0.97f, 0.05);
  EXPECT_EQ(at97.wrong, 0);  // a wrong answer at 0.95 says nothing about a closer match
  EXPECT_GT(at90.explore_probability, at97.explore_probability);
}

TEST(VCachePolicyTest, RateOneNeverExplores) {
  std::vector<VerificationObservation> obs(5, VerificationObservation{0.9f, false});
  EXPECT_EQ(EstimateFalseHit(obs, 0.9f, 1.0).explore_probability, 0);
}

TEST(VCachePolicyTest, WilsonUpperBound) {
  EXPECT_DOUBLE_EQ(WilsonUpper(0, 0, 1.96), 1);
  EXPECT_NEAR(WilsonUpper(0, 100, 1.96), 3.8416 / 103.8416, 1e-9);
  EXPECT_NEAR(WilsonUpper(50, 100, 1.96), 0.5962,
              1e-3);  // textbook Wilson 95% interval [0.404, 0.596]
  EXPECT_LE(WilsonUpper(100, 100, 1.96), 1);
}

}  // namespace
}  // namespace deja::semantic
