#include "semantic/answer_template.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/json.h"

namespace deja::semantic {
namespace {

using ::testing::HasSubstr;
using ::testing::Optional;

constexpr std::string_view kQuestion = "What is the status of order 12345?";
constexpr std::string_view kAnswer = "Order 12345 has shipped.";

std::optional<std::string> Fill(std::string_view question, std::string_view answer,
                                std::string_view new_question, std::string* why = nullptr,
                                const TemplateOptions& options = {}) {
  return FillTemplate(MakeTemplate(question, answer), question, new_question, options, why);
}

TEST(AnswerTemplateTest, SlotsWithKindsAndPositions) {
  const std::string text =
      "Order #12345 for bob@x.com on 2024-03-04 at https://x.io/a, code 'ABC', "
      "key 550e8400-e29b-41d4-a716-446655440000, SKU-00123, 42 apples, python3";
  const std::vector<Slot> slots = ExtractSlots(text);
  std::vector<std::string> got;
  for (const Slot& s : slots) {
    got.push_back(std::string(SlotKindName(s.kind)) + ":" + s.value);
    EXPECT_FALSE(text.substr(s.begin, s.end - s.begin).empty());
  }
  EXPECT_THAT(got, ::testing::ElementsAre("id:12345", "email:bob@x.com", "date:2024-03-04",
                                          "url:https://x.io/a", "quoted:ABC",
                                          "id:550e8400-e29b-41d4-a716-446655440000", "id:SKU-00123",
                                          "number:42"));
  EXPECT_EQ(text.substr(slots[4].begin, slots[4].end - slots[4].begin), "ABC");
}

TEST(AnswerTemplateTest, IdWordsMakeNumbersIds) {
  for (std::string_view text :
       {"order 5", "ticket #5", "invoice no. 5", "case: 5", "#5", "flight number 5"}) {
    const std::vector<Slot> slots = ExtractSlots(text);
    ASSERT_EQ(slots.size(), 1u) << text;
    EXPECT_EQ(slots[0].kind, SlotKind::kId) << text;
  }
  EXPECT_EQ(ExtractSlots("add 5")[0].kind, SlotKind::kNumber);
}

TEST(AnswerTemplateTest, FillsTheNewId) {
  EXPECT_THAT(Fill(kQuestion, kAnswer, "What is the status of order 67890?"),
              Optional(std::string("Order 67890 has shipped.")));
  // Case, spacing and the final '?' do not count as differences.
  EXPECT_THAT(Fill(kQuestion, kAnswer, "what is  the status of ORDER 67890"),
              Optional(std::string("Order 67890 has shipped.")));
  // Nothing differs: the answer as it is.
  EXPECT_THAT(Fill(kQuestion, kAnswer, kQuestion), Optional(std::string(kAnswer)));
}

TEST(AnswerTemplateTest, EverySlotOccurrenceAndSeveralSlots) {
  EXPECT_THAT(Fill("Ship order 12345 to bob@example.com",
                   "Order 12345 will be shipped to bob@example.com; track 12345 online.",
                   "ship order 55555 to alice@example.org"),
              Optional(std::string(
                  "Order 55555 will be shipped to alice@example.org; track 55555 online.")));
}

TEST(AnswerTemplateTest, DifferingSlotMissingFromTheAnswerIsAMiss) {
  std::string why;
  EXPECT_EQ(Fill(kQuestion, "It has shipped.", "What is the status of order 67890?", &why),
            std::nullopt);
  EXPECT_THAT(why, HasSubstr("does not occur in the answer"));
}

TEST(AnswerTemplateTest, DifferingWordsAreAMiss) {
  std::string why;
  EXPECT_EQ(Fill(kQuestion, kAnswer, "Where is order 67890?", &why), std::nullopt);
  EXPECT_THAT(why, HasSubstr("differ outside their slots"));
  EXPECT_EQ(Fill(kQuestion, kAnswer, "Where is order 12345?", &why), std::nullopt);
}

TEST(AnswerTemplateTest, SlotCountOrKindMismatchIsAMiss) {
  std::string why;
  EXPECT_EQ(Fill(kQuestion, kAnswer, "What is the status of order 12345 and 67890?", &why),
            std::nullopt);
  EXPECT_THAT(why, HasSubstr("number or kind"));
  EXPECT_EQ(Fill(kQuestion, kAnswer, "What is the status of order bob@example.com?", &why),
            std::nullopt);
  EXPECT_THAT(why, HasSubstr("number or kind"));
}

TEST(AnswerTemplateTest, ComputedAnswersAreNeverTemplates) {
  TemplateOptions values;
  values.fill_values = true;
  std::string why;
  EXPECT_EQ(Fill("What is 5+5?", "5+5 = 10", "What is 5+6?", &why, values), std::nullopt);
  EXPECT_THAT(why, HasSubstr("values of its own (\"10\")"));
  EXPECT_EQ(Fill("What is 5+5?", "5+5 is ten", "What is 5+6?", &why, values), std::nullopt);
  EXPECT_THAT(why, HasSubstr("\"ten\""));
}

TEST(AnswerTemplateTest, QuotedStringsCountThroughTheirValues) {
  // A quoted label in the answer is not a value...
  EXPECT_THAT(Fill(kQuestion, "Click \"Track\" for order 12345.", "status of order 777?"),
              std::nullopt);  // (different words: "status of order" vs "What is the status...")
  EXPECT_THAT(
      Fill(kQuestion, "Click \"Track\" for order 12345.", "What is the status of order 777?"),
      Optional(std::string("Click \"Track\" for order 777.")));
  // ...but a value inside a quoted string is.
  std::string why;
  EXPECT_EQ(Fill(kQuestion, "{\"order_id\":\"12345\",\"eta\":\"2024-03-01\"}",
                 "What is the status of order 777?", &why),
            std::nullopt);
  EXPECT_THAT(why, HasSubstr("(\"2024-03-01\")"));
}

TEST(AnswerTemplateTest, ValuesNeedTheOption) {
  std::string why;
  EXPECT_EQ(Fill("Repeat after me: 42", "42", "Repeat after me: 43", &why), std::nullopt);
  EXPECT_THAT(why, HasSubstr("fill_values off"));
  TemplateOptions values;
  values.fill_values = true;
  EXPECT_THAT(Fill("Repeat after me: 42", "42", "Repeat after me: 43", nullptr, values),
              Optional(std::string("43")));
  EXPECT_THAT(Fill("Echo 'abc' back", "You said 'abc'.", "echo 'xyz' back", nullptr, values),
              Optional(std::string("You said 'xyz'.")));
  // A quoted answer that is not the question's string may be a translation of it.
  EXPECT_EQ(Fill("Translate 'hello'", "'hello' is 'bonjour'", "Translate 'bye'", &why, values),
            std::nullopt);
  EXPECT_THAT(why, HasSubstr("quotes \"bonjour\""));
}

TEST(AnswerTemplateTest, YesNoExchangesAreNotTemplates) {
  std::string why;
  EXPECT_EQ(Fill("Is order 12345 delivered?", "Yes, order 12345 was delivered.",
                 "Is order 67890 delivered?", &why),
            std::nullopt);
  EXPECT_THAT(why, HasSubstr("yes/no"));
  EXPECT_EQ(Fill("Has order 12345 shipped?", "Order 12345 has shipped.", "Has order 67890 shipped?",
                 &why),
            std::nullopt);
  // A polite request is not a yes/no question.
  EXPECT_THAT(
      Fill("Can you check order 12345?", "Order 12345 has shipped.", "Can you check order 67890?"),
      Optional(std::string("Order 67890 has shipped.")));
}

TEST(AnswerTemplateTest, AmbiguousValuesAreAMiss) {
  std::string why;
  EXPECT_EQ(Fill("Move item 111 to room 111", "Item 111 moved to room 111.",
                 "Move item 222 to room 111", &why),
            std::nullopt);
  EXPECT_THAT(why, HasSubstr("both changes and stays"));
  EXPECT_EQ(Fill("Merge ticket 7001 into ticket 7001", "Ticket 7001 merged.",
                 "Merge ticket 7002 into ticket 7003", &why),
            std::nullopt);
  EXPECT_THAT(why, HasSubstr("two different ways"));
  // Swapping values is fine: each answer slot is replaced once.
  EXPECT_THAT(Fill("Link ticket 7001 to ticket 7002", "Ticket 7001 now blocks ticket 7002.",
                   "Link ticket 7002 to ticket 7001"),
              Optional(std::string("Ticket 7002 now blocks ticket 7001.")));
}

TEST(AnswerTemplateTest, TemplateFromAnotherQuestion) {
  std::string why;
  EXPECT_EQ(FillTemplate(MakeTemplate(kQuestion, kAnswer), "status of order 999",
                         "status of order 998", {}, &why),
            std::nullopt);
  EXPECT_THAT(why, HasSubstr("another question"));
}

TEST(AnswerTemplateTest, OpenAIResponseBody) {
  auto body = json::Parse(R"({
    "id": "chatcmpl-12345", "object": "chat.completion", "model": "gpt-4o-2024-08-06",
    "system_fingerprint": "fp_12345",
    "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": null,
      "message": {"role": "assistant", "content": "Order 12345 has shipped.",
        "tool_calls": [{"id": "call_12345", "type": "function",
          "function": {"name": "get_order_12345", "arguments": "{\"order_id\":\"12345\"}"}}]}}],
    "usage": {"prompt_tokens": 12345, "completion_tokens": 5}})");
  ASSERT_TRUE(body.ok());
  const std::string text = AnswerTextOfJson(*body);
  EXPECT_EQ(text, "Order 12345 has shipped.\n{\"order_id\":\"12345\"}");
  const AnswerTemplate tmpl = MakeTemplate(kQuestion, text);
  json::Value filled = *body;
  ASSERT_TRUE(FillTemplateJson(tmpl, kQuestion, "What is the status of order 67890?", &filled));
  const json::Value& message = *filled.Find("choices")->as_array()[0].Find("message");
  EXPECT_EQ(message.GetString("content"), "Order 67890 has shipped.");
  const json::Value& call = message.Find("tool_calls")->as_array()[0];
  EXPECT_EQ(call.Find("function")->GetString("arguments"), "{\"order_id\":\"67890\"}");
  // Bookkeeping is untouched.
  EXPECT_EQ(call.GetString("id"), "call_12345");
  EXPECT_EQ(call.Find("function")->GetString("name"), "get_order_12345");
  EXPECT_EQ(filled.GetString("id"), "chatcmpl-12345");
  EXPECT_EQ(filled.GetString("model"), "gpt-4o-2024-08-06");
  EXPECT_EQ(*filled.Find("usage"), *body->Find("usage"));
}

TEST(AnswerTemplateTest, AnthropicResponseBodyAndRefusal) {
  auto body = json::Parse(R"({"id": "msg_01", "type": "message", "role": "assistant",
    "model": "claude-3-5-sonnet-20241022",
    "content": [{"type": "text", "text": "Order 12345 has shipped."}],
    "stop_reason": "end_turn", "usage": {"input_tokens": 10, "output_tokens": 5}})");
  ASSERT_TRUE(body.ok());
  const AnswerTemplate tmpl = MakeTemplate(kQuestion, AnswerTextOfJson(*body));
  json::Value filled = *body;
  ASSERT_TRUE(FillTemplateJson(tmpl, kQuestion, "what is the status of order 4242", &filled));
  EXPECT_EQ(filled.Find("content")->as_array()[0].GetString("text"), "Order 4242 has shipped.");
  EXPECT_EQ(filled.GetString("model"), "claude-3-5-sonnet-20241022");

  json::Value refused = *body;
  std::string why;
  EXPECT_FALSE(FillTemplateJson(tmpl, kQuestion, "where is order 4242", &refused, {}, &why));
  EXPECT_EQ(refused, *body);
  EXPECT_THAT(why, HasSubstr("outside their slots"));
}

}  // namespace
}  // namespace deja::semantic
