#include "semantic/words_embedder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace deja::semantic {
namespace {

std::string TempPath(const std::string& name) {
  return testing::TempDir() + "/deja_wv_" + std::to_string(::getpid()) + "_" + name;
}

// Six words in rank order over 4 dimensions; "cat" and "dog" are orthogonal unit vectors so the
// weights can be read off the result. Values are exact in binary16.
const std::vector<std::string> kWords = {"the", "cat", "sat", "mat", "dog", "not", "café"};
const std::vector<float> kVectors = {
    0.5f, 0.5f, 0.5f,  0.5f,   // the
    1.0f, 0.0f, 0.0f,  0.0f,   // cat
    0.0f, 0.0f, 1.0f,  0.0f,   // sat
    0.0f, 0.0f, 0.0f,  2.0f,   // mat
    0.0f, 1.0f, 0.0f,  0.0f,   // dog
    0.0f, 0.0f, -1.0f, 0.0f,   // not
    0.0f, 0.0f, 0.0f,  -1.0f,  // café
};

std::unique_ptr<Embedder> TinyEmbedder(WordVectorType type, const std::string& name) {
  const std::string path = TempPath(name);
  Status s = WriteWordVectors(path, kWords, kVectors, 4, type);
  EXPECT_TRUE(s.ok()) << s.ToString();
  StatusOr<std::unique_ptr<Embedder>> e = LoadWordsEmbedder(path);
  ::unlink(path.c_str());  // The mapping keeps the data alive.
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? std::move(*e) : nullptr;
}

auto Near(std::vector<float> expected) {
  return testing::Pointwise(testing::FloatNear(1e-6f), expected);
}

std::vector<float> Embed(const Embedder& e, std::string_view text) {
  std::vector<float> v;
  EXPECT_TRUE(e.Embed(text, &v).ok());
  return v;
}

TEST(WordVectorsTest, RoundTripsWordsAndVectors) {
  const std::string path = TempPath("rt");
  ASSERT_TRUE(WriteWordVectors(path, kWords, kVectors, 4, WordVectorType::kFloat16).ok());
  StatusOr<WordVectors> wv = WordVectors::Open(path);
  ASSERT_TRUE(wv.ok()) << wv.status().ToString();
  EXPECT_EQ(wv->size(), kWords.size());
  EXPECT_EQ(wv->dims(), 4);
  for (uint32_t r = 0; r < kWords.size(); ++r) {
    EXPECT_EQ(wv->Find(kWords[r]), std::optional<uint32_t>(r));
    EXPECT_EQ(wv->Word(r), kWords[r]);
  }
  EXPECT_EQ(wv->Find("cats"), std::nullopt);
  EXPECT_EQ(wv->Find(""), std::nullopt);
  std::vector<float> out(4, 0.0f);
  wv->AddRow(3, 0.5f, out.data());
  EXPECT_THAT(out, testing::ElementsAre(0.0f, 0.0f, 0.0f, 1.0f));
  EXPECT_EQ(wv->median_norm(), 1.0f);  // Norms 1 1 1 1 1 1 2: the median is 1.
  ::unlink(path.c_str());
}

TEST(WordVectorsTest, Int8KeepsVectorsClose) {
  const std::string path = TempPath("q");
  std::vector<float> v = {0.1f, -0.33f, 0.77f, 0.05f, 3.0f, -1.0f, 0.0f, 2.5f};
  ASSERT_TRUE(WriteWordVectors(path, {"x", "y"}, v, 4, WordVectorType::kInt8).ok());
  StatusOr<WordVectors> wv = WordVectors::Open(path);
  ASSERT_TRUE(wv.ok());
  std::vector<float> out(4, 0.0f);
  wv->AddRow(1, 1.0f, out.data());
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(out[i], v[4 + i], 3.0 / 254) << i;  // Half a step.
  ::unlink(path.c_str());
}

TEST(WordVectorsTest, RejectsCorruptFiles) {
  const std::string path = TempPath("bad");
  ASSERT_TRUE(WriteWordVectors(path, kWords, kVectors, 4, WordVectorType::kInt8).ok());
  ::truncate(path.c_str(), 100);
  EXPECT_EQ(WordVectors::Open(path).status().code(), StatusCode::kDataLoss);
  std::ofstream(path, std::ios::binary) << "not a word-vector file at all, but long enough to hold "
                                           "a header of eighty bytes, which this one does";
  EXPECT_EQ(WordVectors::Open(path).status().code(), StatusCode::kDataLoss);
  ::unlink(path.c_str());
  EXPECT_EQ(WriteWordVectors(path, {"a", "a"}, {1, 2}, 1, WordVectorType::kInt8).code(),
            StatusCode::kInvalidArgument);
  StatusOr<std::unique_ptr<Embedder>> e = LoadWordsEmbedder("/nonexistent/dir/x.dwv");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(e.status().message(), testing::HasSubstr("fetch-word-vectors.sh"));
}

TEST(WordsEmbedderTest, SifWeightsByRank) {
  EXPECT_NEAR(SifWeight(0, 341479), 0.0131, 1e-3);  // "the": almost nothing.
  EXPECT_NEAR(SifWeight(999, 341479), 0.930, 1e-3);
  EXPECT_LT(SifWeight(10, 1000), SifWeight(100, 1000));
  EXPECT_LT(SifWeight(100000, 341479), 1.0f);
}

TEST(WordsEmbedderTest, WeightsNormalizationAndStopwords) {
  auto e = TinyEmbedder(WordVectorType::kFloat16, "w");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->name(), "words");
  EXPECT_EQ(e->dimensions(), 4);
  // One word: its direction, unit length; the stopword "the" adds nothing.
  EXPECT_THAT(Embed(*e, "The CAT."), Near({1, 0, 0, 0}));
  // Two orthogonal words: components in the ratio of their SIF weights (rank 1 vs rank 4).
  const std::vector<float> v = Embed(*e, "cat dog");
  const double w_cat = SifWeight(1, kWords.size()), w_dog = SifWeight(4, kWords.size());
  EXPECT_NEAR(v[1] / v[0], w_dog / w_cat, 1e-5);
  EXPECT_NEAR(v[0] * v[0] + v[1] * v[1], 1.0, 1e-6);
  // A word with a longer vector counts for more: "mat" has norm 2.
  const std::vector<float> m = Embed(*e, "cat mat");
  EXPECT_NEAR(m[3] / m[0], 2.0 * SifWeight(3, kWords.size()) / w_cat, 1e-5);
  // "don't" is "do" (a stopword) + "not"; accents fall back to the folded form only when needed.
  EXPECT_EQ(Embed(*e, "don't"), Embed(*e, "not"));
  EXPECT_THAT(Embed(*e, "café"), Near({0, 0, 0, -1}));
  EXPECT_THAT(Embed(*e, "Cafe"), testing::Not(Near({0, 0, 0, -1})));  // Unknown: pseudo-random.
  EXPECT_EQ(Embed(*e, "the of a"), std::vector<float>(4, 0.0f));
}

TEST(WordsEmbedderTest, UnknownWordsGetStablePseudoRandomVectors) {
  auto e = TinyEmbedder(WordVectorType::kInt8, "oov");
  ASSERT_NE(e, nullptr);
  const std::vector<float> a = Embed(*e, "zebra"), b = Embed(*e, "yak");
  EXPECT_EQ(a, Embed(*e, "Zebra"));
  EXPECT_NE(a, b);
  double norm = 0;
  for (float x : a) norm += static_cast<double>(x) * x;
  EXPECT_NEAR(norm, 1.0, 1e-5);
  // An unknown word changes the meaning: "cat zebra" is not "cat yak".
  EXPECT_NE(Embed(*e, "cat zebra"), Embed(*e, "cat yak"));
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// scripts/convert_wink_embeddings.mjs and WriteWordVectors must write the same bytes: the script
// makes the real file, the C++ writer the test files, and the loader must read both.
TEST(WordVectorsTest, ConverterScriptMatchesTheCppWriter) {
  if (std::system("node --version > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "node is not installed (scripts/install-deps.sh installs it)";
  }
  // Dyadic values: exact in float and double, so both writers start from identical floats.
  const std::vector<std::string> words = {"the", "caf\u00e9", "zebra"};
  const std::vector<std::string> utf8 = {"the", "caf\xC3\xA9", "zebra"};
  const std::vector<float> v = {0.5f, -0.375f, 1.25f, 0.0f,      -3.0f, 0.8125f,
                                2.0f, -2.0f,   0.0f,  0.015625f, 7.5f,  -0.5f};
  std::string json = R"({"precision":8,"l2NormIndex":4,"wordIndex":5,"size":3,"dimensions":4,)";
  json += R"("words":["the","caf\u00e9","zebra"],"vectors":{)";
  for (size_t r = 0; r < 3; ++r) {
    json += (r ? ",\"" : "\"") + words[r] + "\":[";
    for (size_t i = 0; i < 4; ++i) json += std::to_string(v[r * 4 + i]) + ",";
    json += "1.0," + std::to_string(r) + "]";
  }
  json += R"(},"unkVector":[0,0,0,0,0,-1]})";
  const std::string in = TempPath("wink.json");
  std::ofstream(in) << json;
  for (WordVectorType type : {WordVectorType::kInt8, WordVectorType::kFloat16}) {
    const bool f16 = type == WordVectorType::kFloat16;
    const std::string js = TempPath(f16 ? "js16.dwv" : "js8.dwv");
    const std::string cc = TempPath(f16 ? "cc16.dwv" : "cc8.dwv");
    const std::string cmd = "node " + std::string(DEJA_SOURCE_DIR) +
                            "/scripts/convert_wink_embeddings.mjs " + in + " " + js +
                            (f16 ? " --f16" : "") + " 2> /dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    ASSERT_TRUE(WriteWordVectors(cc, utf8, v, 4, type).ok());
    const std::string a = ReadAll(js), b = ReadAll(cc);
    EXPECT_GT(a.size(), 80u);
    EXPECT_TRUE(a == b) << (f16 ? "f16" : "int8") << ": " << a.size() << " vs " << b.size();
    ::unlink(js.c_str());
    ::unlink(cc.c_str());
  }
  ::unlink(in.c_str());
}

// The real vectors, when scripts/fetch-word-vectors.sh has been run.
std::string RealVectorsPath() {
  if (const char* env = std::getenv("DEJA_WORD_VECTORS")) return env;
  return std::string(DEJA_SOURCE_DIR) + "/build/word-vectors/wink-sg-100d.dwv";
}

TEST(WordsEmbedderTest, RealVectorsWhenPresent) {
  const std::string path = RealVectorsPath();
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    GTEST_SKIP() << "no word vectors at " << path
                 << " (run scripts/fetch-word-vectors.sh, or set DEJA_WORD_VECTORS)";
  }
  StatusOr<std::unique_ptr<Embedder>> e = LoadWordsEmbedder(path);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ((*e)->dimensions(), 100);
  auto cos = [&](std::string_view a, std::string_view b) {
    std::vector<float> x, y;
    EXPECT_TRUE((*e)->Embed(a, &x).ok());
    EXPECT_TRUE((*e)->Embed(b, &y).ok());
    double s = 0;
    for (size_t i = 0; i < x.size(); ++i) s += static_cast<double>(x[i]) * y[i];
    return s;
  };
  // Paraphrases with no content word in common score above a topical near-miss.
  EXPECT_GT(cos("how do I cook pasta", "a recipe for spaghetti"),
            cos("how do I cook pasta", "stock market news today") + 0.2);
  EXPECT_GT(cos("king", "queen"), cos("king", "banana") + 0.3);
  EXPECT_GT(cos("cheap flights to paris", "inexpensive airfare to paris"), 0.7);
}

}  // namespace
}  // namespace deja::semantic
