// The "lexical" embedder: a hashed bag of word unigrams, word bigrams and character 3-5-grams.
//
// It needs no files and costs a few microseconds, and it captures surface similarity only:
// reworded questions that share content words score high, paraphrases with different words do not.
// Features and weights (all fixed; no corpus statistics needed):
//   - text is lower-cased, Latin accents folded, split into words at anything that is not a letter
//     or digit; apostrophes inside a word are dropped ("don't" -> "dont").
//   - word unigram: weight 1, or 0.15 for English stopwords (a built-in idf heuristic: they carry
//     little meaning but do separate "how to X" from "why X").
//   - word bigram: weight 0.6 (word order: "dog bites man" vs "man bites dog").
//   - character 3,4,5-grams of "<word>" for non-stopwords that are not numbers: together weight
//     0.8 per word (robust to typos and inflection: "caching" ~ "cache"). Numbers get no n-grams,
//     so "2023" and "2024" share nothing.
//   - term frequency is sublinear: a feature seen tf times counts 1 + ln(tf).
// Each feature is hashed (64-bit) to one of `dimensions` buckets with a hash-derived sign, so
// collisions cancel in expectation instead of adding up; the result is L2-normalized.
//
// Thread safety: immutable; Embed may be called concurrently.
#pragma once

#include <memory>

#include "semantic/embedder.h"

namespace deja::semantic {

// REQUIRES: dimensions > 0 (EmbedderOptions::Validate checks the usable range).
std::unique_ptr<Embedder> NewLexicalEmbedder(int dimensions);

// Splits `text` into normalized words as the lexical embedder sees them (lower-cased, accents
// folded, apostrophes dropped). Exposed for tests and for the words embedder's fallback.
void LexicalWords(std::string_view text, std::string* buffer, std::vector<std::string_view>* words);

// Whether `word` (lower-case) is on the built-in English stopword list.
bool IsStopword(std::string_view word);

}  // namespace deja::semantic
