// Which answers may join the semantic index, and which are worth it.
//
// An exact-match cache entry is only ever served to the identical request, so storing a poor or
// fleeting answer there costs little. The semantic index serves an entry to *other* questions,
// so it admits only answers that would be right for them too:
//
//   AssessForSemanticIndex(question, answer) -> {admit, reason}
//     rejects  refusals       "I can't help with", "I'm sorry, but", "As an AI"... (opening 400
//                             bytes of the answer)
//              errors         "Error:", "Traceback (most recent call last)", "rate limit",
//                             "internal server error", a JSON {"error": ...}... (opening 200 bytes)
//              empty answers
//              time-sensitive "today", "now", "latest", "current price", "this week", "yesterday",
//                             weather, stock price, news... in the question; "today",
//                             "currently", "as of my last update"... in the answer
//              session-bound  "my/your account", "my/your order"... without an id in the
//                             question; "as I said above", "in our previous conversation"...
//
//   AdmissionScore(signals) -> {admit, score, reason}
//     score = [quality ok] * (w_freq * F + w_cost * C + w_novelty * N), where
//       F = f / (f + frequency_half)           f = times the exact key was requested (>= 1)
//       C = c / (c + cost_half)                c = cost of producing the answer (tokens or $)
//       N = 1 - max_similarity                 max_similarity = highest cosine to an entry
//                                              already in the index (0 when none)
//     admitted when score >= min_score, and never when max_similarity >= near_duplicate_similarity
//     (the index already answers this question; adding it only adds a duplicate).
//     Defaults (AdmissionOptions): weights 0.4 / 0.4 / 0.2, frequency_half 1, cost_half 500
//     tokens, min_score 0.45, near_duplicate_similarity 0.95. With them a novel answer is admitted
//     after 1 request if it cost >= 72 tokens, after 2 requests if it cost anything; one seen once
//     and costing 10 tokens is not (0.41).
//
// Matching is phrase-based (ASCII case-insensitive, on word boundaries; curly apostrophes count as
// straight ones): cheap, predictable, and deliberately conservative - a rejected answer still
// serves exact repeats, a wrongly admitted one is served to strangers. docs/semantic.md lists the
// phrases' known false positives.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace deja::semantic {

enum class QualityReason {
  kOk,
  kEmpty,
  kRefusal,
  kError,
  kTimeSensitive,
  kSessionBound,
};

std::string_view QualityReasonName(QualityReason reason);  // "ok", "refusal", ...

struct QualityVerdict {
  bool admit = true;
  QualityReason reason = QualityReason::kOk;
  // Which phrase matched and where, e.g. "time-sensitive: question says \"today\""; empty when
  // admitted.
  std::string detail;
};

// `question` is the compared text (semantic_query.h SemanticQuery::query); `answer_text` the
// answer's text (for a JSON body, answer_template.h AnswerTextOfJson).
QualityVerdict AssessForSemanticIndex(std::string_view question, std::string_view answer_text);

struct AdmissionSignals {
  uint64_t frequency = 1;     // requests seen for the exact key, including this one
  double cost = 0;            // tokens (or dollars, with cost_half in dollars) of the answer
  bool quality_ok = true;     // AssessForSemanticIndex(...).admit
  double max_similarity = 0;  // best cosine to existing index entries; 0 when none
};

struct AdmissionOptions {
  double weight_frequency = 0.4;
  double weight_cost = 0.4;
  double weight_novelty = 0.2;
  double frequency_half = 1;  // F = 0.5 at this many requests
  double cost_half = 500;     // C = 0.5 at this cost
  double min_score = 0.45;
  // Cosine at or above which an answer is a near-duplicate of an existing entry. Depends on the
  // embedder (docs/semantic.md: lexical rewordings score 0.6-0.9, words ~0.85 and up).
  double near_duplicate_similarity = 0.95;
};

struct AdmissionDecision {
  bool admit = false;
  double score = 0;    // in [0, 1]; 0 when quality failed
  std::string reason;  // "admitted", "quality", "near-duplicate", "score below threshold"
};

// Monotone: never decreases as frequency or cost grow, never increases as max_similarity grows.
AdmissionDecision AdmissionScore(const AdmissionSignals& signals,
                                 const AdmissionOptions& options = {});

}  // namespace deja::semantic
