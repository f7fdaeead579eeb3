// Bounded false hits for the semantic cache: each cached entry learns online whether it may answer
// a question at a given similarity (the idea of vCache, arXiv 2502.03771, implemented from the
// paper's description; none of its code is used), helped by evidence pooled over all entries.
//
// A fixed similarity threshold is wrong for most entries: some answers hold for loose rewordings,
// others only for near copies. Instead every entry keeps observations (similarity, correct) from
// verifications: a would-be hit that is not served is forwarded, and the fresh answer is compared
// with the cached one, recording whether the cached answer would have been right.
//
// Per-entry evidence at similarity s (EstimateFalseHit): the informative observations are correct
// ones at similarity <= s (if a looser match was right, this closer one is at least as likely
// right) and wrong ones at similarity >= s (if a closer match was wrong, this looser one is at
// least as likely wrong); n of them, w wrong. u_entry(s) = Wilson score upper bound on w / n at z
// (1.96: ~97.5% one-sided); 1 when n = 0.
//
// Pooled evidence (SimilarityCalibration): an entry asked once or twice never gathers the ~73
// observations a 5% bound needs, so every verification also lands in a histogram over similarity
// shared by the entries of one evidence pool (semantic_cache.h: tenant, route, model),
// from which the cache learns a threshold: u_pooled(s) = the smallest
// Wilson bound, over t <= s where some match was verified, on the wrong rate of the verified
// matches at similarity >= t (nothing vouches for a match looser than every verified one). Serving
// every match at or above t* (the lowest t whose bound is <= delta) then gives served answers whose
// average wrong rate is bounded by delta: the served false-hit rate is an average over the served
// matches, and those are the matches at >= t* that the pool measured.
//
// Combined (Decide): u(s) = u_entry(s) when the entry alone proves it (<= delta) or has a wrong
// observation at >= s (its own evidence vetoes the pool); otherwise min(u_entry, u_pooled).
//   bound = kServed (default): serve only when u(s) <= delta, so a served answer is wrong with
//     probability at most delta (at the bound's confidence); every other would-be hit is forwarded
//     and verified (it costs no extra upstream call: it would be a miss anyway), and a share
//     `audit_rate` of confident hits is verified too, which keeps the evidence current and
//     measures the served false-hit rate directly.
//   bound = kLookups (vCache's guarantee): explore (forward + verify) with probability
//     tau = max(0, 1 - delta / u(s)), else serve; the chance that a lookup finding a candidate is
//     answered wrongly is then at most about delta, but a served answer may be wrong more often.
// delta = max_false_hit_rate; 1 turns verification off (every candidate served, never verified).
//
// Thread safety: EstimateFalseHit, WilsonUpper and Decide are pure; SimilarityCalibration is
// thread-compatible (the caller locks).
#pragma once

#include <array>
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

// Verification outcomes of all entries, binned by similarity (kBins bins over [0, 1]). Counts
// halve once the total passes kMaxTotal, so old traffic fades and the counters cannot overflow.
class SimilarityCalibration {
 public:
  static constexpr int kBins = 200;  // 0.005 wide
  static constexpr int64_t kMaxTotal = 1 << 16;

  void Add(float similarity, bool correct);
  // u_pooled(s) and the tail [t, 1] it came from (informative = observations in it).
  VCacheEstimate Estimate(float s, double z) const;
  int64_t total() const { return total_; }

 private:
  static int BinOf(float similarity);
  std::array<int32_t, kBins> observed_{};
  std::array<int32_t, kBins> wrong_{};
  int64_t total_ = 0;
};

enum class FalseHitBound { kServed, kLookups };

struct DecideOptions {
  double max_false_hit_rate = 0.05;  // delta
  FalseHitBound bound = FalseHitBound::kServed;
  double audit_rate = 0.01;  // kServed: share of confident hits verified anyway
  double z = 1.96;           // Wilson bound width
};

struct VCacheDecision {
  VCacheEstimate entry;            // the entry's own evidence
  VCacheEstimate pooled;           // the pool's
  double upper_wrong = 1;          // u(s), combined
  double explore_probability = 1;  // the chance this would-be hit is verified instead of served
  bool confident = false;          // u(s) <= delta: a verification of it is an audit
};

// The decision for a would-be hit at similarity `s` given the entry's observations and the pool.
VCacheDecision Decide(std::span<const VerificationObservation> entry_observations,
                      const SimilarityCalibration& pooled, float s, const DecideOptions& options);

}  // namespace deja::semantic
