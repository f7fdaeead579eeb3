// The "words" embedder: a weighted average of pretrained English word vectors (GloVe-style, from
// a deja word-vector file; see semantic/word_vectors.h and scripts/fetch-word-vectors.sh).
//
// Text is lower-cased and split into words at anything that is not a letter or digit; the clitic
// "n't" becomes "not" and other clitics ('s, 're, 'll, 've, 'd, 'm) are dropped. Each word's
// vector is weighted SIF-style (Arora et al., 2017), a / (a + p(w)) with a = 1e-3, where p(w) is
// estimated from the word's frequency rank r by Zipf's law, p = 1 / ((r + 1) * H) (H = ln N +
// 0.577 for N words): "the" weighs 0.01, a word of rank 1000 about 0.93. Stopwords weigh 0;
// negations are not stopwords. A word not in the vocabulary (often a name or an identifier, which
// matters to what a question means) gets a deterministic pseudo-random vector of the vocabulary's
// median norm, weighted kOovWeight, so "capital of Freedonia" and "capital of Sylvania" differ.
// The weighted sum is L2-normalized.
//
// Thread safety: immutable after Load; Embed may be called concurrently.
#pragma once

#include <memory>
#include <string>

#include "semantic/embedder.h"
#include "semantic/word_vectors.h"

namespace deja::semantic {

// Loads `path`, a word-vector file or a directory holding kDefaultWordVectorsFile.
StatusOr<std::unique_ptr<Embedder>> LoadWordsEmbedder(const std::string& path);

// The same over an already opened file.
std::unique_ptr<Embedder> NewWordsEmbedder(WordVectors vectors);

// The SIF weight of the word of frequency rank `rank` in a vocabulary of `vocab_size` words.
float SifWeight(uint32_t rank, size_t vocab_size);

// Weight of an out-of-vocabulary word's pseudo-random vector.
inline constexpr float kOovWeight = 0.7f;

}  // namespace deja::semantic
