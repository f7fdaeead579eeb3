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
