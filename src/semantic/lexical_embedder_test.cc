#include "semantic/lexical_embedder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace deja::semantic {
namespace {

std::vector<float> Embed(const Embedder& e, std::string_view text) {
  std::vector<float> v;
  EXPECT_TRUE(e.Embed(text, &v).ok());
  return v;
}

double Cos(const Embedder& e, std::string_view a, std::string_view b) {
  const std::vector<float> x = Embed(e, a), y = Embed(e, b);
  double s = 0;
  for (size_t i = 0; i < x.size(); ++i) s += static_cast<double>(x[i]) * y[i];
  return s;
}

TEST(LexicalEmbedderTest, UnitLengthOfTheRequestedSize) {
  auto e = NewLexicalEmbedder(256);
  EXPECT_EQ(e->name(), "lexical");
  EXPECT_EQ(e->dimensions(), 256);
  const std::vector<float> v = Embed(*e, "How do I reverse a linked list in C++?");
  ASSERT_EQ(v.size(), 256u);
  double norm = 0;
  for (float x : v) norm += static_cast<double>(x) * x;
  EXPECT_NEAR(norm, 1.0, 1e-5);
  EXPECT_EQ(Embed(*NewLexicalEmbedder(1024), "abc").size(), 1024u);
}

TEST(LexicalEmbedderTest, NothingToEmbedIsTheZeroVector) {
  auto e = NewLexicalEmbedder(128);
  EXPECT_EQ(Embed(*e, ""), std::vector<float>(128, 0.0f));
  EXPECT_EQ(Embed(*e, " ?!... \t"), std::vector<float>(128, 0.0f));
}

TEST(LexicalEmbedderTest, CaseAccentsAndPunctuationDoNotMatter) {
  auto e = NewLexicalEmbedder(256);
  EXPECT_NEAR(Cos(*e, "What is the CAFÉ's address?", "what is the cafes address"), 1.0, 1e-6);
  EXPECT_NEAR(Cos(*e, "don't", "dont"), 1.0, 1e-6);
}

TEST(LexicalEmbedderTest, RewordingsScoreAboveUnrelatedQuestions) {
  auto e = NewLexicalEmbedder(256);
  const double reworded =
      Cos(*e, "How do I reverse a list in Python?", "how to reverse a python list");
  // One misspelt content word keeps most of the similarity through the shared n-grams.
  const double typo =
      Cos(*e, "How do I reverse a list in Python?", "How do I reverse a list in Pyhton?");
  const double unrelated =
      Cos(*e, "How do I reverse a list in Python?", "What is the capital of France?");
  EXPECT_GT(reworded, 0.6);
  EXPECT_GT(typo, 0.6);
  EXPECT_LT(unrelated, 0.3);
  EXPECT_GT(reworded, unrelated + 0.3);
}

TEST(LexicalEmbedderTest, WordOrderAndNumbersCount) {
  auto e = NewLexicalEmbedder(1024);
  // Same bag of words, different order: bigrams tell them apart.
  EXPECT_LT(Cos(*e, "dog bites man", "man bites dog"), 0.95);
  // Numbers get no character n-grams: 2023 and 2024 share nothing beyond the other words.
  const double years = Cos(*e, "tax rules 2023", "tax rules 2024");
  const double same = Cos(*e, "tax rules 2023", "tax rules 2023");
  EXPECT_LT(years, 0.85);
  EXPECT_NEAR(same, 1.0, 1e-6);
}

TEST(LexicalEmbedderTest, StopwordsWeighLittle) {
  auto e = NewLexicalEmbedder(1024);
  // Differing only in stopwords keeps most of the similarity; differing in a content word not.
  const double stop = Cos(*e, "the capital of france", "capital france");
  const double content = Cos(*e, "the capital of france", "the capital of spain");
  EXPECT_GT(stop, content);
  EXPECT_TRUE(IsStopword("the"));
  EXPECT_TRUE(IsStopword("a"));
  EXPECT_TRUE(IsStopword("yourselves"));
  EXPECT_FALSE(IsStopword("not"));  // Negation changes meaning.
  EXPECT_FALSE(IsStopword("python"));
}

TEST(LexicalEmbedderTest, WordSplitting) {
  std::string buffer;
  std::vector<std::string_view> words;
  LexicalWords("It's 3pm — Ünïcode, naïve café’s DATA_set!", &buffer, &words);
  EXPECT_THAT(words,
              testing::ElementsAre("its", "3pm", "unicode", "naive", "cafes", "data", "set"));
}

TEST(LexicalEmbedderTest, ConcurrentCallsAgree) {
  auto e = NewLexicalEmbedder(256);
  const std::vector<float> expected = Embed(*e, "a question asked from many threads at once");
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        std::vector<float> v;
        if (!e->Embed("a question asked from many threads at once", &v).ok() || v != expected) {
          ++mismatches[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_THAT(mismatches, testing::Each(0));
}

}  // namespace
}  // namespace deja::semantic
