#include "semantic/words_embedder.h"

#include <sys/stat.h>

#include <cmath>
#include <utility>
#include <vector>

#include "semantic/lexical_embedder.h"
#include "semantic/text.h"

namespace deja::semantic {
namespace {

constexpr double kSifA = 1e-3;

bool IsLetterOrDigit(char32_t cp) {
  if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z');
  return !IsWhitespace(cp) && !IsPunctuation(cp) && !IsControl(cp) && cp != 0xFFFD &&
         !IsCombiningMark(cp) && !(cp >= 0x2190 && cp <= 0x2BFF);
}

// Splits lower-cased words out of `text`, handling English clitics as GloVe's tokenizer did
// ("don't" -> "do" "not"; "it's" -> "it").
void Words(std::string_view text, std::vector<std::string>* out) {
  std::string cur;
  auto flush = [&] {
    if (!cur.empty()) out->push_back(std::move(cur));
    cur.clear();
  };
  for (size_t i = 0; i < text.size();) {
    const char32_t cp = ToLowerSimple(DecodeUtf8(text, &i));
    if (IsLetterOrDigit(cp)) {
      AppendUtf8(cp, &cur);
      continue;
    }
    if ((cp == '\'' || cp == 0x2019) && !cur.empty()) {
      // A clitic: the letters after the apostrophe.
      size_t j = i;
      std::string clitic;
      while (j < text.size()) {
        size_t k = j;
        const char32_t c = ToLowerSimple(DecodeUtf8(text, &k));
        if (c >= 0x80 || !IsLetterOrDigit(c)) break;
        AppendUtf8(c, &clitic);
        j = k;
      }
      if (clitic == "t" && cur.size() > 1 && cur.back() == 'n') {
        cur.pop_back();
        if (cur == "ca") cur = "can";   // can't
        if (cur == "wo") cur = "will";  // won't
        flush();
        out->emplace_back("not");
        i = j;
        continue;
      }
      if (clitic == "s" || clitic == "re" || clitic == "ll" || clitic == "ve" || clitic == "d" ||
          clitic == "m") {
        flush();
        i = j;
        continue;
      }
    }
    flush();
  }
  flush();
}

// Deterministic pseudo-random +-1 vector for `word` (splitmix64 stream seeded by its hash).
void AddOovVector(std::string_view word, float weight, int dims, float* out) {
  uint64_t state = HashBytes(word, 0x0F0F);
  for (int i = 0; i < dims; ++i) {
    state += 0x9E3779B97F4A7C15ULL;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    out[i] += (z & 1) ? -weight : weight;
  }
}

class WordsEmbedder final : public Embedder {
 public:
  explicit WordsEmbedder(WordVectors vectors)
      : vectors_(std::move(vectors)),
        oov_scale_(kOovWeight * vectors_.median_norm() /
                   std::sqrt(static_cast<float>(vectors_.dims()))) {}

  std::string_view name() const override { return "words"; }
  int dimensions() const override { return vectors_.dims(); }

  Status Embed(std::string_view text, std::vector<float>* out) const override {
    out->assign(static_cast<size_t>(vectors_.dims()), 0.0f);
    std::vector<std::string> words;
    Words(text, &words);
    std::string folded;
    for (const std::string& w : words) {
      if (IsStopword(w)) continue;
      std::optional<uint32_t> row = vectors_.Find(w);
      if (!row.has_value() && !IsAscii(w)) {
        // "café" may be in the vocabulary only as "cafe".
        folded.clear();
        for (size_t i = 0; i < w.size();) AppendUtf8(StripAccent(DecodeUtf8(w, &i)), &folded);
        row = vectors_.Find(folded);
      }
      if (row.has_value()) {
        vectors_.AddRow(*row, SifWeight(*row, vectors_.size()), out->data());
      } else {
        AddOovVector(w, oov_scale_, vectors_.dims(), out->data());
      }
    }
    L2Normalize(out);
    return Status::Ok();
  }

 private:
  static bool IsAscii(std::string_view s) {
    for (char c : s) {
      if (static_cast<unsigned char>(c) >= 0x80) return false;
    }
    return true;
  }

  WordVectors vectors_;
  float oov_scale_;
};

}  // namespace

float SifWeight(uint32_t rank, size_t vocab_size) {
  const double h = std::log(static_cast<double>(vocab_size < 2 ? 2 : vocab_size)) + 0.5772;
  const double p = 1.0 / ((static_cast<double>(rank) + 1.0) * h);
  return static_cast<float>(kSifA / (kSifA + p));
}

std::unique_ptr<Embedder> NewWordsEmbedder(WordVectors vectors) {
  return std::make_unique<WordsEmbedder>(std::move(vectors));
}

StatusOr<std::unique_ptr<Embedder>> LoadWordsEmbedder(const std::string& path) {
  std::string file = path;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    file = path + "/" + std::string(kDefaultWordVectorsFile);
  }
  StatusOr<WordVectors> wv = WordVectors::Open(file);
  if (!wv.ok()) {
    if (wv.status().code() == StatusCode::kNotFound) {
      return NotFoundError(wv.status().message() +
                           " (scripts/fetch-word-vectors.sh downloads and converts the vectors)");
    }
    return wv.status();
  }
  return NewWordsEmbedder(std::move(*wv));
}

}  // namespace deja::semantic
