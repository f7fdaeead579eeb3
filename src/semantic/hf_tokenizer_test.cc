// Tokenizer components on small hand-written tokenizer.json documents, where every expected id
// can be worked out by hand.
#include "semantic/hf_tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "semantic/text.h"

namespace deja::semantic {
namespace {

using testing::ElementsAre;

std::unique_ptr<Tokenizer> Make(const std::string& json) {
  StatusOr<std::unique_ptr<Tokenizer>> t = Tokenizer::FromJson(json);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::move(*t) : nullptr;
}

std::vector<uint32_t> Ids(const Tokenizer& t, std::string_view text) {
  std::vector<uint32_t> ids;
  t.Encode(text, &ids);
  return ids;
}

const char* kWordPiece = R"({
  "added_tokens": [{"id": 0, "content": "[UNK]", "special": true}],
  "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                 "strip_accents": null, "lowercase": true},
  "pre_tokenizer": {"type": "BertPreTokenizer"},
  "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 10,
            "vocab": {"[UNK]": 0, "un": 1, "##able": 2, "unable": 3, "##s": 4, "cache": 5,
                      "##ing": 6, ",": 7, "e": 8, "\u4e2d": 9, "a": 10}}
})";

TEST(WordPieceTest, GreedyLongestMatchFirst) {
  auto t = Make(kWordPiece);
  ASSERT_NE(t, nullptr);
  EXPECT_THAT(Ids(*t, "unable"), ElementsAre(3));       // Whole word beats un + ##able.
  EXPECT_THAT(Ids(*t, "unables"), ElementsAre(3, 4));   // Longest prefix, then ##s.
  EXPECT_THAT(Ids(*t, "CACHEING"), ElementsAre(5, 6));  // Lower-cased.
  EXPECT_THAT(Ids(*t, "cacheXYZ"), ElementsAre(0));     // One bad piece: the whole word is UNK.
  EXPECT_THAT(Ids(*t, "cache,cache"), ElementsAre(5, 7, 5));  // Punctuation is isolated.
  EXPECT_THAT(Ids(*t, "unableunable"), ElementsAre(0));  // 12 chars > max_input_chars_per_word.
}

TEST(WordPieceTest, NormalizerCleansAndIsolatesCjk) {
  auto t = Make(kWordPiece);
  ASSERT_NE(t, nullptr);
  // Control characters vanish, accents are stripped, tabs/newlines split, CJK is isolated.
  EXPECT_THAT(Ids(*t,
                  "c\x01"
                  "ache\t\xC3\xA9\n\xE4\xB8\xAD"
                  "a"),
              ElementsAre(5, 8, 9, 10));
  // An added token is matched in the raw text, before lower-casing.
  EXPECT_THAT(Ids(*t, "a[UNK]a"), ElementsAre(10, 0, 10));
  EXPECT_TRUE(Ids(*t, "   \t ").empty());
  EXPECT_EQ(*t->unk_id(), 0u);
  EXPECT_EQ(t->tokens()[5], "cache");
}

const char* kUnigram = R"({
  "added_tokens": [],
  "normalizer": {"type": "Sequence", "normalizers": [
      {"type": "Lowercase"},
      {"type": "Replace", "pattern": {"String": "!"}, "content": " ! "},
      {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "},
      {"type": "Strip", "strip_left": true, "strip_right": true}]},
  "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always",
                    "split": false},
  "model": {"type": "Unigram", "unk_id": 0, "byte_fallback": false, "vocab": [
      ["<unk>", 0.0], ["\u2581hello", -1.0], ["\u2581he", -2.0], ["llo", -2.0],
      ["\u2581", -3.0], ["h", -4.0], ["e", -4.0], ["l", -4.0], ["o", -4.0], ["\u2581!", -1.5],
      ["\u2581world", -1.0], ["\u2581hell", -0.5], ["o\u2581", -0.4]]}
})";

TEST(UnigramTest, ViterbiPicksTheBestSegmentation) {
  auto t = Make(kUnigram);
  ASSERT_NE(t, nullptr);
  // "▁hello": ▁hello (-1) beats ▁he+llo (-4) and ▁hell+o (-4.5).
  EXPECT_THAT(Ids(*t, "hello"), ElementsAre(1));
  // "▁hello▁world": ▁hell + o▁ + ... has no "world" piece without its ▁, so ▁hello ▁world wins.
  EXPECT_THAT(Ids(*t, "  HELLO   world "), ElementsAre(1, 10));
  // "!" is padded with spaces, so it becomes "▁!".
  EXPECT_THAT(Ids(*t, "hello!"), ElementsAre(1, 9));
}

TEST(UnigramTest, UncoveredCharactersBecomeOneFusedUnknown) {
  auto t = Make(kUnigram);
  ASSERT_NE(t, nullptr);
  // "▁hello▁zz": ▁hell + o▁ (-0.9) + <unk>(zz, fused; -14) beats ▁hello + ▁ (-4) + <unk>.
  EXPECT_THAT(Ids(*t, "hello zz"), ElementsAre(11, 12, 0));
  EXPECT_THAT(Ids(*t, "zz"), ElementsAre(4, 0));  // ▁ then the fused <unk>.
}

TEST(TokenizerTest, UnsupportedComponentsAreNamed) {
  StatusOr<std::unique_ptr<Tokenizer>> t =
      Tokenizer::FromJson(R"({"model": {"type": "BPE", "vocab": {}, "merges": []}})");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kUnimplemented);
  EXPECT_THAT(t.status().message(), testing::HasSubstr("BPE"));
  t = Tokenizer::FromJson(R"({"normalizer": {"type": "Precompiled"},
      "model": {"type": "WordPiece", "vocab": {"[UNK]": 0}}})");
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.status().message(), testing::HasSubstr("Precompiled"));
  t = Tokenizer::FromJson("{not json");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kDataLoss);
}

// Arbitrary bytes (invalid UTF-8, NULs, lone continuation bytes) must tokenize without reading
// out of bounds; run under the sanitizer build this is a small fuzz test.
TEST(TokenizerTest, ArbitraryBytesAreSafe) {
  auto wp = Make(kWordPiece);
  auto uni = Make(kUnigram);
  ASSERT_TRUE(wp && uni);
  uint64_t x = 0x9E3779B97F4A7C15ULL;
  const char alphabet[] = "ab helo!\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80\x80\xFF\t[UNK]";
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    const int len = round % 40;
    for (int i = 0; i < len; ++i) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      text.push_back(round % 2 ? static_cast<char>(x & 0xFF)
                               : alphabet[x % (sizeof(alphabet) - 1)]);
    }
    std::vector<uint32_t> ids;
    wp->Encode(text, &ids);
    uni->Encode(text, &ids);
    for (uint32_t id : ids) ASSERT_LT(id, 13u) << text;
  }
}

TEST(TextTest, Utf8AndCaseHelpers) {
  std::string s;
  for (char32_t cp : {U'a', U'\u00e9', U'\u4e2d', U'\U0001F600'}) AppendUtf8(cp, &s);
  EXPECT_EQ(s, "a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80");
  EXPECT_EQ(CountCodePoints(s), 4u);
  EXPECT_EQ(OffsetOfCodePoint(s, 2), 3u);
  size_t i = 0;
  EXPECT_EQ(DecodeUtf8("\xC0\x80", &i), 0xFFFDu);  // Overlong NUL is rejected.
  EXPECT_EQ(i, 1u);
  EXPECT_EQ(ToLowerSimple(U'\u00C9'), U'\u00E9');
  EXPECT_EQ(ToLowerSimple(U'\u0141'), U'\u0142');  // Ł -> ł (odd-upper block)
  EXPECT_EQ(ToLowerSimple(U'\u0100'), U'\u0101');
  EXPECT_EQ(ToLowerSimple(U'\u0416'), U'\u0436');  // Cyrillic Ж
  EXPECT_EQ(StripAccent(U'\u00E9'), U'e');
  EXPECT_EQ(StripAccent(U'\u0161'), U's');
  EXPECT_EQ(StripAccent(U'\u00F8'), U'\u00F8');  // ø has no canonical decomposition.
  EXPECT_TRUE(IsPunctuation(U'\u2014'));
  EXPECT_FALSE(IsPunctuation(U'\u00E9'));
  EXPECT_TRUE(IsWhitespace(U'\u3000'));
  EXPECT_TRUE(IsControl(U'\u200B'));
}

}  // namespace
}  // namespace deja::semantic
