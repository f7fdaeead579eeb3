// Structured fingerprints and answer texts: what counts as the same answer across re-asks.
#include "server/answer_compare.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "server/stream_convert.h"
#include "server/stream_convert_test_util.h"

namespace deja::server {
namespace {

using testing::ParseSse;
using testing::ReadFixture;

CachedResponse Body(std::string_view body, int status = 200) {
  CachedResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::string(body);
  return r;
}

CachedResponse Stream(std::vector<StreamEvent> events) {
  CachedResponse r;
  r.content_type = "text/event-stream";
  r.streamed = true;
  r.events = std::move(events);
  return r;
}

std::string Fp(Route route, const CachedResponse& answer) {
  StatusOr<std::string> fp = StructuredFingerprint(route, answer);
  EXPECT_TRUE(fp.ok()) << fp.status().ToString();
  return fp.ok() ? *fp : "<error>";
}

std::string Text(Route route, const CachedResponse& answer) {
  StatusOr<std::string> text = AnswerText(route, answer);
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  return text.ok() ? *text : "<error>";
}

constexpr std::string_view kChatA = R"({"id":"chatcmpl-1","object":"chat.completion",
  "created":1700000000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_1",
  "choices":[{"index":0,"message":{"role":"assistant","content":"Paris.","refusal":null},
    "logprobs":null,"finish_reason":"stop"}],
  "usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12}})";
// Same answer: other id, created, snapshot, fingerprint, usage, logprobs, member order.
constexpr std::string_view kChatASameAnswer = R"({"usage":{"prompt_tokens":11,
  "completion_tokens":3,"total_tokens":14},"choices":[{"finish_reason":"stop","index":0,
    "logprobs":{"content":[{"token":"Paris","logprob":-0.1,"bytes":[80],"top_logprobs":[]}]},
    "message":{"content":"Paris.","role":"assistant"}}],"id":"chatcmpl-2","created":1800000000,
  "model":"gpt-4o-2024-11-20","system_fingerprint":"fp_2","object":"chat.completion"})";

TEST(AnswerCompareTest, VolatileFieldsDoNotChangeTheFingerprint) {
  EXPECT_EQ(Fp(Route::kChatCompletions, Body(kChatA)),
            Fp(Route::kChatCompletions, Body(kChatASameAnswer)));
  EXPECT_EQ(Fp(Route::kChatCompletions, Body(kChatA)),
            R"([{"finish":"stop","parts":[{"kind":"text","text":"Paris."}]}])");
  EXPECT_EQ(Text(Route::kChatCompletions, Body(kChatA)), "Paris.");
}

TEST(AnswerCompareTest, DifferentTextOrFinishChangesTheFingerprint) {
  std::string other_text(kChatA);
  other_text.replace(other_text.find("Paris."), 6, "Lyon.");
  EXPECT_NE(Fp(Route::kChatCompletions, Body(kChatA)),
            Fp(Route::kChatCompletions, Body(other_text)));
  std::string other_finish(kChatA);
  other_finish.replace(other_finish.find("\"stop\""), 6, "\"length\"");
  EXPECT_NE(Fp(Route::kChatCompletions, Body(kChatA)),
            Fp(Route::kChatCompletions, Body(other_finish)));
}

constexpr std::string_view kToolsA = R"({"id":"chatcmpl-t","created":1,"model":"m",
  "choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,
    "tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather",
      "arguments":"{\"location\": \"Paris\", \"unit\": \"c\"}"}}]}}]})";

TEST(AnswerCompareTest, ToolArgumentsCompareAsJson) {
  // Other call id, other whitespace and member order in the arguments text: the same call.
  constexpr std::string_view kReordered = R"({"id":"chatcmpl-u","created":2,"model":"m",
    "choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant",
      "content":null,"tool_calls":[{"id":"call_2","type":"function","function":{
        "name":"get_weather","arguments":"{\"unit\":\"c\",\"location\":\"Paris\"}"}}]}}]})";
  EXPECT_EQ(Fp(Route::kChatCompletions, Body(kToolsA)),
            Fp(Route::kChatCompletions, Body(kReordered)));
  std::string other_args(kToolsA);
  other_args.replace(other_args.find("Paris"), 5, "Lyon");
  EXPECT_NE(Fp(Route::kChatCompletions, Body(kToolsA)),
            Fp(Route::kChatCompletions, Body(other_args)));
  EXPECT_EQ(Text(Route::kChatCompletions, Body(kToolsA)),
            R"(get_weather({"location":"Paris","unit":"c"}))");
}

TEST(AnswerCompareTest, UnparsableArgumentsStayStrings) {
  constexpr std::string_view kBroken = R"({"choices":[{"index":0,"finish_reason":"tool_calls",
    "message":{"tool_calls":[{"id":"c","function":{"name":"f","arguments":"{not json"}}]}}]})";
  EXPECT_EQ(Fp(Route::kChatCompletions, Body(kBroken)),
            R"([{"finish":"tool_calls","parts":[{"arguments":"{not json","kind":"tool_call",)"
            R"("name":"f"}]}])");
  EXPECT_EQ(Text(Route::kChatCompletions, Body(kBroken)), "f({not json)");
}

TEST(AnswerCompareTest, RefusalIsItsOwnKind) {
  constexpr std::string_view kRefusal = R"({"choices":[{"index":0,"finish_reason":"stop",
    "message":{"content":null,"refusal":"I can't help with that."}}]})";
  constexpr std::string_view kSameAsText = R"({"choices":[{"index":0,"finish_reason":"stop",
    "message":{"content":"I can't help with that."}}]})";
  EXPECT_NE(Fp(Route::kChatCompletions, Body(kRefusal)),
            Fp(Route::kChatCompletions, Body(kSameAsText)));
  EXPECT_EQ(Text(Route::kChatCompletions, Body(kRefusal)), "I can't help with that.");
}

TEST(AnswerCompareTest, ChoicesAreOrderedByIndex) {
  constexpr std::string_view kInOrder = R"({"choices":[
    {"index":0,"finish_reason":"stop","message":{"content":"Yes."}},
    {"index":1,"finish_reason":"stop","message":{"content":"No."}}]})";
  constexpr std::string_view kSwapped = R"({"choices":[
    {"index":1,"finish_reason":"stop","message":{"content":"No."}},
    {"index":0,"finish_reason":"stop","message":{"content":"Yes."}}]})";
  EXPECT_EQ(Fp(Route::kChatCompletions, Body(kInOrder)),
            Fp(Route::kChatCompletions, Body(kSwapped)));
  EXPECT_EQ(Text(Route::kChatCompletions, Body(kSwapped)), "Yes.\nNo.");
}

struct StreamFixture {
  const char* name;
  Route route;
};

TEST(AnswerCompareTest, StreamsAndTheirBodiesHaveEqualFingerprints) {
  const StreamFixture fixtures[] = {
      {"openai_chat_text", Route::kChatCompletions},
      {"openai_chat_tools", Route::kChatCompletions},
      {"openai_chat_n2_logprobs", Route::kChatCompletions},
      {"openai_completions", Route::kCompletions},
      {"responses_text", Route::kResponses},
      {"responses_function_call", Route::kResponses},
      {"anthropic_tool_use", Route::kAnthropicMessages},
      {"anthropic_thinking", Route::kAnthropicMessages},
  };
  for (const StreamFixture& f : fixtures) {
    SCOPED_TRACE(f.name);
    const CachedResponse body = Body(ReadFixture(std::string(f.name) + ".json"));
    const CachedResponse stream = Stream(ParseSse(ReadFixture(std::string(f.name) + ".sse")));
    ASSERT_FALSE(stream.events.empty());
    EXPECT_EQ(Fp(f.route, stream), Fp(f.route, body));
    EXPECT_EQ(Text(f.route, stream), Text(f.route, body));
  }
}

TEST(AnswerCompareTest, ExplodedBodyStreamMatchesTheBody) {
  const CachedResponse body = Body(kToolsA);
  StatusOr<std::vector<StreamEvent>> events = ExplodeBody(Route::kChatCompletions, kToolsA, false);
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  EXPECT_EQ(Fp(Route::kChatCompletions, Stream(*events)), Fp(Route::kChatCompletions, body));
}

TEST(AnswerCompareTest, AnthropicToolUseBecomesAToolCall) {
  const CachedResponse answer = Body(ReadFixture("anthropic_tool_use.json"));
  EXPECT_EQ(Fp(Route::kAnthropicMessages, answer),
            R"([{"finish":"tool_use","parts":[{"kind":"text","text":"Okay, let's check the )"
            R"(weather for San Francisco, CA:"},{"arguments":{"location":"San Francisco, CA",)"
            R"("unit":"fahrenheit"},"kind":"tool_call","name":"get_weather"}]}])");
  EXPECT_EQ(Text(Route::kAnthropicMessages, answer),
            "Okay, let's check the weather for San Francisco, CA:\n"
            R"(get_weather({"location":"San Francisco, CA","unit":"fahrenheit"}))");
}

TEST(AnswerCompareTest, AnthropicAndOpenAIToolCallsRenderAlike) {
  // The same call in both wire formats gives the same parts (only the finish reasons differ).
  constexpr std::string_view kAnthropic = R"({"id":"msg_1","type":"message","role":"assistant",
    "model":"claude","content":[{"type":"tool_use","id":"toolu_1","name":"get_weather",
      "input":{"location":"Paris","unit":"c"}}],"stop_reason":"tool_use","stop_sequence":null,
    "usage":{"input_tokens":1,"output_tokens":1}})";
  EXPECT_EQ(Text(Route::kAnthropicMessages, Body(kAnthropic)),
            Text(Route::kChatCompletions, Body(kToolsA)));
  std::string other_input(kAnthropic);
  other_input.replace(other_input.find("Paris"), 5, "Lyon");
  EXPECT_NE(Fp(Route::kAnthropicMessages, Body(kAnthropic)),
            Fp(Route::kAnthropicMessages, Body(other_input)));
  std::string other_id(kAnthropic);
  other_id.replace(other_id.find("toolu_1"), 7, "toolu_9");
  EXPECT_EQ(Fp(Route::kAnthropicMessages, Body(kAnthropic)),
            Fp(Route::kAnthropicMessages, Body(other_id)));
}

TEST(AnswerCompareTest, AnthropicThinkingAndStopSequence) {
  // Thinking is left out: the visible text decides.
  EXPECT_EQ(Text(Route::kAnthropicMessages, Body(ReadFixture("anthropic_thinking.json"))),
            "The greatest common divisor of 1071 and 462 is **21**.");
  constexpr std::string_view kStopSeq = R"({"content":[{"type":"text","text":"a"}],
    "stop_reason":"stop_sequence","stop_sequence":"END"})";
  EXPECT_EQ(Fp(Route::kAnthropicMessages, Body(kStopSeq)),
            R"([{"finish":"stop_sequence","parts":[{"kind":"text","text":"a"}],)"
            R"("stop_sequence":"END"}])");
}

TEST(AnswerCompareTest, ResponsesOutputItems) {
  const CachedResponse text = Body(ReadFixture("responses_text.json"));
  EXPECT_EQ(Fp(Route::kResponses, text),
            R"([{"finish":"completed","parts":[{"kind":"text","text":"Hi there! How can I )"
            R"(assist you today?"}]}])");
  const CachedResponse call = Body(ReadFixture("responses_function_call.json"));
  EXPECT_EQ(Text(Route::kResponses, call), R"(get_weather({"location":"Paris, France"}))");
  constexpr std::string_view kIncomplete = R"({"status":"incomplete",
    "incomplete_details":{"reason":"max_output_tokens"},"output":[{"type":"reasoning","id":"rs_1",
      "summary":[]},{"type":"message","id":"msg_1","status":"incomplete",
      "content":[{"type":"output_text","text":"Hi"}]}]})";
  EXPECT_EQ(Fp(Route::kResponses, Body(kIncomplete)),
            R"([{"finish":"incomplete","parts":[{"kind":"text","text":"Hi"}]},)"
            R"({"finish":"incomplete","parts":[],"reason":"max_output_tokens"}])");
}

TEST(AnswerCompareTest, CompletionsText) {
  const CachedResponse answer = Body(ReadFixture("openai_completions.json"));
  EXPECT_EQ(Fp(Route::kCompletions, answer),
            R"([{"finish":"length","parts":[{"kind":"text","text":"\n\nThis is indeed a )"
            R"(test"}]}])");
  EXPECT_EQ(Text(Route::kCompletions, answer), "\n\nThis is indeed a test");
}

TEST(AnswerCompareTest, EmbeddingsRoundToFourDecimals) {
  constexpr std::string_view kA = R"({"object":"list","model":"text-embedding-3-small",
    "data":[{"object":"embedding","index":1,"embedding":[0.5,-0.25]},
            {"object":"embedding","index":0,"embedding":[0.123449,-0.00001]}],
    "usage":{"prompt_tokens":4,"total_tokens":4}})";
  constexpr std::string_view kNoise = R"({"object":"list","model":"text-embedding-3-small",
    "data":[{"object":"embedding","index":0,"embedding":[0.1234491,0.00002]},
            {"object":"embedding","index":1,"embedding":[0.50001,-0.25]}],
    "usage":{"prompt_tokens":5,"total_tokens":5}})";
  constexpr std::string_view kMoved = R"({"data":[
    {"index":0,"embedding":[0.1236,0]},{"index":1,"embedding":[0.5,-0.25]}]})";
  EXPECT_EQ(Fp(Route::kEmbeddings, Body(kA)),
            R"([{"embedding":[0.1234,0]},{"embedding":[0.5,-0.25]}])");
  EXPECT_EQ(Fp(Route::kEmbeddings, Body(kA)), Fp(Route::kEmbeddings, Body(kNoise)));
  EXPECT_NE(Fp(Route::kEmbeddings, Body(kA)), Fp(Route::kEmbeddings, Body(kMoved)));
  EXPECT_EQ(Text(Route::kEmbeddings, Body(kA)), Fp(Route::kEmbeddings, Body(kA)));
}

TEST(AnswerCompareTest, ErrorAnswersKeepStatusTypeAndCode) {
  constexpr std::string_view kError =
      R"j({"error":{"message":"Rate limit (req_123)","type":"requests","code":"rate_limit"}})j";
  constexpr std::string_view kOtherMessage =
      R"j({"error":{"message":"Rate limit (req_456)","type":"requests","code":"rate_limit"}})j";
  EXPECT_EQ(Fp(Route::kChatCompletions, Body(kError, 429)),
            Fp(Route::kChatCompletions, Body(kOtherMessage, 429)));
  EXPECT_EQ(Fp(Route::kChatCompletions, Body(kError, 429)),
            R"([{"code":"rate_limit","finish":"error","status":429,"type":"requests"}])");
  EXPECT_NE(Fp(Route::kChatCompletions, Body(kError, 429)),
            Fp(Route::kChatCompletions, Body(kChatA)));
}

TEST(AnswerCompareTest, RejectsWhatIsNotAnAnswer) {
  EXPECT_EQ(StructuredFingerprint(Route::kChatCompletions, Body("not json")).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(
      StructuredFingerprint(Route::kChatCompletions, Body(R"({"output":[]})")).status().code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(StructuredFingerprint(Route::kOther, Body(kChatA)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_FALSE(AnswerText(Route::kChatCompletions, Stream({})).ok());
}

CachedResponse Chat(std::string_view text, std::string_view finish = "stop") {
  return Body(R"({"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":")" +
              std::string(text) + R"("},"finish_reason":")" + std::string(finish) + R"("}]})");
}

TEST(SameAnswerTest, StructuredAndExactCompareTheirForms) {
  const TextSimilarity none;
  StatusOr<AnswerComparison> s = SameAnswer(Route::kChatCompletions, AnswerMatch::kStructured,
                                            Chat("Paris."), Chat("Paris.", "length"), none, 0);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_FALSE(s->same);  // the finish reason differs
  EXPECT_EQ(s->recorded_form, Fp(Route::kChatCompletions, Chat("Paris.")));
  EXPECT_FALSE(s->similarity.has_value());
  StatusOr<AnswerComparison> e = SameAnswer(Route::kChatCompletions, AnswerMatch::kExactText,
                                            Chat("Paris."), Chat("Paris.", "length"), none, 0);
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->same);  // the texts do not
  EXPECT_EQ(e->fresh_form, "Paris.");
  e = SameAnswer(Route::kChatCompletions, AnswerMatch::kExactText, Chat("Paris."), Chat("Paris!"),
                 none, 0);
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->same);
}

TEST(SameAnswerTest, EmbeddingComparesSimilarityWithTheMinimum) {
  int calls = 0;
  const TextSimilarity similarity = [&](std::string_view a, std::string_view b) {
    ++calls;
    EXPECT_EQ(a, "Paris.");
    EXPECT_EQ(b, "It is Paris.");
    return StatusOr<double>(0.8);
  };
  StatusOr<AnswerComparison> s = SameAnswer(Route::kChatCompletions, AnswerMatch::kEmbedding,
                                            Chat("Paris."), Chat("It is Paris."), similarity, 0.8);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->same);
  EXPECT_EQ(s->similarity, 0.8);
  s = SameAnswer(Route::kChatCompletions, AnswerMatch::kEmbedding, Chat("Paris."),
                 Chat("It is Paris."), similarity, 0.81);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->same);
  // Identical texts are similarity 1 without embedding them (no similarity needed at all).
  s = SameAnswer(Route::kChatCompletions, AnswerMatch::kEmbedding, Chat("Paris."), Chat("Paris."),
                 TextSimilarity(), 1.0);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->same);
  EXPECT_EQ(s->similarity, 1.0);
  EXPECT_EQ(calls, 2);
}

TEST(SameAnswerTest, ErrorsNameTheirCause) {
  StatusOr<AnswerComparison> s = SameAnswer(Route::kChatCompletions, AnswerMatch::kStructured,
                                            Body("not json"), Chat("Paris."), TextSimilarity(), 0);
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.status().message().rfind("recorded answer: ", 0), 0u) << s.status().message();
  s = SameAnswer(Route::kChatCompletions, AnswerMatch::kExactText, Chat("Paris."), Body("[]"),
                 TextSimilarity(), 0);
  EXPECT_EQ(s.status().message().rfind("new answer: ", 0), 0u) << s.status().message();
  s = SameAnswer(Route::kChatCompletions, AnswerMatch::kEmbedding, Chat("Paris."), Chat("Rome."),
                 TextSimilarity(), 0.5);
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
  const TextSimilarity down = [](std::string_view, std::string_view) -> StatusOr<double> {
    return UnavailableError("embedder down");
  };
  s = SameAnswer(Route::kChatCompletions, AnswerMatch::kEmbedding, Chat("Paris."), Chat("Rome."),
                 down, 0.5);
  EXPECT_EQ(s.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(s.status().message(), "embedding: embedder down");
}

TEST(SameAnswerTest, ParsesTheGatewayVerifyNames) {
  EXPECT_EQ(*ParseAnswerMatch("structured"), AnswerMatch::kStructured);
  EXPECT_EQ(*ParseAnswerMatch("exact"), AnswerMatch::kExactText);
  EXPECT_EQ(*ParseAnswerMatch("embedding"), AnswerMatch::kEmbedding);
  EXPECT_EQ(ParseAnswerMatch("bytes").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace deja::server
