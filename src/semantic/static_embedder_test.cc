// The static (model2vec) embedder against the model2vec-rs test fixtures in shared/ and the golden
// outputs the reference Python library produced for them.
#include "semantic/static_embedder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/json.h"
#include "semantic/hf_tokenizer.h"

namespace deja::semantic {
namespace {

const std::string kFixtures = std::string(DEJA_SHARED_DIR) + "/testdata/model2vec";

bool FixturesPresent() {
  struct stat st;
  return ::stat((kFixtures + "/test-model-float32/model.safetensors").c_str(), &st) == 0;
}

#define SKIP_WITHOUT_FIXTURES()                                                        \
  if (!FixturesPresent()) {                                                            \
    GTEST_SKIP() << "model2vec fixtures not found under " << kFixtures                 \
                 << " (shared/ must sit beside the checkout, or set DEJA_SHARED_DIR)"; \
  }

std::vector<float> Golden(const std::string& name) {
  std::ifstream in(kFixtures + "/" + name);
  std::ostringstream buf;
  buf << in.rdbuf();
  StatusOr<json::Value> doc = json::Parse(buf.str());
  EXPECT_TRUE(doc.ok()) << name;
  std::vector<float> out;
  if (!doc.ok()) return out;
  for (const json::Value& x : doc->as_array().at(0).as_array()) {
    out.push_back(static_cast<float>(x.as_number()));
  }
  return out;
}

std::unique_ptr<Embedder> Load(const std::string& model) {
  StatusOr<std::unique_ptr<Embedder>> e = LoadStaticEmbedder(kFixtures + "/" + model);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? std::move(*e) : nullptr;
}

std::vector<float> Embed(const Embedder& e, const std::string& text) {
  std::vector<float> v;
  EXPECT_TRUE(e.Embed(text, &v).ok());
  return v;
}

std::string Hellos(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += i == 0 ? "hello" : " hello";
  return s;
}

// Largest |a-b| / max(|b|, 1e-6) over the components; sizes must match.
double MaxRelativeError(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - b[i]) /
                                std::max(std::fabs(static_cast<double>(b[i])), 1e-6));
  }
  return worst;
}

double Dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

// model2vec-rs's test_rust_matches_python: "hello world" -> embeddings_short.json and "hello" x
// 1000 (joined by spaces) -> embeddings_long.json, with test-model-float32. Each golden is also
// checked not to match the other text, so a mix-up fails. The long text pools 512 identical rows;
// summing them in float32, in order, as the reference does, moves the result ~5e-6 away from the
// pure "hello" direction, and that is reproduced too (the observed error is ~1e-7).
TEST(StaticEmbedderTest, MatchesPythonGoldenFloat32) {
  SKIP_WITHOUT_FIXTURES();
  auto e = Load("test-model-float32");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->dimensions(), 2);
  const std::vector<float> hello_world = Embed(*e, "hello world");
  const std::vector<float> long_text = Embed(*e, Hellos(1000));
  const std::vector<float> golden_short = Golden("embeddings_short.json");
  const std::vector<float> golden_long = Golden("embeddings_long.json");
  EXPECT_LT(MaxRelativeError(hello_world, golden_short), 1e-6);
  EXPECT_LT(MaxRelativeError(long_text, golden_long), 1e-6);
  EXPECT_GT(MaxRelativeError(hello_world, golden_long), 1e-2);
  EXPECT_GT(MaxRelativeError(long_text, golden_short), 1e-2);
  // Pooling the pure "hello" row once is measurably off the long golden: the float32 detail
  // above matters.
  EXPECT_GT(MaxRelativeError(Embed(*e, "hello"), golden_long), 2e-6);
  // The long text hits the 512-token cap: only that many hellos are pooled.
  EXPECT_EQ(StaticEmbedderTokenIds(*e, Hellos(1000)).size(), 512u);
}

TEST(StaticEmbedderTest, MatchesPythonGoldenVocabQuantized) {
  SKIP_WITHOUT_FIXTURES();
  auto e = Load("test-model-vocab-quantized");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->dimensions(), 64);
  const std::vector<float> golden = Golden("embeddings_vocab_quantized.json");
  ASSERT_EQ(golden.size(), 64u);
  // float64 weights: the reference averages in float64, and so does deja here.
  EXPECT_LT(MaxRelativeError(Embed(*e, Hellos(1000)), golden), 1e-6);
}

TEST(StaticEmbedderTest, QuantizedVariantsAgreeWithFloat32) {
  SKIP_WITHOUT_FIXTURES();
  auto f32 = Load("test-model-float32");
  auto f16 = Load("test-model-float16");
  auto i8 = Load("test-model-int8");
  auto st = Load("test-model-sentence-transformers");
  ASSERT_TRUE(f32 && f16 && i8 && st);
  for (const char* text : {"hello world", "world test sentence", "the quick brown fox"}) {
    const std::vector<float> ref = Embed(*f32, text);
    EXPECT_EQ(Embed(*st, text), ref) << text;  // Same weights, sentence-transformers layout.
    EXPECT_GT(Dot(Embed(*f16, text), ref), 0.9999) << text;
    EXPECT_GT(Dot(Embed(*i8, text), ref), 0.999) << text;
  }
}

TEST(StaticEmbedderTest, OutputIsUnitLengthOrZero) {
  SKIP_WITHOUT_FIXTURES();
  auto e = Load("test-model-vocab-quantized");
  ASSERT_NE(e, nullptr);
  const std::vector<float> v = Embed(*e, "How do I sort a list of dictionaries by a key?");
  EXPECT_NEAR(Dot(v, v), 1.0, 1e-5);
  const std::vector<float> empty = Embed(*e, "");
  EXPECT_EQ(empty, std::vector<float>(64, 0.0f));
}

TEST(StaticEmbedderTest, WordPieceTokenizationOfFixture) {
  SKIP_WITHOUT_FIXTURES();
  auto tok = Tokenizer::Load(kFixtures + "/test-model-float32/tokenizer.json");
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  auto id = [&](const char* t) { return *(*tok)->TokenToId(t); };
  std::vector<uint32_t> ids;
  (*tok)->Encode("Hello, WORLD!", &ids);
  EXPECT_THAT(ids, testing::ElementsAre(id("hello"), id(","), id("world"), id("!")));
  ids.clear();
  // Accents are stripped (BertNormalizer with strip_accents null and lowercase on); an added
  // token in the text is matched as itself.
  (*tok)->Encode("Café [CLS]", &ids);
  EXPECT_THAT(ids, testing::ElementsAre(id("cafe"), id("[CLS]")));
}

TEST(StaticEmbedderTest, UnknownTokensAreDropped) {
  SKIP_WITHOUT_FIXTURES();
  auto e = Load("test-model-float32");
  ASSERT_NE(e, nullptr);
  // U+1F600 is not in the BERT vocabulary: "[UNK]" is produced, then removed before pooling.
  EXPECT_EQ(Embed(*e, "hello \xF0\x9F\x98\x80"), Embed(*e, "hello"));
  EXPECT_EQ(StaticEmbedderTokenIds(*e, "\xF0\x9F\x98\x80").size(), 0u);
}

TEST(StaticEmbedderTest, MissingDirectoryIsNotFound) {
  StatusOr<std::unique_ptr<Embedder>> e = LoadStaticEmbedder("/nonexistent/model");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(e.status().message(), testing::HasSubstr("tokenizer.json"));
}

}  // namespace
}  // namespace deja::semantic
