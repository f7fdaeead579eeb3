// The subword models behind semantic/hf_tokenizer.h: a byte trie over the vocabulary, WordPiece
// and Unigram. Internal to the tokenizer; exposed in a header for tests.
//
// Thread safety: immutable after construction; the Tokenize methods are const and reentrant.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace deja::semantic {

// A byte-wise trie mapping strings to ids. Children live in one hash map keyed by
// (node, byte), which keeps a 30k-token vocabulary at a few MB and a step at one lookup.
class ByteTrie {
 public:
  static constexpr uint32_t kRoot = 0;
  static constexpr uint32_t kNone = UINT32_MAX;

  // Adds `key` with `id` (a later Insert of the same key replaces the id).
  void Insert(std::string_view key, uint32_t id);
  // The child of `node` on `byte`, or kNone.
  uint32_t Step(uint32_t node, uint8_t byte) const;
  // The id stored at `node`, or kNone if no key ends there.
  uint32_t IdAt(uint32_t node) const { return ids_[node]; }
  // Walks `key` from the root; kNone if it is not a path of the trie.
  uint32_t Walk(std::string_view key, uint32_t from = kRoot) const;

 private:
  std::unordered_map<uint64_t, uint32_t> children_;
  std::vector<uint32_t> ids_{kNone};  // Per node; node 0 is the root.
};

// WordPiece as BERT uses it: each pre-tokenized word is split greedily into the longest vocabulary
// prefix, then the longest "##"-prefixed continuation, and so on; a word that cannot be covered,
// or longer than max_chars code points, becomes the single unknown token.
class WordPieceModel {
 public:
  WordPieceModel(const std::vector<std::pair<std::string, uint32_t>>& vocab, uint32_t unk_id,
                 std::string continuing_prefix, size_t max_chars);
  void Tokenize(std::string_view word, std::vector<uint32_t>* ids) const;

 private:
  ByteTrie trie_;
  uint32_t unk_id_;
  uint32_t continuing_node_;  // Trie node after the continuing prefix (kNone if absent).
  size_t max_chars_;
};

// SentencePiece-style Unigram: the segmentation maximizing the sum of piece log-probabilities
// (Viterbi). A character no piece covers becomes the unknown token, scored min_score - 10, as the
// Hugging Face implementation does.
class UnigramModel {
 public:
  UnigramModel(const std::vector<std::pair<std::string, double>>& pieces, uint32_t unk_id);
  void Tokenize(std::string_view text, std::vector<uint32_t>* ids) const;

 private:
  ByteTrie trie_;
  std::vector<double> scores_;
  uint32_t unk_id_;
  double unk_score_;
};

}  // namespace deja::semantic
