// Bounded false hits for the semantic cache: each cached entry learns online whether it may answer
// a question at a given similarity (the idea of vCache, arXiv 2502.03771, implemented from the
// paper's description; none of its code is used).
//
// A fixed similarity threshold is wrong for most entries: some answers hold for loose rewordings,
// others only for near copies. Instead every entry keeps observations (similarity, correct) from
// verifications: on a would-be hit the gateway sometimes forwards the request anyway, compares the
// fresh answer with the cached one and records whether the cached answer would have been right.
//
// Decision for a would-be hit at similarity s (ExploreProbability):
//   informative observations: correct ones at similarity <= s (if a looser match was right, this
//   closer one is at least as likely right) and wrong ones at similarity >= s (if a closer match
//   was wrong, this looser one is at least as likely wrong); n of them, w wrong. u(s) = upper
//   confidence bound on P(wrong | s): the Wilson score bound on w / n at z (1.96 by default: ~97.5%
//   one-sided); u = 1 when n = 0. explore (forward + verify) with probability tau = max(0, 1 -
//   delta / u(s)), else serve.
// So a served answer is wrong with probability at most about (delta / u) * u = delta per request,
// where delta is the largest acceptable false-hit rate. An entry with no evidence is served with
// probability delta and verified otherwise; with only correct evidence it is served always once
// u(s) <= delta (about 3.84 / delta - 3.84 correct observations at or below s: 73 for delta 0.05).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <span>

namespace deja::semantic {

struct VerificationObservation {
  float similarity = 0;
  bool correct = false;
};

struct VCacheEstimate {
  int informative = 0;             // n
  int wrong = 0;                   // w
  double upper_wrong = 1;          // u(s)
  double explore_probability = 1;  // tau
};

// The estimate above for one entry's observations at similarity `s`, with delta =
// max_false_hit_rate (in (0, 1]; 1 never explores) and the Wilson bound at `z` standard deviations.
VCacheEstimate EstimateFalseHit(std::span<const VerificationObservation> observations, float s,
                                double max_false_hit_rate, double z = 1.96);

// Wilson score upper bound on a proportion of `failures` in `trials` (1 when trials is 0).
double WilsonUpper(int failures, int trials, double z);

}  // namespace deja::semantic
