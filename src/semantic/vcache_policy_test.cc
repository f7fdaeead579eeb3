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

TEST(SimilarityCalibrationTest, LearnsTheLowestThresholdWhoseTailIsRightOftenEnough) {
  SimilarityCalibration pool;
  EXPECT_DOUBLE_EQ(pool.Estimate(0.9f, 1.96).upper_wrong, 1);  // nothing seen
  for (int i = 0; i < 100; ++i) pool.Add(0.93f, true);
  for (int i = 0; i < 100; ++i) pool.Add(0.96f, true);
  // 200 correct at >= 0.93: a match at 0.93 or above is served on that evidence.
  VCacheEstimate at95 = pool.Estimate(0.95f, 1.96);
  EXPECT_EQ(at95.informative, 200);
  EXPECT_LT(at95.upper_wrong, 0.05);
  EXPECT_LT(pool.Estimate(0.93f, 1.96).upper_wrong, 0.05);
  // Below every observation nothing vouches.
  EXPECT_DOUBLE_EQ(pool.Estimate(0.92f, 1.96).upper_wrong, 1);
  // Looser matches that are often wrong do not spoil the tail above them.
  for (int i = 0; i < 100; ++i) pool.Add(0.8f, i % 2 == 0);
  EXPECT_GT(pool.Estimate(0.85f, 1.96).upper_wrong, 0.15);  // 50 wrong of 300
  EXPECT_LT(pool.Estimate(0.95f, 1.96).upper_wrong, 0.05);
}

TEST(SimilarityCalibrationTest, WrongEvidenceInTheTailRaisesTheBound) {
  SimilarityCalibration pool;
  for (int i = 0; i < 200; ++i) pool.Add(0.9f, i % 10 != 0);  // 10% wrong at 0.9
  VCacheEstimate e = pool.Estimate(0.95f, 1.96);
  EXPECT_EQ(e.wrong, 20);
  EXPECT_GT(e.upper_wrong, 0.1);
  // Closer matches that are right lower the average of the tail: once the tail from some t <= s
  // is right often enough, s is served (the served rate is an average over the served matches).
  for (int i = 0; i < 2000; ++i) pool.Add(0.97f, true);
  EXPECT_LT(pool.Estimate(0.95f, 1.96).upper_wrong, 0.05);
  EXPECT_LT(pool.Estimate(0.9f, 1.96).upper_wrong, 0.05);  // 20 wrong of 2200
  EXPECT_DOUBLE_EQ(pool.Estimate(0.85f, 1.96).upper_wrong, 1);
}

TEST(SimilarityCalibrationTest, FadesOldEvidenceKeepingItsWrongShare) {
  SimilarityCalibration pool;
  for (int64_t i = 0; i < SimilarityCalibration::kMaxTotal; ++i) pool.Add(0.9f, i % 4 != 0);
  EXPECT_EQ(pool.total(), SimilarityCalibration::kMaxTotal);
  pool.Add(0.9f, true);  // past the cap: halved
  EXPECT_LE(pool.total(), SimilarityCalibration::kMaxTotal / 2 + 1);
  VCacheEstimate e = pool.Estimate(0.9f, 1.96);
  EXPECT_NEAR(static_cast<double>(e.wrong) / e.informative, 0.25, 0.001);
}

DecideOptions Served(double delta, double audit = 0) {
  DecideOptions o;
  o.max_false_hit_rate = delta;
  o.audit_rate = audit;
  return o;
}

TEST(VCacheDecideTest, ServedBoundVerifiesEveryUnprovenMatch) {
  SimilarityCalibration pool;
  VCacheDecision d = Decide({}, pool, 0.9f, Served(0.05));
  EXPECT_FALSE(d.confident);
  EXPECT_DOUBLE_EQ(d.explore_probability, 1);
  // Proven by the pool: served, and audited at the audit rate only.
  for (int i = 0; i < 100; ++i) pool.Add(0.89f, true);
  d = Decide({}, pool, 0.9f, Served(0.05, 0.01));
  EXPECT_TRUE(d.confident);
  EXPECT_LE(d.upper_wrong, 0.05);
  EXPECT_DOUBLE_EQ(d.explore_probability, 0.01);
}

TEST(VCacheDecideTest, TheEntrysOwnWrongEvidenceVetoesThePool) {
  SimilarityCalibration pool;
  for (int i = 0; i < 500; ++i) pool.Add(0.89f, true);
  std::vector<VerificationObservation> entry = {{0.95f, false}};
  VCacheDecision d = Decide(entry, pool, 0.9f, Served(0.05));
  EXPECT_EQ(d.entry.wrong, 1);
  EXPECT_FALSE(d.confident);
  EXPECT_DOUBLE_EQ(d.explore_probability, 1);
  // A closer match than the wrong one is not vetoed.
  EXPECT_TRUE(Decide(entry, pool, 0.96f, Served(0.05)).confident);
}

TEST(VCacheDecideTest, LookupsBoundServesWithProbabilityDeltaOverU) {
  SimilarityCalibration pool;
  DecideOptions o = Served(0.05);
  o.bound = FalseHitBound::kLookups;
  VCacheDecision d = Decide({}, pool, 0.9f, o);
  EXPECT_DOUBLE_EQ(d.explore_probability,
                   0.95);  // vCache's cold start: serve with probability delta
  EXPECT_FALSE(d.confident);
}

TEST(VCacheDecideTest, RateOneServesEverything) {
  SimilarityCalibration pool;
  std::vector<VerificationObservation> wrong(10, VerificationObservation{0.95f, false});
  VCacheDecision d = Decide(wrong, pool, 0.9f, Served(1.0, 0.5));
  EXPECT_DOUBLE_EQ(d.explore_probability, 0);
}

}  // namespace
}  // namespace deja::semantic
