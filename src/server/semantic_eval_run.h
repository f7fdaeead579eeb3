// The driver of `deja eval semantic`: pushes labelled question pairs through the real gateway, with
// its semantic tier on, over loopback HTTP, and records what happened to each pair's second
// question (semantic_eval.h has the data, the ground truth and the rates).
//
//   SemanticEvalOptions o;             // embedder, context mode, lowest threshold...
//   StatusOr<SemanticEvalRun> run = RunSemanticEval(sample, truth, o);
//   std::vector<CurvePoint> curve = ComputeCurve(run->observations, thresholds);
//
// In process: a fake provider (an HttpServer answering /v1/chat/completions with
// AnswerGroups::AnswerFor(last user message), 400 + 400 tokens of usage so every novel answer
// passes the admission score) and a Gateway over a fresh LMDB store in a temporary directory, built
// as `deja serve --semantic` builds it, with semantic.max_false_hit_rate = 1: vCache verification
// off, so every match at or above the threshold is served and the raw curve is measured.
//
// Per pair, in the sample's order:
//   1. question a, with X-Deja-Similarity: 1 (so it is itself served only from an identical
//   vector):
//      normally a miss, stored, and offered to the index (admission may refuse a near-duplicate of
//      an entry already there, or a time-sensitive question);
//   2. question b, with X-Deja-Similarity: <lowest threshold> and Cache-Control: no-store.
// The index therefore only ever holds a questions, whatever the threshold, and a b's outcome at any
// threshold t >= lowest follows from the one pass: the gateway serves the best candidate that
// passes the guards, so at t it serves the same entry if its similarity >= t, and nothing
// otherwise. Context: shared (every pair in one context: b may match any earlier pair's a, as in
// real traffic) or isolated (each pair in its own X-Deja-Namespace: b can only match its own a).
//
// Thread safety: RunSemanticEval is self-contained; concurrent calls are independent.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/json.h"
#include "deja/status.h"
#include "server/semantic_eval.h"

namespace deja::server {

struct SemanticEvalOptions {
  std::string embedder = "lexical";  // EmbedderOptions::kind
  std::string model_dir;             // static, words, bert
  int dimensions = 256;              // lexical only
  bool shared_context = true;        // false: one namespace per pair
  double lowest_threshold = 0.5;     // X-Deja-Similarity sent with every b
  uint64_t seed = 1;                 // SemanticOptions::seed (exploration randomness)
  // vCache verification: 1 = off (the raw curve). Below 1 the gateway decides per b whether to
  // serve or to forward and verify, with `lowest_threshold` as its threshold; the outcome is one
  // point (SummarizeVerified), not a curve.
  double max_false_hit_rate = 1;
  std::string false_hit_bound = "served";  // SemanticOptions::false_hit_bound
  double audit_rate = 0.01;
  std::string work_dir;  // parent of the temporary data directory; "": system temp
  // Called after each pair (done, total), e.g. to print progress.
  std::function<void(size_t, size_t)> progress;
};

// A false hit, for people to judge the ground truth (label gaps show up here).
struct FalseHitExample {
  std::string question;  // b
  std::string matched;   // the cached question whose answer was served
  double similarity = 0;
  bool cross_match = false;
};

struct SemanticEvalRun {
  std::string embedder;  // the embedder's name()
  int dimensions = 0;
  bool shared_context = true;
  std::vector<EvalObservation> observations;  // one per pair, in order
  // Question a: how it was answered and whether the index took it.
  int64_t a_misses = 0, a_exact_hits = 0, a_semantic_hits = 0;
  int64_t a_admitted = 0, a_not_admitted = 0;
  // Question b.
  int64_t b_misses = 0, b_exact_hits = 0, b_semantic_hits = 0, b_verified = 0;
  double max_false_hit_rate = 1;
  std::string false_hit_bound;
  int64_t audits = 0, audit_false = 0;  // audits of confident hits (gateway counters)
  int64_t pooled_observations = 0;      // the pooled evidence at the end
  int64_t guard_rejections = 0;  // near matches the guards turned down (counter delta, all b)
  int64_t template_fills = 0;    // semantic hits answered through an answer template
  int64_t errors = 0;            // requests that failed (not 200, transport error)
  int64_t index_entries = 0;     // at the end
  double seconds = 0;
  double b_median_us = 0;  // client-side latency of question b, loopback HTTP included
  std::vector<FalseHitExample> false_hit_examples;  // the most similar ones, at most 30
};

// InvalidArgument / NotFound for a bad embedder or model directory; Internal when the in-process
// servers cannot start.
StatusOr<SemanticEvalRun> RunSemanticEval(const std::vector<EvalPair>& pairs,
                                          const AnswerGroups& truth,
                                          const SemanticEvalOptions& options);

// A run as the report's JSON: embedder, context, counts, timing, the curve over `thresholds` and,
// per target false-hit rate, the best point (BestUnder; null when none qualifies), and the point
// with the lowest false-hit rate among those with at least max(20, 1% of pairs) hits.
json::Value EvalRunToJson(const SemanticEvalRun& run, std::span<const double> thresholds,
                          std::span<const double> targets);

}  // namespace deja::server
