// Evaluation of the semantic cache on labelled question pairs (`deja eval semantic`): the data,
// the ground truth and the arithmetic. The driver that pushes the pairs through a real gateway is
// semantic_eval_run.h.
//
//   StatusOr<std::vector<EvalPair>> all = ParseEvalPairs(file_text);   // {"a","b","label"} lines
//   AnswerGroups truth(*all);            // union-find over the duplicate pairs of the whole file
//   std::vector<EvalPair> sample = SelectEvalPairs(*all, 5000, kDefaultEvalSeed);
//   ... run: one EvalObservation per pair (the fate of its question b) ...
//   std::vector<CurvePoint> curve = ComputeCurve(observations, *ParseThresholds("0.5:0.99:0.01"));
//   std::optional<CurvePoint> best = BestUnder(curve, 0.05);
//
// Ground truth: questions joined by a chain of duplicate (label 1) pairs share a group, and so do
// texts equal once case, spacing and punctuation are ignored ("push-ups." / "push ups"; symbols
// such as "C++" / "C" still differ); the fake provider gives every question of a group the same
// answer, different from every other group's.
// A semantic hit is correct when the served answer is b's own. Labels are not always transitive
// (a ~ b, b ~ c, yet a pair (a, c) labelled 0): such pairs count by their groups (the answers are
// equal) and are reported as `label_conflicts`.
//
// Rates, per threshold t (a hit at t: a semantic hit served at similarity >= t):
//   hit_rate                hits / pairs
//   false_hit_rate          false hits / hits (0 without hits): the chance a served semantic
//                           answer is wrong; what semantic.max_false_hit_rate bounds
//   false_hits_per_request  false hits / pairs
//   recall                  correct hits / reachable pairs (b's answer was in the index when b
//                           was asked), the share of the possible hits found
// In the shared context a hit may match another pair's question; only labelled links make such a
// match correct, so there false_hit_rate is an upper bound (cross_hits, cross_false_hits say how
// much of it comes from such matches).
//
// Thread safety: pure functions and immutable objects.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "deja/status.h"

namespace deja::server {

inline constexpr uint64_t kDefaultEvalSeed = 20240601;

struct EvalPair {
  std::string a;
  std::string b;
  bool duplicate = false;  // label 1
};

// JSON lines {"a": "...", "b": "...", "label": 0|1} (extra fields ignored, blank lines skipped).
// InvalidArgument naming the line number for anything else.
StatusOr<std::vector<EvalPair>> ParseEvalPairs(std::string_view jsonl);

// The first `limit` pairs (0: all) after a Fisher-Yates shuffle driven by SplitMix64(seed): the
// same sample on every platform and standard library.
std::vector<EvalPair> SelectEvalPairs(std::vector<EvalPair> pairs, size_t limit, uint64_t seed);

class AnswerGroups {
 public:
  explicit AnswerGroups(std::span<const EvalPair> pairs);

  // The question's group, numbered in order of first appearance; -1 for a question never seen.
  int64_t GroupOf(std::string_view question) const;
  // The fake provider's answer: "Answer #<group>." (a question never seen: an answer of its own).
  std::string AnswerFor(std::string_view question) const;
  size_t questions() const { return group_of_.size(); }
  size_t groups() const { return groups_; }
  // Groups joined because two of their texts have the same surface form (not by a label).
  size_t surface_merges() const { return surface_merges_; }
  // Non-duplicate pairs among `pairs` whose two questions share a group.
  size_t LabelConflicts(std::span<const EvalPair> pairs) const;

 private:
  std::unordered_map<std::string, int64_t> group_of_;
  size_t groups_ = 0;
  size_t surface_merges_ = 0;
};

// What happened to one pair's question b.
struct EvalObservation {
  bool duplicate = false;     // the pair's label
  bool semantic_hit = false;  // X-Deja-Cache: semantic-hit (at the lowest threshold)
  double similarity = 0;      // X-Deja-Similarity of that hit
  bool correct = false;       // the served answer is b's own
  bool exact_hit = false;     // X-Deja-Cache: hit (b's exact text was asked before)
  bool verified = false;      // X-Deja-Cache: semantic-verify (vCache forwarded it to verify)
  bool reachable = false;     // an entry with b's answer was in the index
  // The hit matched another pair's question, not this pair's a (shared context only). Such a
  // match is judged by the groups alone: two questions of different pairs that mean the same but
  // were never labelled together count as a false hit, so cross matches make false_hit_rate an
  // upper bound.
  bool cross_match = false;
  int64_t matched_pair = -1;  // index of the pair whose a was matched; -1 when unknown
};

struct CurvePoint {
  double threshold = 0;
  int64_t hits = 0;
  int64_t false_hits = 0;
  double hit_rate = 0;
  double false_hit_rate = 0;
  double false_hits_per_request = 0;
  double recall = 0;
  int64_t cross_hits = 0;        // hits that matched another pair's question
  int64_t cross_false_hits = 0;  // of which judged false (see EvalObservation::cross_match)
};

// "LOW:HIGH:STEP" (inclusive, e.g. 0.5:0.99:0.01) or a comma list; values in [0, 1].
StatusOr<std::vector<double>> ParseThresholds(std::string_view spec);

// One point per threshold, in the given order. The similarity is the header's 3 decimals, so a
// hit counts at t when similarity >= t - 1e-9.
std::vector<CurvePoint> ComputeCurve(std::span<const EvalObservation> observations,
                                     std::span<const double> thresholds);

// A run with vCache verification on: what was served, how often it was wrong, and how that changed
// as the cache learned (the stream cut into `segments` equal parts, in order).
struct VerifiedSegment {
  int64_t requests = 0;
  int64_t served = 0;           // semantic hits
  int64_t false_hits = 0;       // of which wrong
  int64_t verified = 0;         // would-be hits forwarded and verified instead
  double hit_rate = 0;          // served / requests
  double false_hit_rate = 0;    // false_hits / served (0 without hits)
  double false_per_lookup = 0;  // false_hits / (served + verified): vCache's per-lookup rate
};
struct VerifiedSummary {
  VerifiedSegment total;
  std::vector<VerifiedSegment> segments;
};
VerifiedSummary SummarizeVerified(std::span<const EvalObservation> observations, int segments);

// The point with the highest hit rate whose false_hit_rate <= max_false_hit_rate (ties: the lowest
// threshold); nullopt when no point qualifies or none has a hit.
std::optional<CurvePoint> BestUnder(std::span<const CurvePoint> curve, double max_false_hit_rate);

// The point with the lowest false_hit_rate among those with at least `min_hits` hits (ties: the
// higher hit rate); nullopt when none has that many. Where BestUnder finds nothing, this says how
// close the embedder gets.
std::optional<CurvePoint> LowestFalseHitRate(std::span<const CurvePoint> curve, int64_t min_hits);

}  // namespace deja::server
