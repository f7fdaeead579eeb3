// Chat completions and legacy completions: assembly of captured-style streams, round trips,
// classification and include_usage handling.
#include <gtest/gtest.h>

#include "server/stream_convert.h"
#include "server/stream_convert_test_util.h"

namespace deja::server {
namespace {

using testing::Canon;
using testing::ExpectRoundTrip;
using testing::MustParse;
using testing::ParseSse;
using testing::Payloads;
using testing::ReadFixture;

struct Fixture {
  const char* name;
  Route route;
};
constexpr Fixture kFixtures[] = {
    {"openai_chat_text", Route::kChatCompletions},
    {"openai_chat_tools", Route::kChatCompletions},
    {"openai_chat_n2_logprobs", Route::kChatCompletions},
    {"openai_completions", Route::kCompletions},
};

TEST(OpenAIStreamTest, AssemblesCapturedStreams) {
  for (const Fixture& f : kFixtures) {
    SCOPED_TRACE(f.name);
    std::vector<StreamEvent> events = ParseSse(ReadFixture(std::string(f.name) + ".sse"));
    EXPECT_EQ(ClassifyStream(f.route, events), StreamEnd::kClean);
    StatusOr<std::string> body = AssembleStream(f.route, events);
    ASSERT_TRUE(body.ok()) << body.status().ToString();
    EXPECT_EQ(Canon(*body), Canon(ReadFixture(std::string(f.name) + ".json")));
  }
}

TEST(OpenAIStreamTest, FixtureBodiesRoundTrip) {
  for (const Fixture& f : kFixtures) {
    SCOPED_TRACE(f.name);
    const std::string body = ReadFixture(std::string(f.name) + ".json");
    const bool has_usage = MustParse(body).Find("usage") != nullptr;
    ExpectRoundTrip(f.route, body, has_usage);
  }
}

TEST(OpenAIStreamTest, MoreChatBodiesRoundTrip) {
  const char* bodies[] = {
      // Refusal.
      R"json({"id":"chatcmpl-r1","object":"chat.completion","created":1730000000,"model":"gpt-4o-2024-08-06",
          "choices":[{"index":0,"message":{"role":"assistant","content":null,
            "refusal":"I'm sorry, I can't help with that request.","annotations":[]},
            "logprobs":null,"finish_reason":"stop"}],
          "usage":{"prompt_tokens":20,"completion_tokens":11,"total_tokens":31},
          "system_fingerprint":"fp_50cad350e4"})json",
      // Legacy function calling, no refusal member (older API version).
      R"json({"id":"chatcmpl-f1","object":"chat.completion","created":1700000000,"model":"gpt-3.5-turbo-0613",
          "choices":[{"index":0,"message":{"role":"assistant","content":null,
            "function_call":{"name":"get_current_weather","arguments":"{\n  \"location\": \"Boston, MA\"\n}"}},
            "finish_reason":"function_call"}],
          "usage":{"prompt_tokens":82,"completion_tokens":18,"total_tokens":100}})json",
      // Long multilingual text with web-search annotations, empty-string content in choice 1,
      // Azure content filter results and a custom tool call.
      R"json({"id":"chatcmpl-a1","object":"chat.completion","created":1741000000,"model":"gpt-4o-search-preview",
          "choices":[{"index":0,"message":{"role":"assistant",
            "content":"Según la OMS, el café es seguro — 東京でも人気です。 In moderation, coffee (about 3–4 cups a day) is associated with lower risk of several diseases. 🙂☕",
            "refusal":null,"annotations":[{"type":"url_citation","url_citation":{"start_index":0,"end_index":20,
            "title":"Coffee","url":"https://example.org/coffee"}}]},
            "logprobs":null,"finish_reason":"stop",
            "content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}},
           {"index":1,"message":{"role":"assistant","content":"","refusal":null,"annotations":[]},
            "logprobs":null,"finish_reason":"length"},
           {"index":2,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_c1",
            "type":"custom","custom":{"name":"code_exec","input":"print('hello, world')"}}]},
            "logprobs":null,"finish_reason":"tool_calls"}],
          "usage":{"prompt_tokens":9,"completion_tokens":60,"total_tokens":69},
          "prompt_filter_results":[{"prompt_index":0,"content_filter_results":{}}]})json",
  };
  for (const char* body : bodies) {
    SCOPED_TRACE(body);
    ExpectRoundTrip(Route::kChatCompletions, body, true);
  }
}

TEST(OpenAIStreamTest, CompletionsWithLogprobsAndTwoChoicesRoundTrip) {
  const char* body = R"({"id":"cmpl-2","object":"text_completion","created":1690000000,
      "model":"gpt-3.5-turbo-instruct","choices":[
        {"text":" Paris.","index":0,"logprobs":{"tokens":[" Paris","."],"token_logprobs":[-0.01,-0.2],
          "top_logprobs":[{" Paris":-0.01},{".":-0.2}],"text_offset":[10,16]},"finish_reason":"stop"},
        {"text":" Lyon","index":1,"logprobs":{"tokens":[" Lyon"],"token_logprobs":[-3.5],
          "top_logprobs":[{" Lyon":-3.5}],"text_offset":[10]},"finish_reason":"length"}],
      "usage":{"prompt_tokens":6,"completion_tokens":3,"total_tokens":9}})";
  ExpectRoundTrip(Route::kCompletions, body, true);
}

TEST(OpenAIStreamTest, ExplodedChatLooksLikeALiveStream) {
  const std::string body = ReadFixture("openai_chat_tools.json");
  StatusOr<std::vector<StreamEvent>> events = ExplodeBody(Route::kChatCompletions, body, false);
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  ASSERT_GE(events->size(), 4u);
  EXPECT_EQ(events->back(), (StreamEvent{"", "[DONE]"}));
  std::vector<json::Value> chunks = Payloads(*events);
  for (const StreamEvent& e : *events) EXPECT_EQ(e.event, "");
  for (const json::Value& c : chunks) {
    EXPECT_EQ(c.GetString("object"), "chat.completion.chunk");
    EXPECT_EQ(c.GetString("id"), "chatcmpl-AzPnC8VqnbJ1rjQ6tdeLLaZGYxEy5");
    EXPECT_EQ(c.GetString("model"), "gpt-4o-mini-2024-07-18");
    EXPECT_EQ(c.Find("usage"), nullptr);  // not asked for
    ASSERT_EQ(c.Find("choices")->as_array().size(), 1u);
  }
  const json::Value& first = chunks.front().Find("choices")->as_array()[0];
  EXPECT_EQ(first.Find("delta")->GetString("role"), "assistant");
  // Tool calls open with id, type and name, then stream their arguments by index.
  const json::Value& head = chunks[1].Find("choices")->as_array()[0];
  const json::Value& call = head.Find("delta")->Find("tool_calls")->as_array()[0];
  EXPECT_EQ(call.Find("index")->as_number(), 0);
  EXPECT_EQ(call.GetString("id"), "call_DdmO9pD3xa9XTPNJ32zg2hcA");
  EXPECT_EQ(call.GetString("type"), "function");
  EXPECT_EQ(call.Find("function")->GetString("name"), "get_weather");
  EXPECT_EQ(call.Find("function")->GetString("arguments"), "");
  const json::Value& last = chunks.back().Find("choices")->as_array()[0];
  EXPECT_EQ(last.GetString("finish_reason"), "tool_calls");
  EXPECT_TRUE(last.Find("delta")->as_object().empty());
}

TEST(OpenAIStreamTest, IncludeUsageAddsTheUsageChunkOnlyWhenAsked) {
  const std::string body = ReadFixture("openai_chat_text.json");
  StatusOr<std::vector<StreamEvent>> with = ExplodeBody(Route::kChatCompletions, body, true);
  ASSERT_TRUE(with.ok());
  std::vector<json::Value> chunks = Payloads(*with);
  const json::Value& usage_chunk = chunks.back();
  EXPECT_TRUE(usage_chunk.Find("choices")->as_array().empty());
  EXPECT_EQ(usage_chunk.Find("usage")->Find("total_tokens")->as_number(), 29);
  for (size_t i = 0; i + 1 < chunks.size(); ++i) {
    ASSERT_NE(chunks[i].Find("usage"), nullptr);
    EXPECT_TRUE(chunks[i].Find("usage")->is_null());  // as OpenAI sends with include_usage
  }

  StatusOr<std::vector<StreamEvent>> without = ExplodeBody(Route::kChatCompletions, body, false);
  ASSERT_TRUE(without.ok());
  for (const StreamEvent& e : *without) EXPECT_EQ(e.data.find("usage"), std::string::npos);
  StatusOr<std::string> assembled = AssembleStream(Route::kChatCompletions, *without);
  ASSERT_TRUE(assembled.ok());
  EXPECT_EQ(MustParse(*assembled).Find("usage"), nullptr);

  // A body without usage cannot honor include_usage.
  EXPECT_EQ(ExplodeBody(Route::kChatCompletions, ReadFixture("openai_chat_tools.json"), true)
                .status()
                .code(),
            StatusCode::kFailedPrecondition);
}

TEST(OpenAIStreamTest, PiecesNeverSplitUtf8) {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "héllo wörld 東京 🙂";
  const std::string body =
      R"({"id":"x","object":"chat.completion","created":1,"model":"m","choices":[)"
      R"({"index":0,"message":{"role":"assistant","content":")" +
      text + R"("},"finish_reason":"stop"}]})";
  std::vector<StreamEvent> events = ExpectRoundTrip(Route::kChatCompletions, body, false);
  size_t pieces = 0;
  for (const json::Value& c : Payloads(events)) {
    const json::Value* content = c.Find("choices")->as_array()[0].Find("delta")->Find("content");
    if (content == nullptr || !content->is_string() || content->as_string().empty()) continue;
    ++pieces;
    const auto lead = static_cast<unsigned char>(content->as_string()[0]);
    EXPECT_NE(lead & 0xC0, 0x80) << "piece starts inside a UTF-8 sequence";
  }
  EXPECT_GT(pieces, 10u);
}

std::vector<StreamEvent> Fixture(const char* name) {
  return ParseSse(ReadFixture(std::string(name) + ".sse"));
}

TEST(OpenAIClassifyTest, TruncatedAndUnfinishedStreamsAreIncomplete) {
  std::vector<StreamEvent> events = Fixture("openai_chat_text");
  std::vector<StreamEvent> no_done(events.begin(), events.end() - 1);
  EXPECT_EQ(ClassifyStream(Route::kChatCompletions, no_done), StreamEnd::kIncomplete);
  std::vector<StreamEvent> cut(events.begin(), events.begin() + 4);
  EXPECT_EQ(ClassifyStream(Route::kChatCompletions, cut), StreamEnd::kIncomplete);
  EXPECT_EQ(ClassifyStream(Route::kChatCompletions, {}), StreamEnd::kIncomplete);
  // [DONE] without any finish_reason (e.g. a proxy that closes the stream politely).
  cut.push_back(StreamEvent{"", "[DONE]"});
  EXPECT_EQ(ClassifyStream(Route::kChatCompletions, cut), StreamEnd::kIncomplete);

  // n=2: the second choice never finishes.
  std::vector<StreamEvent> n2 = Fixture("openai_chat_n2_logprobs");
  n2.erase(n2.end() - 2);
  EXPECT_EQ(ClassifyStream(Route::kChatCompletions, n2), StreamEnd::kIncomplete);
}

TEST(OpenAIClassifyTest, ContentFilterIsNotClean) {
  std::vector<StreamEvent> events = ParseSse(
      "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
      "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n"
      "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
      "\"delta\":{},\"finish_reason\":\"content_filter\"}]}\n\n"
      "data: [DONE]\n\n");
  EXPECT_EQ(ClassifyStream(Route::kChatCompletions, events), StreamEnd::kIncomplete);
}

TEST(OpenAIClassifyTest, ErrorsMidStream) {
  std::vector<StreamEvent> events = Fixture("openai_chat_text");
  std::vector<StreamEvent> errored(events.begin(), events.begin() + 3);
  errored.push_back(StreamEvent{
      "", R"({"error":{"message":"The server had an error while processing your request.",)"
          R"("type":"server_error","param":null,"code":null}})"});
  EXPECT_EQ(ClassifyStream(Route::kChatCompletions, errored), StreamEnd::kError);
  EXPECT_EQ(AssembleStream(Route::kChatCompletions, errored).status().code(),
            StatusCode::kFailedPrecondition);
  errored.back() = StreamEvent{"error", R"({"message":"overloaded"})"};
  EXPECT_EQ(ClassifyStream(Route::kCompletions, errored), StreamEnd::kError);
}

TEST(OpenAIAssembleTest, ToleratesCompatibleServerQuirks) {
  // Azure opens with a prompt-filter chunk with blank header fields; newer OpenAI streams pad
  // deltas with "obfuscation"; some servers put usage on the final choice chunk.
  std::vector<StreamEvent> events = ParseSse(
      "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\","
      "\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{}}]}\n\n"
      "data: {\"id\":\"chatcmpl-z\",\"object\":\"chat.completion.chunk\",\"created\":1700000001,"
      "\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
      "\"content\":\"Hi\"},\"finish_reason\":null}],\"obfuscation\":\"x9\"}\n\n"
      "data: {\"id\":\"chatcmpl-z\",\"object\":\"chat.completion.chunk\",\"created\":1700000001,"
      "\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"obfuscation\":\"ab\"},"
      "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,"
      "\"total_tokens\":4}}\n\n"
      "data: [DONE]\n\n");
  StatusOr<std::string> body = AssembleStream(Route::kChatCompletions, events);
  ASSERT_TRUE(body.ok()) << body.status().ToString();
  EXPECT_EQ(Canon(*body),
            Canon(R"({"id":"chatcmpl-z","object":"chat.completion","created":1700000001,
                "model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},
                "finish_reason":"stop"}],
                "usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4},
                "prompt_filter_results":[{"prompt_index":0,"content_filter_results":{}}]})"));
}

TEST(OpenAIAssembleTest, RejectsBadStreams) {
  EXPECT_EQ(AssembleStream(Route::kChatCompletions, {}).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(AssembleStream(Route::kChatCompletions, {{"", "[DONE]"}}).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(AssembleStream(Route::kChatCompletions, {{"", "{\"choices\":["}}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(OpenAIExplodeTest, RejectsBadBodies) {
  EXPECT_EQ(ExplodeBody(Route::kChatCompletions, "not json", false).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ExplodeBody(Route::kChatCompletions, "[]", false).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ExplodeBody(Route::kChatCompletions, R"({"id":"x"})", false).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ExplodeBody(Route::kChatCompletions,
                        R"({"error":{"message":"bad","type":"invalid_request_error"}})", false)
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(
      ExplodeBody(Route::kChatCompletions, R"({"choices":[{"index":0}]})", false).status().code(),
      StatusCode::kInvalidArgument);
}

TEST(OpenAIAdaptUsageTest, DropsUsageWhenNotAsked) {
  std::vector<StreamEvent> events = Fixture("openai_chat_text");
  StatusOr<std::vector<StreamEvent>> out = AdaptStreamUsage(Route::kChatCompletions, events, false);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->size(), events.size() - 1);
  for (const StreamEvent& e : *out) EXPECT_EQ(e.data.find("usage"), std::string::npos) << e.data;
  EXPECT_EQ(out->back(), (StreamEvent{"", "[DONE]"}));
  EXPECT_EQ(ClassifyStream(Route::kChatCompletions, *out), StreamEnd::kClean);
}

TEST(OpenAIAdaptUsageTest, KeepsAStreamThatAlreadyMatches) {
  std::vector<StreamEvent> with_usage = Fixture("openai_chat_text");
  StatusOr<std::vector<StreamEvent>> out =
      AdaptStreamUsage(Route::kChatCompletions, with_usage, true);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, with_usage);  // byte for byte
  std::vector<StreamEvent> without = Fixture("openai_chat_tools");
  out = AdaptStreamUsage(Route::kChatCompletions, without, false);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, without);
}

TEST(OpenAIAdaptUsageTest, CannotInventUsage) {
  EXPECT_EQ(
      AdaptStreamUsage(Route::kChatCompletions, Fixture("openai_chat_tools"), true).status().code(),
      StatusCode::kFailedPrecondition);
}

TEST(OpenAIAdaptUsageTest, SynthesizesTheUsageChunkFromUsageOnAChoiceChunk) {
  std::vector<StreamEvent> events = ParseSse(
      "data: {\"id\":\"c\",\"object\":\"text_completion\",\"created\":5,\"model\":\"m\","
      "\"choices\":[{\"text\":\"Hi\",\"index\":0,\"logprobs\":null,\"finish_reason\":null}]}\n\n"
      "data: {\"id\":\"c\",\"object\":\"text_completion\",\"created\":5,\"model\":\"m\","
      "\"choices\":[{\"text\":\"\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"stop\"}],"
      "\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":1,\"total_tokens\":3}}\n\n"
      "data: [DONE]\n\n");
  StatusOr<std::vector<StreamEvent>> out = AdaptStreamUsage(Route::kCompletions, events, true);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->size(), 4u);
  std::vector<json::Value> chunks = Payloads(*out);
  EXPECT_TRUE(chunks[0].Find("usage")->is_null());
  EXPECT_TRUE(chunks[1].Find("usage")->is_null());
  EXPECT_EQ(Canon(json::Write(chunks[2])),
            Canon(R"({"id":"c","object":"text_completion","created":5,"model":"m","choices":[],
                "usage":{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3}})"));
  EXPECT_EQ(out->back(), (StreamEvent{"", "[DONE]"}));
  StatusOr<std::string> body = AssembleStream(Route::kCompletions, *out);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(MustParse(*body).Find("usage")->Find("total_tokens")->as_number(), 3);
}

TEST(OpenAIUsageTest, ExtractsModelAndTokens) {
  Usage u = ExtractUsage(Route::kChatCompletions, ReadFixture("openai_chat_text.json"));
  EXPECT_EQ(u.model, "gpt-4o-2024-08-06");
  EXPECT_EQ(u.input_tokens, 19);
  EXPECT_EQ(u.output_tokens, 10);
  u = ExtractStreamUsage(Route::kChatCompletions, Fixture("openai_chat_text"));
  EXPECT_EQ(u.model, "gpt-4o-2024-08-06");
  EXPECT_EQ(u.input_tokens, 19);
  EXPECT_EQ(u.output_tokens, 10);
  u = ExtractStreamUsage(Route::kCompletions, Fixture("openai_completions"));
  EXPECT_EQ(u.model, "gpt-3.5-turbo-instruct");
  EXPECT_EQ(u.input_tokens, 5);
  EXPECT_EQ(u.output_tokens, 7);
  u = ExtractStreamUsage(Route::kChatCompletions, Fixture("openai_chat_tools"));
  EXPECT_EQ(u.model, "gpt-4o-mini-2024-07-18");
  EXPECT_EQ(u.input_tokens, 0);
  u = ExtractUsage(Route::kEmbeddings,
                   R"({"object":"list","data":[],"model":"text-embedding-3-small",)"
                   R"("usage":{"prompt_tokens":8,"total_tokens":8}})");
  EXPECT_EQ(u.model, "text-embedding-3-small");
  EXPECT_EQ(u.input_tokens, 8);
  EXPECT_EQ(u.output_tokens, 0);
  u = ExtractUsage(Route::kChatCompletions, "not json");
  EXPECT_EQ(u.model, "");
}

TEST(NonStreamingRoutesTest, RefuseStreamConversion) {
  for (Route route : {Route::kEmbeddings, Route::kOther}) {
    EXPECT_EQ(ClassifyStream(route, {{"", "[DONE]"}}), StreamEnd::kError);
    EXPECT_EQ(AssembleStream(route, {}).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(ExplodeBody(route, "{}", false).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(AdaptStreamUsage(route, {}, true).status().code(), StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace deja::server
