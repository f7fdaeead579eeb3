// BERT tokenization against all-MiniLM-L6-v2's real tokenizer files (shared/testdata/
// minilm-tokenizer: tokenizer.json, vocab.txt, tokenizer_config.json; no weights). Expected ids
// are read from vocab.txt by token, so each case says which tokens it expects. Also the exact
// Unicode helpers of bert_text.h.
#include "semantic/bert_tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "semantic/bert_text.h"
#include "semantic/model_dir.h"

namespace deja::semantic {
namespace {

using testing::ElementsAre;
using testing::ElementsAreArray;

const std::string kDir = std::string(DEJA_SHARED_DIR) + "/testdata/minilm-tokenizer";

#define REQUIRE_MINILM()                                                              \
  if (!FileExists(kDir + "/tokenizer.json") || !FileExists(kDir + "/vocab.txt")) {    \
    GTEST_SKIP() << "MiniLM tokenizer files not found under " << kDir                 \
                 << " (shared reference data; set DEJA_SHARED_DIR when configuring)"; \
  }

class MiniLmTokenizerTest : public testing::Test {
 protected:
  // Loaded once for the suite (a 30k-token vocabulary twice: ~0.1 s).
  static void SetUpTestSuite() {
    if (!FileExists(kDir + "/tokenizer.json") || !FileExists(kDir + "/vocab.txt")) return;
    auto from_json = BertTokenizer::FromTokenizerJson(kDir + "/tokenizer.json");
    auto from_vocab =
        BertTokenizer::FromVocabTxt(kDir + "/vocab.txt", kDir + "/tokenizer_config.json");
    if (from_json.ok()) json_ = std::move(*from_json).release();
    if (from_vocab.ok()) vocab_ = std::move(*from_vocab).release();
    std::ifstream in(kDir + "/vocab.txt");
    std::string line;
    for (uint32_t id = 0; std::getline(in, line); ++id) vocab_ids_[line] = id;
  }
  static void TearDownTestSuite() {
    delete json_;
    delete vocab_;
    json_ = vocab_ = nullptr;
  }

  void SetUp() override {
    REQUIRE_MINILM();
    ASSERT_NE(json_, nullptr) << "tokenizer.json failed to load";
    ASSERT_NE(vocab_, nullptr) << "vocab.txt failed to load";
  }

  // The id of `token` in vocab.txt (fails the test if it is absent).
  uint32_t Id(const std::string& token) {
    auto it = vocab_ids_.find(token);
    EXPECT_NE(it, vocab_ids_.end()) << token << " is not in vocab.txt";
    return it == vocab_ids_.end() ? 0 : it->second;
  }

  // [CLS] + ids of `tokens` + [SEP].
  std::vector<uint32_t> Expect(const std::vector<std::string>& tokens) {
    std::vector<uint32_t> ids{101};
    for (const std::string& t : tokens) ids.push_back(Id(t));
    ids.push_back(102);
    return ids;
  }

  // Encodes with both tokenizers, checks they agree, returns the ids.
  std::vector<uint32_t> Both(std::string_view text, size_t max_tokens = 512) {
    std::vector<uint32_t> a, b;
    json_->Encode(text, max_tokens, &a);
    vocab_->Encode(text, max_tokens, &b);
    EXPECT_EQ(a, b) << "tokenizer.json and vocab.txt disagree on \"" << text << "\"";
    return a;
  }

  static inline BertTokenizer* json_ = nullptr;
  static inline BertTokenizer* vocab_ = nullptr;
  static inline std::unordered_map<std::string, uint32_t> vocab_ids_;
};

TEST(BertTokenizerLoadTest, BothSourcesLoad) {
  REQUIRE_MINILM();
  auto a = BertTokenizer::FromTokenizerJson(kDir + "/tokenizer.json");
  EXPECT_TRUE(a.ok()) << a.status().ToString();
  auto b = BertTokenizer::FromVocabTxt(kDir + "/vocab.txt", kDir + "/tokenizer_config.json");
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  auto c = BertTokenizer::LoadDir(kDir);  // Prefers tokenizer.json.
  EXPECT_TRUE(c.ok()) << c.status().ToString();
}

TEST_F(MiniLmTokenizerTest, WellKnownIds) {
  EXPECT_THAT(Both("hello world"), ElementsAre(101, 7592, 2088, 102));
  EXPECT_THAT(Both("Hello, World!"), ElementsAre(101, 7592, 1010, 2088, 999, 102));
  EXPECT_THAT(Both(""), ElementsAre(101, 102));
  EXPECT_THAT(json_->prefix_ids(), ElementsAre(101));
  EXPECT_THAT(json_->suffix_ids(), ElementsAre(102));
  EXPECT_EQ(json_->id_limit(), 30522u);
}

TEST_F(MiniLmTokenizerTest, AccentsAreStrippedAndCaseFolded) {
  EXPECT_EQ(Both("café"), Expect({"cafe"}));
  EXPECT_EQ(Both("CAFÉ"), Expect({"cafe"}));
  EXPECT_EQ(Both("cafe\xCC\x81"), Expect({"cafe"}));  // Decomposed: e + U+0301.
  EXPECT_EQ(Both("Ñandú"), Both("nandu"));
  EXPECT_EQ(Both("ΆΘΗΝΑ"), Both("αθηνα"));               // Greek: tonos stripped, lower-cased.
  EXPECT_EQ(Both("\xC4\xB0stanbul"), Both("istanbul"));  // U+0130: I + dot above, dot stripped.
}

TEST_F(MiniLmTokenizerTest, WordPieceSubwords) {
  EXPECT_EQ(Both("unaffable"), Expect({"una", "##ffa", "##ble"}));
  EXPECT_EQ(Both("tokenization"), Expect({"token", "##ization"}));
  EXPECT_EQ(Both("cafeteria cafes"), Expect({"cafeteria", "cafes"}));
}

TEST_F(MiniLmTokenizerTest, CjkCharactersAreSeparateWords) {
  EXPECT_EQ(Both("中国"), Expect({"中", "国"}));
  EXPECT_EQ(Both("日本中国"), Expect({"日", "本", "中", "国"}));
  EXPECT_EQ(Both("hello中国world"), Expect({"hello", "中", "国", "world"}));
}

TEST_F(MiniLmTokenizerTest, PunctuationIsSplitOff) {
  EXPECT_EQ(Both("don't"), Expect({"don", "'", "t"}));
  EXPECT_EQ(Both("a-b_c"), Expect({"a", "-", "b", "_", "c"}));
  EXPECT_EQ(Both("wait...what?!"), Expect({"wait", ".", ".", ".", "what", "?", "!"}));
  EXPECT_EQ(Both("$5+3=8"), Expect({"$", "5", "+", "3", "=", "8"}));  // ASCII symbols too.
  EXPECT_EQ(Both("«yes»"), Expect({"«", "yes", "»"}));                // Unicode Pi / Pf.
}

TEST_F(MiniLmTokenizerTest, UnknownsControlsAndWhitespace) {
  EXPECT_THAT(Both("\xF0\x9F\x99\x82"), ElementsAre(101, 100, 102));     // U+1F642, not in vocab.
  EXPECT_THAT(Both(std::string(101, 'a')), ElementsAre(101, 100, 102));  // > 100 characters.
  EXPECT_NE(Both(std::string(100, 'a'))[1], 100u);  // 100 characters: still word pieces.
  // Zero-width space (Cf) and BEL (Cc) vanish inside a word; tabs and newlines split.
  EXPECT_EQ(Both("hel\xE2\x80\x8Blo wor\x07ld"), Expect({"hello", "world"}));
  EXPECT_EQ(Both("hello\tworld\nhello\xC2\xA0world"), Expect({"hello", "world", "hello", "world"}));
  // Special tokens written in the text are recognized as such.
  EXPECT_THAT(Both("[CLS] hello [MASK]"), ElementsAre(101, 101, 7592, 103, 102));
}

TEST_F(MiniLmTokenizerTest, TruncatesContentKeepingSpecialTokens) {
  EXPECT_THAT(Both("hello world hello world", 4), ElementsAre(101, 7592, 2088, 102));
  EXPECT_THAT(Both("hello world", 2), ElementsAre(101, 102));
  // A long text is tokenized from a prefix; the result equals the full tokenization truncated.
  std::string long_text;
  for (int i = 0; i < 3000; ++i) long_text += i % 7 == 0 ? "caf\xC3\xA9, " : "unaffable ";
  const std::vector<uint32_t> ids = Both(long_text, 256);
  std::vector<uint32_t> full;
  json_->tokenizer().Encode(long_text, &full);
  ASSERT_GT(full.size(), 254u);
  full.resize(254);
  full.insert(full.begin(), 101);
  full.push_back(102);
  EXPECT_EQ(ids, full);
}

TEST(BertTokenizerLoadTest, MissingFilesAreNotFound) {
  auto t = BertTokenizer::LoadDir(testing::TempDir() + "/no-such-model-dir");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kNotFound);
}

TEST(BertTextTest, CharacterClasses) {
  EXPECT_TRUE(IsBertPunctuation(U'$'));        // ASCII symbol (Sc) counts.
  EXPECT_TRUE(IsBertPunctuation(U'\u00BF'));   // ¿ Po
  EXPECT_TRUE(IsBertPunctuation(U'\u2014'));   // — Pd
  EXPECT_TRUE(IsBertPunctuation(U'\u3002'));   // 。 Po
  EXPECT_FALSE(IsBertPunctuation(U'\u20AC'));  // € Sc outside ASCII: not punctuation.
  EXPECT_FALSE(IsBertPunctuation(U'\u00E9'));
  EXPECT_TRUE(IsBertControl(U'\u200B'));  // Cf
  EXPECT_TRUE(IsBertControl(U'\x07'));    // Cc
  EXPECT_TRUE(IsBertControl(U'\uE000'));  // Co
  EXPECT_TRUE(IsBertControl(U'\u0378'));  // Cn (unassigned)
  EXPECT_FALSE(IsBertControl(U'\t'));
  EXPECT_FALSE(IsBertControl(U'a'));
}

TEST(BertTextTest, NormalizationAndCase) {
  EXPECT_EQ(UnicodeNormalize("e\xCC\x81", UnicodeForm::kNfc), "\xC3\xA9");
  EXPECT_EQ(UnicodeNormalize("\xC3\xA9", UnicodeForm::kNfd), "e\xCC\x81");
  EXPECT_EQ(UnicodeNormalize("\xEF\xAC\x81", UnicodeForm::kNfkc), "fi");  // U+FB01 ligature.
  EXPECT_EQ(LowercaseFull("\xC4\xB0"), "i\xCC\x87");                      // İ -> i + U+0307.
  EXPECT_EQ(LowercaseFull("\xD0\x96\xCE\xA3"), "\xD0\xB6\xCF\x83");       // Ж Σ -> ж σ.
  EXPECT_EQ(RemoveCombiningMarks("e\xCC\x81"), "e");
  EXPECT_EQ(RemoveCombiningMarks("\xC3\xA9"), "\xC3\xA9");  // Precomposed: no mark to drop.
  BertNormalizerOptions o;
  // Hangul syllables decompose to jamo under NFD (as in Hugging Face's uncased BERT).
  EXPECT_EQ(BertNormalize("\xED\x95\x9C", o), "\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB");
  EXPECT_EQ(BertNormalize("A\xE4\xB8\xAD"
                          "b",
                          o),
            "a \xE4\xB8\xAD b");
  o.lowercase = false;
  o.strip_accents = false;
  EXPECT_EQ(BertNormalize("Caf\xC3\xA9\x01", o), "Caf\xC3\xA9");
  EXPECT_EQ(BertNormalize("bad\xFF", o), "bad");  // Invalid UTF-8 reads as U+FFFD, dropped.
}

}  // namespace
}  // namespace deja::semantic
