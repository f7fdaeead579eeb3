#include "semantic/tokenizer_models.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "semantic/text.h"

namespace deja::semantic {

void ByteTrie::Insert(std::string_view key, uint32_t id) {
  uint32_t node = kRoot;
  for (unsigned char b : key) {
    const uint64_t k = (static_cast<uint64_t>(node) << 8) | b;
    auto it = children_.find(k);
    if (it == children_.end()) {
      const auto child = static_cast<uint32_t>(ids_.size());
      ids_.push_back(kNone);
      children_.emplace(k, child);
      node = child;
    } else {
      node = it->second;
    }
  }
  ids_[node] = id;
}

uint32_t ByteTrie::Step(uint32_t node, uint8_t byte) const {
  auto it = children_.find((static_cast<uint64_t>(node) << 8) | byte);
  return it == children_.end() ? kNone : it->second;
}

uint32_t ByteTrie::Walk(std::string_view key, uint32_t from) const {
  uint32_t node = from;
  for (unsigned char b : key) {
    node = Step(node, b);
    if (node == kNone) return kNone;
  }
  return node;
}

WordPieceModel::WordPieceModel(const std::vector<std::pair<std::string, uint32_t>>& vocab,
                               uint32_t unk_id, std::string continuing_prefix, size_t max_chars)
    : unk_id_(unk_id), max_chars_(max_chars) {
  for (const auto& [token, id] : vocab) trie_.Insert(token, id);
  continuing_node_ = trie_.Walk(continuing_prefix);
}

void WordPieceModel::Tokenize(std::string_view word, std::vector<uint32_t>* ids) const {
  if (CountCodePoints(word) > max_chars_) {
    ids->push_back(unk_id_);
    return;
  }
  const size_t first = ids->size();
  size_t start = 0;
  while (start < word.size()) {
    // Longest vocabulary entry starting at `start`: walk the trie and remember the last node
    // where a token ends.
    uint32_t node = start == 0 ? ByteTrie::kRoot : continuing_node_;
    uint32_t best_id = ByteTrie::kNone;
    size_t best_end = start;
    for (size_t i = start; i < word.size() && node != ByteTrie::kNone; ++i) {
      node = trie_.Step(node, static_cast<uint8_t>(word[i]));
      if (node != ByteTrie::kNone && trie_.IdAt(node) != ByteTrie::kNone) {
        best_id = trie_.IdAt(node);
        best_end = i + 1;
      }
    }
    if (best_id == ByteTrie::kNone) {
      ids->resize(first);  // The whole word is unknown, not just this piece.
      ids->push_back(unk_id_);
      return;
    }
    ids->push_back(best_id);
    start = best_end;
  }
}

UnigramModel::UnigramModel(const std::vector<std::pair<std::string, double>>& pieces,
                           uint32_t unk_id)
    : unk_id_(unk_id) {
  double min_score = std::numeric_limits<double>::infinity();
  scores_.reserve(pieces.size());
  for (size_t i = 0; i < pieces.size(); ++i) {
    trie_.Insert(pieces[i].first, static_cast<uint32_t>(i));
    scores_.push_back(pieces[i].second);
    min_score = std::min(min_score, pieces[i].second);
  }
  unk_score_ = (pieces.empty() ? 0.0 : min_score) - 10.0;
}

void UnigramModel::Tokenize(std::string_view text, std::vector<uint32_t>* ids) const {
  if (text.empty()) return;
  struct Best {
    double score = 0;
    size_t start = 0;
    uint32_t id = 0;
    bool set = false;
  };
  std::vector<Best> best(text.size() + 1);
  best[0].set = true;
  for (size_t start = 0; start < text.size();) {
    size_t next = start;
    DecodeUtf8(text, &next);
    const size_t char_len = next - start;
    if (!best[start].set) {  // Not a character boundary reached by any path.
      start = next;
      continue;
    }
    const double base = best[start].score;
    bool has_single_char = false;
    uint32_t node = ByteTrie::kRoot;
    for (size_t i = start; i < text.size(); ++i) {
      node = trie_.Step(node, static_cast<uint8_t>(text[i]));
      if (node == ByteTrie::kNone) break;
      const uint32_t id = trie_.IdAt(node);
      if (id == ByteTrie::kNone) continue;
      const size_t end = i + 1;
      const double candidate = base + scores_[id];
      // Strictly greater: on ties the shorter piece found first wins, as in Hugging Face's code.
      if (!best[end].set || candidate > best[end].score) best[end] = {candidate, start, id, true};
      if (end - start == char_len) has_single_char = true;
    }
    if (!has_single_char) {
      const double candidate = base + unk_score_;
      if (!best[next].set || candidate > best[next].score) {
        best[next] = {candidate, start, unk_id_, true};
      }
    }
    start = next;
  }
  // Backtrack from the end, then reverse into place; consecutive unknowns fuse into one.
  const size_t first = ids->size();
  for (size_t end = text.size(); end > 0;) {
    const Best& b = best[end];
    if (!(b.id == unk_id_ && ids->size() > first && ids->back() == unk_id_)) ids->push_back(b.id);
    end = b.start;
  }
  std::reverse(ids->begin() + static_cast<std::ptrdiff_t>(first), ids->end());
}

}  // namespace deja::semantic
