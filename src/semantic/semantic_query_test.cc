#include "semantic/semantic_query.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/normalize.h"

namespace deja::semantic {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Parses and normalizes a request as the gateway does, then splits it.
StatusOr<SemanticQuery> Split(Route route, std::string_view body, QueryOptions options = {},
                              ContextScope scope = {}) {
  auto parsed = json::Parse(body);
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString() << "\n" << body;
  if (!parsed.ok()) return parsed.status();
  auto normalizer = Normalizer::Create({});
  EXPECT_TRUE(normalizer.ok());
  auto normalized = (*normalizer)->Normalize(route, std::move(*parsed), {});
  EXPECT_TRUE(normalized.ok()) << normalized.status().ToString();
  return SplitSemanticQuery(route, normalized->body, options, scope);
}

SemanticQuery MustSplit(Route route, std::string_view body, QueryOptions options = {},
                        ContextScope scope = {}) {
  auto q = Split(route, body, options, scope);
  EXPECT_TRUE(q.ok()) << q.status().ToString() << "\n" << body;
  return q.ok() ? *q : SemanticQuery{};
}

std::string NotEligibleWhy(Route route, std::string_view body, QueryOptions options = {}) {
  auto q = Split(route, body, options);
  EXPECT_FALSE(q.ok()) << body;
  if (q.ok()) return "";
  EXPECT_EQ(q.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(q.status().message(), StartsWith("not semantic-eligible: "));
  return q.status().message();
}

// A chat request: system prompt, one earlier exchange about `person`, then `question`.
std::string Conversation(std::string_view person, std::string_view question,
                         std::string_view extra = "") {
  return std::string(R"({"model": "gpt-4o", "temperature": 0, )") + std::string(extra) +
         R"("messages": [
      {"role": "system", "content": "You are terse."},
      {"role": "user", "content": "Who is )" +
         std::string(person) + R"(?"},
      {"role": "assistant", "content": ")" +
         std::string(person) + R"( is a politician."},
      {"role": "user", "content": ")" +
         std::string(question) + R"("}]})";
}

TEST(SemanticQueryTest, HowOldIsHeInTwoConversations) {
  const SemanticQuery obama =
      MustSplit(Route::kChatCompletions, Conversation("Barack Obama", "How old is he?"));
  const SemanticQuery biden =
      MustSplit(Route::kChatCompletions, Conversation("Joe Biden", "How old is he?"));
  EXPECT_EQ(obama.query, "How old is he?");
  EXPECT_EQ(biden.query, "How old is he?");
  EXPECT_EQ(obama.turns, 1);
  // Same question, different earlier turns: never compared with each other.
  EXPECT_NE(obama.context_signature, biden.context_signature);
  EXPECT_NE(obama.context, biden.context);

  // Same earlier turns, reworded question: same context, compared by meaning.
  const SemanticQuery reworded =
      MustSplit(Route::kChatCompletions, Conversation("Barack Obama", "What is his age?"));
  EXPECT_EQ(reworded.query, "What is his age?");
  EXPECT_EQ(reworded.context_signature, obama.context_signature);
  EXPECT_EQ(reworded.context, obama.context);
  EXPECT_THAT(obama.context, HasSubstr(R"({"content":{"deja.semantic_query":0},"role":"user"})"));
}

TEST(SemanticQueryTest, EveryOtherFieldIsContext) {
  const SemanticQuery base = MustSplit(Route::kChatCompletions, Conversation("A", "Q?"));
  for (std::string_view extra :
       {R"("top_p": 0.5, )", R"("tools": [{"type": "function", "function": {"name": "f"}}], )",
        R"("max_tokens": 5, )", R"("response_format": {"type": "json_object"}, )",
        R"("some_future_field": 1, )"}) {
    EXPECT_NE(MustSplit(Route::kChatCompletions, Conversation("A", "Q?", extra)).context_signature,
              base.context_signature)
        << extra;
  }
  std::string other_model = Conversation("A", "Q?");
  other_model.replace(other_model.find("gpt-4o"), 6, "gpt-4.1");
  EXPECT_NE(MustSplit(Route::kChatCompletions, other_model).context_signature,
            base.context_signature);
  std::string other_system = Conversation("A", "Q?");
  other_system.replace(other_system.find("terse"), 5, "chatty");
  EXPECT_NE(MustSplit(Route::kChatCompletions, other_system).context_signature,
            base.context_signature);
  // Fields normalization drops (stream, user, metadata) do not split the context.
  EXPECT_EQ(MustSplit(Route::kChatCompletions,
                      Conversation("A", "Q?", R"("stream": true, "user": "u-1", )"))
                .context_signature,
            base.context_signature);
}

TEST(SemanticQueryTest, TextPartsEqualAStringContent) {
  const SemanticQuery s = MustSplit(
      Route::kChatCompletions,
      R"({"model": "m", "messages": [{"role": "user", "content": "line one\nline two"}]})");
  const SemanticQuery p = MustSplit(Route::kChatCompletions, R"({"model": "m", "messages": [
      {"role": "user", "content": [{"type": "text", "text": "line one"},
                                   {"type": "text", "text": "line two"}]}]})");
  EXPECT_EQ(p.query, "line one\nline two");
  EXPECT_EQ(p.query, s.query);
  EXPECT_EQ(p.context_signature, s.context_signature);
}

TEST(SemanticQueryTest, ChatNotEligible) {
  EXPECT_THAT(NotEligibleWhy(Route::kChatCompletions, R"({"model": "m", "messages": [
      {"role": "user", "content": "hi"}, {"role": "assistant", "content": "Sure"}]})"),
              HasSubstr("not a user message (\"assistant\")"));
  EXPECT_THAT(NotEligibleWhy(Route::kChatCompletions, R"({"model": "m", "messages": [
      {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
        "function": {"name": "f", "arguments": "{}"}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "42"}]})"),
              HasSubstr("(\"tool\")"));
  EXPECT_THAT(NotEligibleWhy(Route::kChatCompletions, R"({"model": "m", "messages": [
      {"role": "user", "content": [{"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]})"),
              HasSubstr("non-text part (\"image_url\")"));
  EXPECT_THAT(NotEligibleWhy(Route::kChatCompletions,
                             R"({"model": "m", "messages": [{"role": "user", "content": " \n"}]})"),
              HasSubstr("blank"));
  EXPECT_THAT(NotEligibleWhy(Route::kChatCompletions, R"({"model": "m", "messages": []})"),
              HasSubstr("no messages"));
  EXPECT_THAT(NotEligibleWhy(Route::kChatCompletions, R"({"model": "m"})"),
              HasSubstr("no messages"));
}

TEST(SemanticQueryTest, OtherRoutesNotEligible) {
  EXPECT_THAT(NotEligibleWhy(Route::kEmbeddings, R"({"model": "m", "input": "hello"})"),
              HasSubstr("embeddings"));
  EXPECT_FALSE(SplitSemanticQuery(Route::kOther, json::Value::MakeObject()).ok());
  EXPECT_FALSE(SplitSemanticQuery(Route::kChatCompletions, json::Value("x")).ok());
}

TEST(SemanticQueryTest, RecentTurnsOption) {
  QueryOptions two;
  two.query_turns = 2;
  const SemanticQuery a = MustSplit(Route::kChatCompletions, Conversation("Ann", "And Bob?"), two);
  EXPECT_EQ(a.query, "Who is Ann?\nAnd Bob?");
  EXPECT_EQ(a.turns, 2);
  // Rewording the earlier user turn keeps the context; the assistant turn between still counts.
  std::string reworded = Conversation("Ann", "And Bob?");
  reworded.replace(reworded.find("Who is Ann?"), 11, "Tell me about Ann");
  const SemanticQuery b = MustSplit(Route::kChatCompletions, reworded, two);
  EXPECT_EQ(b.query, "Tell me about Ann\nAnd Bob?");
  EXPECT_EQ(a.context_signature, b.context_signature);
  std::string other_reply = Conversation("Ann", "And Bob?");
  other_reply.replace(other_reply.find("is a politician"), 15, "is a physicist");
  EXPECT_NE(MustSplit(Route::kChatCompletions, other_reply, two).context_signature,
            a.context_signature);
  // More turns asked for than there are: all user turns.
  QueryOptions five;
  five.query_turns = 5;
  EXPECT_EQ(MustSplit(Route::kChatCompletions, Conversation("Ann", "And Bob?"), five).turns, 2);
  // The window stops at a non-text user message, which stays in the context.
  const SemanticQuery c = MustSplit(Route::kChatCompletions, R"({"model": "m", "messages": [
      {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]},
      {"role": "assistant", "content": "A cat."},
      {"role": "user", "content": "What colour is it?"}]})",
                                    two);
  EXPECT_EQ(c.query, "What colour is it?");
  EXPECT_EQ(c.turns, 1);
}

TEST(SemanticQueryTest, Completions) {
  const SemanticQuery a =
      MustSplit(Route::kCompletions, R"({"model": "m", "prompt": "Say hi", "max_tokens": 3})");
  const SemanticQuery b =
      MustSplit(Route::kCompletions, R"({"model": "m", "prompt": ["Greet me"], "max_tokens": 3})");
  EXPECT_EQ(a.query, "Say hi");
  EXPECT_EQ(b.query, "Greet me");
  EXPECT_EQ(a.context_signature, b.context_signature);
  EXPECT_THAT(NotEligibleWhy(Route::kCompletions, R"({"model": "m", "prompt": [1, 2, 3]})"),
              HasSubstr("`prompt` is not a single string"));
  EXPECT_THAT(NotEligibleWhy(Route::kCompletions, R"({"model": "m", "prompt": ["a", "b"]})"),
              HasSubstr("`prompt` is not a single string"));
}

TEST(SemanticQueryTest, Responses) {
  const SemanticQuery s = MustSplit(
      Route::kResponses, R"({"model": "m", "instructions": "Be brief.", "input": "Hi there"})");
  EXPECT_EQ(s.query, "Hi there");
  const SemanticQuery other_instructions = MustSplit(
      Route::kResponses, R"({"model": "m", "instructions": "Be long.", "input": "Hi there"})");
  EXPECT_NE(s.context_signature, other_instructions.context_signature);

  const SemanticQuery items = MustSplit(Route::kResponses, R"({"model": "m", "input": [
      {"role": "user", "content": "earlier"},
      {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
      {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Now what?"}]}
    ]})");
  EXPECT_EQ(items.query, "Now what?");
  EXPECT_THAT(NotEligibleWhy(Route::kResponses, R"({"model": "m", "input": [
      {"type": "function_call_output", "call_id": "call_1", "output": "42"}]})"),
              HasSubstr("(\"function_call_output\")"));
  EXPECT_THAT(NotEligibleWhy(Route::kResponses, R"({"model": "m", "input": [
      {"role": "user", "content": [{"type": "input_image", "image_url": "u"}]}]})"),
              HasSubstr("non-text part (\"input_image\")"));
}

TEST(SemanticQueryTest, AnthropicMessages) {
  const SemanticQuery a =
      MustSplit(Route::kAnthropicMessages, R"({"model": "claude", "max_tokens": 100,
      "system": [{"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}],
      "messages": [{"role": "user", "content": [{"type": "text", "text": "Capital of Peru?"}]}]})");
  EXPECT_EQ(a.query, "Capital of Peru?");
  const SemanticQuery b = MustSplit(Route::kAnthropicMessages, R"({"model": "claude",
      "max_tokens": 100, "system": [{"type": "text", "text": "Be terse."}],
      "messages": [{"role": "user", "content": "What is the capital of Peru?"}]})");
  EXPECT_EQ(a.context_signature, b.context_signature);  // cache_control is normalized away
  EXPECT_THAT(NotEligibleWhy(Route::kAnthropicMessages, R"({"model": "c", "max_tokens": 1,
      "messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "42"}]}]})"),
              HasSubstr("non-text part (\"tool_result\")"));
  EXPECT_THAT(NotEligibleWhy(Route::kAnthropicMessages, R"({"model": "c", "max_tokens": 1,
      "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "The"}]})"),
              HasSubstr("(\"assistant\")"));
}

TEST(SemanticQueryTest, ScopeAndRouteSeparateSignatures) {
  const std::string body = R"({"model": "m", "messages": [{"role": "user", "content": "Hi"}]})";
  const SemanticQuery base = MustSplit(Route::kChatCompletions, body);
  ContextScope tenant;
  tenant.tenant = "acme";
  ContextScope ns;
  ns.cache_namespace = "acme";
  ContextScope headers;
  headers.keyed_headers = R"({"openai-beta":"x"})";
  const SemanticQuery t = MustSplit(Route::kChatCompletions, body, {}, tenant);
  const SemanticQuery n = MustSplit(Route::kChatCompletions, body, {}, ns);
  const SemanticQuery h = MustSplit(Route::kChatCompletions, body, {}, headers);
  EXPECT_EQ(t.context, base.context);
  EXPECT_NE(t.context_signature, base.context_signature);
  // Length framing: the same bytes in a different scope field give a different signature.
  EXPECT_NE(t.context_signature, n.context_signature);
  EXPECT_NE(h.context_signature, base.context_signature);
  EXPECT_NE(MustSplit(Route::kAnthropicMessages, body).context_signature, base.context_signature);
}

TEST(SemanticQueryTest, ContextSignatureForAnotherScopeMatchesASplitWithIt) {
  const std::string body = Conversation("Obama", "How old is he?");
  ContextScope mine;
  mine.tenant = "acme";
  mine.cache_namespace = "prod";
  mine.keyed_headers = R"({"openai-beta":"x"})";
  ContextScope other;
  other.tenant = "orphans";
  other.cache_namespace = "prod";
  const SemanticQuery q = MustSplit(Route::kChatCompletions, body, {}, mine);
  const SemanticQuery o = MustSplit(Route::kChatCompletions, body, {}, other);
  EXPECT_EQ(ContextSignature(Route::kChatCompletions, q.context, mine), q.context_signature);
  EXPECT_EQ(ContextSignature(Route::kChatCompletions, q.context, other), o.context_signature);
  EXPECT_NE(o.context_signature, q.context_signature);
}

}  // namespace
}  // namespace deja::semantic
