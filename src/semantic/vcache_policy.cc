#include "semantic/vcache_policy.h"

#include <algorithm>
#include <cmath>

namespace deja::semantic {

double WilsonUpper(int failures, int trials, double z) {
  if (trials <= 0) return 1;
  const double n = trials;
  const double p = failures / n;
  const double z2 = z * z;
  const double center = p + z2 / (2 * n);
  const double margin = z * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n));
  return std::clamp((center + margin) / (1 + z2 / n), 0.0, 1.0);
}

VCacheEstimate EstimateFalseHit(std::span<const VerificationObservation> observations, float s,
                                double max_false_hit_rate, double z) {
  VCacheEstimate e;
  for (const VerificationObservation& o : observations) {
    if (o.correct && o.similarity <= s) {
      ++e.informative;
    } else if (!o.correct && o.similarity >= s) {
      ++e.informative;
      ++e.wrong;
    }
  }
  e.upper_wrong = WilsonUpper(e.wrong, e.informative, z);
  const double delta = std::clamp(max_false_hit_rate, 0.0, 1.0);
  e.explore_probability = e.upper_wrong <= 0 ? 0 : std::max(0.0, 1 - delta / e.upper_wrong);
  return e;
}

}  // namespace deja::semantic

namespace deja::semantic {

int SimilarityCalibration::BinOf(float similarity) {
  const int bin = static_cast<int>(std::floor(static_cast<double>(similarity) * kBins));
  return std::clamp(bin, 0, kBins - 1);
}

void SimilarityCalibration::Add(float similarity, bool correct) {
  const int bin = BinOf(similarity);
  ++observed_[bin];
  if (!correct) ++wrong_[bin];
  if (++total_ <= kMaxTotal) return;
  total_ = 0;
  for (int i = 0; i < kBins; ++i) {
    // Halving each bin's counts keeps its wrong share (rounding up the wrong ones: never rosier).
    wrong_[i] = (wrong_[i] + 1) / 2;
    observed_[i] = std::max(wrong_[i], observed_[i] / 2);
    total_ += observed_[i];
  }
}

VCacheEstimate SimilarityCalibration::Estimate(float s, double z) const {
  VCacheEstimate best;
  const int at = BinOf(s);
  int observed = 0;
  int wrong = 0;
  // Tails [t, 1] for every bin t from the top down. A tail qualifies when it starts at or below s
  // at a bin with observations: evidence must reach down to s (a looser match than any verified
  // one is at least as likely wrong as the loosest verified one, so it is not served on the
  // strength of closer ones).
  for (int bin = kBins - 1; bin >= 0; --bin) {
    observed += observed_[bin];
    wrong += wrong_[bin];
    if (bin > at || observed_[bin] == 0) continue;
    const double upper = WilsonUpper(wrong, observed, z);
    if (upper < best.upper_wrong) {
      best.upper_wrong = upper;
      best.informative = observed;
      best.wrong = wrong;
    }
  }
  best.explore_probability = 1;  // not used for the pool: Decide combines
  return best;
}

VCacheDecision Decide(std::span<const VerificationObservation> entry_observations,
                      const SimilarityCalibration& pooled, float s, const DecideOptions& options) {
  VCacheDecision d;
  const double delta = std::clamp(options.max_false_hit_rate, 0.0, 1.0);
  if (delta >= 1) {  // verification off: every candidate is served
    d.upper_wrong = 0;
    d.explore_probability = 0;
    d.confident = true;
    return d;
  }
  d.entry = EstimateFalseHit(entry_observations, s, delta, options.z);
  d.pooled = pooled.Estimate(s, options.z);
  double u = d.entry.upper_wrong;
  // The entry's own evidence decides when it proves the answer holds, or when a closer match of
  // this very entry was wrong; otherwise the pool may vouch for it.
  if (u > delta && d.entry.wrong == 0) u = std::min(u, d.pooled.upper_wrong);
  d.upper_wrong = u;
  d.confident = u <= delta;
  const double audit = d.confident ? std::clamp(options.audit_rate, 0.0, 1.0) : 0.0;
  if (options.bound == FalseHitBound::kServed) {
    d.explore_probability = d.confident ? audit : 1;
  } else {
    d.explore_probability = std::max(audit, u <= 0 ? 0.0 : std::max(0.0, 1 - delta / u));
  }
  return d;
}

}  // namespace deja::semantic
