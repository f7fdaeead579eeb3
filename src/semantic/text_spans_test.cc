#include "semantic/text_spans.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "semantic/word_lists.h"

namespace deja::semantic {
namespace {

// "kind:value" for every span that is not a word or symbol, in order.
std::vector<std::string> Values(std::string_view text) {
  std::vector<std::string> out;
  for (const Span& s : ScanSpans(text)) {
    if (s.kind == SpanKind::kWord || s.kind == SpanKind::kSymbol) continue;
    out.push_back(std::string(SpanKindName(s.kind)) + ":" + s.value);
  }
  return out;
}

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(TextSpansTest, WordsSymbolsAndOffsets) {
  const std::string text = "Don't sort, Python's list!";
  const std::vector<Span> spans = ScanSpans(text);
  ASSERT_EQ(spans.size(), 6u);
  EXPECT_EQ(spans[0].Raw(text), "Don't");
  EXPECT_TRUE(spans[0].sentence_start);
  EXPECT_EQ(spans[1].Raw(text), "sort");
  EXPECT_FALSE(spans[1].sentence_start);
  EXPECT_EQ(spans[2].kind, SpanKind::kSymbol);
  EXPECT_EQ(spans[3].Raw(text), "Python's");
  EXPECT_EQ(spans[4].Raw(text), "list");
  EXPECT_EQ(spans[5].Raw(text), "!");
}

TEST(TextSpansTest, SentenceStarts) {
  const std::string text = "Hi there. Where is Paris? e.g. Rome\nNew line: Next";
  std::vector<std::string> starts;
  for (const Span& s : ScanSpans(text)) {
    if (s.sentence_start) starts.emplace_back(s.Raw(text));
  }
  // "e.g." does not end a sentence; "Rome" therefore is not a sentence start.
  EXPECT_THAT(starts, ElementsAre("Hi", "Where", "e", "New", "Next"));
}

TEST(TextSpansTest, NumbersAreNormalized) {
  EXPECT_THAT(Values("5 5.0 5.00 5.000 1,000 1,000,000.5 3.10 007, -4 +4 0.5"),
              ElementsAre("number:5", "number:5", "number:5", "number:5.000", "number:1000",
                          "number:1000000.5", "number:3.10", "number:007", "number:-4", "number:4",
                          "number:0.5"));
  // A comma not followed by exactly three digits separates numbers.
  EXPECT_THAT(Values("1,2,3"), ElementsAre("number:1", "number:2", "number:3"));
}

TEST(TextSpansTest, MinusIsASignOnlyWhereNothingPrecedesIt) {
  EXPECT_THAT(Values("5-3"), ElementsAre("number:5", "number:3"));
  EXPECT_THAT(Values("5 - 3"), ElementsAre("number:5", "number:3"));
  EXPECT_THAT(Values("x = -3"), ElementsAre("number:-3"));
  EXPECT_THAT(Values("(-3)"), ElementsAre("number:-3"));
}

TEST(TextSpansTest, OrdinalsUnitsAndIdentifiers) {
  const std::vector<Span> spans = ScanSpans("the 3rd");
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_TRUE(spans[1].ordinal);
  EXPECT_EQ(spans[1].value, "3");
  // A glued unit splits off; other glued letters make one identifier.
  EXPECT_THAT(Values("5kg 4K 4-year-old python3 gpt-4o ORD-12345 my_var"),
              ElementsAre("number:5", "alnum:4K", "alnum:4-year-old", "alnum:python3",
                          "alnum:gpt-4o", "alnum:ORD-12345", "alnum:my_var"));
}

TEST(TextSpansTest, Dates) {
  EXPECT_THAT(Values("2024-03-04"), ElementsAre("date:2024-03-04"));
  EXPECT_THAT(Values("2024/3/4"), ElementsAre("date:2024-03-04"));
  EXPECT_THAT(Values("March 3 2024"), ElementsAre("date:2024-03-03"));
  EXPECT_THAT(Values("March 3rd, 2024"), ElementsAre("date:2024-03-03"));
  EXPECT_THAT(Values("3 March 2024"), ElementsAre("date:2024-03-03"));
  EXPECT_THAT(Values("the 3rd of March"), ElementsAre("date:xxxx-03-03"));
  EXPECT_THAT(Values("Jan. 5"), ElementsAre("date:xxxx-01-05"));
  EXPECT_THAT(Values("in September 2023"), ElementsAre("date:2023-09"));
  EXPECT_THAT(Values("03/04/2024"), ElementsAre("date:n3/4/2024"));
  EXPECT_THAT(Values("3-4-2024"), ElementsAre("date:n3/4/2024"));
  // "may" and "march" are words unless capitalized.
  EXPECT_THAT(Values("you may 2 times"), ElementsAre("number:2"));
  EXPECT_THAT(Values("May 2"), ElementsAre("date:xxxx-05-02"));
  // A fraction is not a date.
  EXPECT_THAT(Values("3/4"), ElementsAre("number:3", "number:4"));
}

TEST(TextSpansTest, TimesAndDayWords) {
  EXPECT_THAT(Values("14:30"), ElementsAre("date:t14:30"));
  EXPECT_THAT(Values("2:30 pm"), ElementsAre("date:t14:30"));
  EXPECT_THAT(Values("3pm"), ElementsAre("date:t15:00"));
  EXPECT_THAT(Values("11 a.m."), ElementsAre("date:t11:00"));
  EXPECT_THAT(Values("12am"), ElementsAre("date:t00:00"));
  EXPECT_THAT(Values("10:00:05"), ElementsAre("date:t10:00:05"));
  EXPECT_THAT(Values("2024-03-04T10:15"), ElementsAre("date:2024-03-04", "date:t10:15"));
  EXPECT_THAT(Values("Monday or tomorrow"), ElementsAre("day:monday", "day:tomorrow"));
  // Not times: a ratio with a one-digit part, "5 amazing".
  EXPECT_THAT(Values("16:9"), ElementsAre("number:16", "number:9"));
  EXPECT_THAT(Values("5 amazing"), ElementsAre("number:5"));
}

TEST(TextSpansTest, Quotes) {
  EXPECT_THAT(Values("say 'hello world' and \"bye\""),
              ElementsAre("quoted:hello world", "quoted:bye"));
  EXPECT_THAT(Values("\xE2\x80\x9Csmart\xE2\x80\x9D \xE2\x80\x98single\xE2\x80\x99 `code`"),
              ElementsAre("quoted:smart", "quoted:single", "quoted:code"));
  // Apostrophes inside words and possessives do not open or close quotes.
  EXPECT_THAT(Values("the students' books aren't 'don't panic' here"),
              ElementsAre("quoted:don't panic"));
  EXPECT_THAT(Values("a 5\" screen"), ElementsAre("number:5"));
  // Unclosed, empty, or across a line break: no quote.
  EXPECT_THAT(Values("it's 'open"), IsEmpty());
  EXPECT_THAT(Values("\"\" and \"a\nb\""), IsEmpty());
  // Offsets cover the content, so replacing it keeps the quote marks.
  const std::string text = "{\"id\":\"12345\"}";
  const std::vector<Span> spans = ScanSpans(text);
  ASSERT_EQ(spans.size(), 5u);
  EXPECT_EQ(spans[3].kind, SpanKind::kQuoted);
  EXPECT_EQ(text.substr(spans[3].begin - 1, spans[3].end - spans[3].begin + 2), "\"12345\"");
}

TEST(TextSpansTest, EmailsUrlsUuids) {
  EXPECT_THAT(Values("mail John.Doe@Example.com, or see https://example.com/a?b=1."),
              ElementsAre("email:john.doe@example.com", "url:https://example.com/a?b=1"));
  EXPECT_THAT(Values("(see www.example.org/x_(y))"), ElementsAre("url:www.example.org/x_(y)"));
  EXPECT_THAT(Values("id 550E8400-e29b-41d4-a716-446655440000 ok"),
              ElementsAre("uuid:550e8400-e29b-41d4-a716-446655440000"));
  EXPECT_THAT(Values("not@an-email"), ElementsAre());
}

TEST(TextSpansTest, NonAsciiLettersAndBadBytes) {
  const std::string text = "Café Zürich \xFF\xFE 5";
  const std::vector<Span> spans = ScanSpans(text);
  ASSERT_EQ(spans.size(), 5u);
  EXPECT_EQ(spans[0].Raw(text), "Café");
  EXPECT_EQ(spans[1].Raw(text), "Zürich");
  EXPECT_EQ(spans[2].kind, SpanKind::kSymbol);
  EXPECT_EQ(spans[4].value, "5");
}

TEST(TextSpansTest, WordLists) {
  EXPECT_EQ(CanonicalUnit("kilograms"), "kg");
  EXPECT_EQ(CanonicalUnit("miles"), "mi");
  EXPECT_EQ(CanonicalUnit("percent"), "%");
  EXPECT_EQ(CanonicalUnit("apples"), "");
  EXPECT_EQ(NumberWordValue("five"), "5");
  EXPECT_EQ(NumberWordValue("one"), "");
  EXPECT_EQ(MonthOf("Sept", "sept"), 9);
  EXPECT_EQ(MonthOf("may", "may"), 0);
  EXPECT_EQ(MonthOf("May", "may"), 5);
  EXPECT_TRUE(IsDayWord("tomorrow"));
  EXPECT_TRUE(IsAbbreviation("dr"));
}

}  // namespace
}  // namespace deja::semantic

namespace deja::semantic {
namespace {

// Random text from characters that exercise every branch (quotes, digits, separators, signs,
// multi-byte letters and punctuation, invalid bytes): spans stay in bounds, ordered, disjoint.
TEST(TextSpansTest, RandomInputKeepsSpansOrderedAndInBounds) {
  const std::vector<std::string> pieces = {"a",
                                           "Z",
                                           "7",
                                           "0",
                                           " ",
                                           "\n",
                                           ".",
                                           ",",
                                           ":",
                                           "-",
                                           "+",
                                           "/",
                                           "'",
                                           "\"",
                                           "`",
                                           "@",
                                           "#",
                                           "%",
                                           "$",
                                           "_",
                                           "http://",
                                           "www.",
                                           "May",
                                           "March",
                                           "3rd",
                                           "pm",
                                           "a.m.",
                                           "2024-",
                                           "\xE2\x80\x9C",
                                           "\xE2\x80\x9D",
                                           "\xE2\x80\x99",
                                           "\xC3\xA9",
                                           "\xFF",
                                           "\xE2\x82\xAC",
                                           "n't",
                                           "of",
                                           "T1"};
  uint64_t state = 42;
  auto next = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state >> 33;
  };
  for (int round = 0; round < 3000; ++round) {
    std::string text;
    const size_t len = next() % 40;
    for (size_t i = 0; i < len; ++i) text += pieces[next() % pieces.size()];
    const std::vector<Span> spans = ScanSpans(text);
    uint32_t prev_end = 0;
    for (const Span& s : spans) {
      ASSERT_LE(prev_end, s.begin) << text;
      ASSERT_LT(s.begin, s.end) << text;
      ASSERT_LE(s.end, text.size()) << text;
      prev_end = s.end;
    }
  }
}

}  // namespace
}  // namespace deja::semantic
