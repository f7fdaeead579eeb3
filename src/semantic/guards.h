// Match guards: cheap checks that turn a semantic near match into a miss when two questions differ
// in a detail an embedding is blind to.
//
// Embeddings place "what is 5+5" and "what is 5+6", or "is X safe" and "is X not safe", almost on
// top of each other, yet their answers differ. After the vector index proposes a cached question,
// the gateway runs GuardCheck(new_question, cached_question) and serves the cached answer only
// when it passes. Agreement is required on:
//
//   numbers      multiset of normalized numbers ("5" = "5.0"; "1,000" = "1000"; number words
//                "two".."ninety", "hundred", "dozen" count as their value; "one" does not)
//   expressions  numbers joined by operators, "5+5", "10/2" (order matters here)
//   quantities   number + unit, "5 kg" != "5 lb"; currency signs: "$5" = "5 usd"; "20%"
//   dates        calendar dates and times, normalized ("March 3, 2024" = "2024-03-03"), weekdays
//                and relative days ("today", "tomorrow")
//   quoted       exact contents of quoted strings ('...', "...", “...”, `...`)
//   entities     capitalized words and runs of them not at the start of a sentence ("Python",
//                "New York"), all-caps acronyms and inner-capital names ("NASA", "iPhone")
//                anywhere: each name found in one text must occur in the other as words, in any
//                case and position ("Python" agrees with "python" and with a sentence-initial
//                "Python"; "New York" does not agree with "New York City", whose name is longer)
//   identifiers  e-mails, URLs, UUIDs, letter-digit tokens ("python3", "ORD-7", "gpt-4o")
//   negations    the number of negations (not, no, never, none, nothing, nobody, neither, nor,
//                without, cannot, and every "n't" contraction)
//
// Everything inside quotes is compared only as the quoted string. The rules err toward a miss: a
// guard that fails on a true paraphrase costs one upstream call; one that passes a false match
// serves a wrong answer. docs/semantic.md lists the known gaps (sentence-initial names, numbers in
// a different order, words an embedding confuses without any of these markers).
//
// Speed: one hand-written scan per text (text_spans.h), no regular expressions; ~3 us per
// 20-word question, ~6 us for a GuardCheck of two (bench/match_bench.cc, loaded 2-vCPU VM).
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace deja::semantic {

// The guard-relevant features of one text. Lists are sorted; all but `entities` must be equal
// to agree (entities are looked up in the other text's `words`).
struct GuardFeatures {
  std::vector<std::string> numbers;      // "5", "-3.5", "1000" (multiset)
  std::vector<std::string> expressions;  // "5+5", "2*3" (multiset)
  std::vector<std::string> quantities;   // "5 kg", "20 %", "5 usd" (multiset)
  std::vector<std::string> dates;        // "2024-03-03", "t14:30", "monday", "today" (multiset)
  std::vector<std::string> quoted;       // exact contents (multiset)
  std::vector<std::string> entities;     // "python", "new york", "nasa" (set, lower-cased)
  // Every word lower-cased (possessive 's dropped) and followed by ' ', with "| " before a word
  // that anything but spaces separates from the previous one: "Hi, do I sort Python's list?" ->
  // " hi | do i sort python list ". Names are looked up here.
  std::string words = " ";
  std::vector<std::string> identifiers;  // "john@example.com", "python3" (set, lower-cased)
  int negations = 0;
};

GuardFeatures ExtractGuardFeatures(std::string_view text);

struct GuardResult {
  bool ok = true;
  // Why the check failed, naming the feature and both sides, e.g.
  // "numbers differ: [5, 5] vs [5, 6]"; empty when ok.
  std::string reason;
};

// Compares already extracted features (for a cached question whose features are kept).
GuardResult CompareGuardFeatures(const GuardFeatures& a, const GuardFeatures& b);

// ExtractGuardFeatures on both texts, then CompareGuardFeatures. Symmetric.
GuardResult GuardCheck(std::string_view query_a, std::string_view query_b);

}  // namespace deja::semantic
