#include "semantic/lexical_embedder.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "semantic/text.h"

namespace deja::semantic {
namespace {

// Sorted, so IsStopword is a binary search. Negations ("not", "no", "never") are deliberately
// absent: they flip a question's meaning and must weigh fully.
constexpr std::array<std::string_view, 122> kStopwords = {
    "a",        "about",      "above",   "after", "again",   "all",    "am",        "an",
    "and",      "any",        "are",     "as",    "at",      "be",     "been",      "being",
    "below",    "between",    "both",    "but",   "by",      "can",    "could",     "did",
    "do",       "does",       "doing",   "down",  "during",  "each",   "few",       "for",
    "from",     "further",    "had",     "has",   "have",    "having", "he",        "her",
    "here",     "hers",       "herself", "him",   "himself", "his",    "how",       "i",
    "if",       "in",         "into",    "is",    "it",      "its",    "itself",    "just",
    "me",       "more",       "most",    "my",    "myself",  "of",     "off",       "on",
    "once",     "only",       "or",      "other", "our",     "ours",   "ourselves", "out",
    "over",     "own",        "please",  "s",     "same",    "she",    "should",    "so",
    "some",     "such",       "t",       "than",  "that",    "the",    "their",     "theirs",
    "them",     "themselves", "then",    "there", "these",   "they",   "this",      "those",
    "through",  "to",         "too",     "under", "until",   "up",     "very",      "was",
    "we",       "were",       "what",    "when",  "where",   "which",  "while",     "who",
    "whom",     "why",        "will",    "with",  "would",   "you",    "your",      "yours",
    "yourself", "yourselves",
};

bool IsWordChar(char32_t cp) {
  if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z');
  return !IsWhitespace(cp) && !IsPunctuation(cp) && !IsControl(cp) && cp != 0xFFFD &&
         !(cp >= 0x2190 && cp <= 0x2BFF);  // Arrows, math operators, shapes: symbols.
}

bool IsNumber(std::string_view w) {
  return std::all_of(w.begin(), w.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Seeds separate the feature families, so the word "the" and the trigram "the" differ.
constexpr uint64_t kUnigramSeed = 1;
constexpr uint64_t kBigramSeed = 2;
constexpr uint64_t kNgramSeed = 3;

constexpr float kStopwordWeight = 0.15f;
constexpr float kBigramWeight = 0.6f;
constexpr float kNgramWordWeight = 0.8f;

struct Feature {
  uint64_t hash;
  float weight;
};

class LexicalEmbedder final : public Embedder {
 public:
  explicit LexicalEmbedder(int dimensions) : dims_(dimensions) {}

  std::string_view name() const override { return "lexical"; }
  int dimensions() const override { return dims_; }

  Status Embed(std::string_view text, std::vector<float>* out) const override {
    out->assign(static_cast<size_t>(dims_), 0.0f);
    std::string buffer;
    std::vector<std::string_view> words;
    LexicalWords(text, &buffer, &words);
    if (words.empty()) return Status::Ok();

    std::vector<Feature> features;
    features.reserve(words.size() * 20);
    std::string scratch;
    for (size_t i = 0; i < words.size(); ++i) {
      const std::string_view w = words[i];
      const bool stop = IsStopword(w);
      features.push_back({HashBytes(w, kUnigramSeed), stop ? kStopwordWeight : 1.0f});
      if (i > 0) {
        scratch.assign(words[i - 1]);
        scratch.push_back(' ');
        scratch.append(w);
        const bool both_stop = stop && IsStopword(words[i - 1]);
        features.push_back({HashBytes(scratch, kBigramSeed),
                            both_stop ? kBigramWeight * kStopwordWeight : kBigramWeight});
      }
      if (!stop && !IsNumber(w)) AddNgrams(w, &scratch, &features);
    }

    // Sublinear term frequency: equal hashes are the same feature (same family, same text).
    std::sort(features.begin(), features.end(),
              [](const Feature& a, const Feature& b) { return a.hash < b.hash; });
    float* v = out->data();
    for (size_t i = 0; i < features.size();) {
      size_t j = i;
      float weight = 0;
      while (j < features.size() && features[j].hash == features[i].hash) {
        weight = std::max(weight, features[j].weight);
        ++j;
      }
      const size_t tf = j - i;
      if (tf > 1) weight *= 1.0f + std::log(static_cast<float>(tf));
      const uint64_t h = features[i].hash;
      const size_t bucket = static_cast<size_t>(((h >> 32) * static_cast<uint64_t>(dims_)) >> 32);
      v[bucket] += (h & 1) ? -weight : weight;
      i = j;
    }
    L2Normalize(out);
    return Status::Ok();
  }

 private:
  // Character 3..5-grams of "<w>", weighted so that one word's n-grams together have norm
  // kNgramWordWeight whatever its length (long words must not drown short ones).
  static void AddNgrams(std::string_view w, std::string* scratch, std::vector<Feature>* out) {
    // clear + push_back rather than assign("<"): GCC 12 at -O3 reports a false -Wrestrict there.
    scratch->clear();
    scratch->push_back('<');
    scratch->append(w);
    scratch->push_back('>');
    const std::string_view s = *scratch;
    const size_t n = s.size();
    size_t count = 0;
    for (size_t len = 3; len <= 5; ++len) count += n >= len ? n - len + 1 : 0;
    if (count == 0) return;
    const float weight = kNgramWordWeight / std::sqrt(static_cast<float>(count));
    for (size_t len = 3; len <= 5; ++len) {
      for (size_t i = 0; i + len <= n; ++i) {
        out->push_back({HashBytes(s.substr(i, len), kNgramSeed), weight});
      }
    }
  }

  int dims_;
};

}  // namespace

bool IsStopword(std::string_view word) {
  return std::binary_search(kStopwords.begin(), kStopwords.end(), word);
}

void LexicalWords(std::string_view text, std::string* buffer,
                  std::vector<std::string_view>* words) {
  // First pass: normalized characters into `buffer`, words separated by one '\0'; then slice.
  buffer->clear();
  buffer->reserve(text.size() + 1);
  words->clear();
  bool in_word = false;
  for (size_t i = 0; i < text.size();) {
    char32_t cp = static_cast<unsigned char>(text[i]);
    if (cp < 0x80) {
      ++i;
      if (cp >= 'A' && cp <= 'Z') cp += 32;
    } else {
      cp = StripAccent(ToLowerSimple(DecodeUtf8(text, &i)));
      if (IsCombiningMark(cp)) continue;  // Decomposed accents: drop, stay in the word.
    }
    if (IsWordChar(cp)) {
      if (cp < 0x80) {
        buffer->push_back(static_cast<char>(cp));
      } else {
        AppendUtf8(cp, buffer);
      }
      in_word = true;
      continue;
    }
    // An apostrophe (ASCII or U+2019) between two word characters joins them: "don't" -> "dont".
    if (in_word && (cp == '\'' || cp == 0x2019) && i < text.size()) {
      size_t next = i;
      char32_t following = DecodeUtf8(text, &next);
      if (following >= 'A' && following <= 'Z') following += 32;
      if (IsWordChar(StripAccent(ToLowerSimple(following)))) continue;
    }
    if (in_word) buffer->push_back('\0');
    in_word = false;
  }
  if (in_word) buffer->push_back('\0');
  const std::string_view all = *buffer;
  size_t start = 0;
  for (size_t k = 0; k < all.size(); ++k) {
    if (all[k] == '\0') {
      words->push_back(all.substr(start, k - start));
      start = k + 1;
    }
  }
}

std::unique_ptr<Embedder> NewLexicalEmbedder(int dimensions) {
  return std::make_unique<LexicalEmbedder>(dimensions);
}

}  // namespace deja::semantic
