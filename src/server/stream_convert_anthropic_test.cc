// Anthropic Messages: assembly of captured-style streams, round trips, classification.
#include <gtest/gtest.h>

#include <string>

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

std::vector<StreamEvent> Fixture(const char* name) {
  return ParseSse(ReadFixture(std::string(name) + ".sse"));
}

TEST(AnthropicStreamTest, AssemblesCapturedStreams) {
  for (const char* name : {"anthropic_tool_use", "anthropic_thinking"}) {
    SCOPED_TRACE(name);
    std::vector<StreamEvent> events = Fixture(name);
    EXPECT_EQ(ClassifyStream(Route::kAnthropicMessages, events), StreamEnd::kClean);
    StatusOr<std::string> body = AssembleStream(Route::kAnthropicMessages, events);
    ASSERT_TRUE(body.ok()) << body.status().ToString();
    EXPECT_EQ(Canon(*body), Canon(ReadFixture(std::string(name) + ".json")));
  }
}

TEST(AnthropicStreamTest, BodiesRoundTrip) {
  ExpectRoundTrip(Route::kAnthropicMessages, ReadFixture("anthropic_tool_use.json"), false);
  ExpectRoundTrip(Route::kAnthropicMessages, ReadFixture("anthropic_thinking.json"), false);
  const char* bodies[] = {
      // Plain text with a stop sequence, newer usage fields.
      R"({"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant",
          "model":"claude-opus-4-1-20250805","content":[{"type":"text",
          "text":"Bonjour ! Voici la liste :\n1. Café ☕\n2. Thé 🍵\n3. 日本茶 — and that is the whole list you asked for, nothing more."}],
          "stop_reason":"stop_sequence","stop_sequence":"\n\nHuman:",
          "usage":{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,
          "cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},
          "output_tokens":40,"service_tier":"standard"}})",
      // Redacted thinking, citations, a tool with empty input, max_tokens.
      R"({"id":"msg_02","type":"message","role":"assistant","model":"claude-3-7-sonnet-20250219",
          "content":[{"type":"redacted_thinking","data":"EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"},
          {"type":"text","text":"The grass is green.","citations":[{"type":"char_location",
            "cited_text":"The grass is green.","document_index":0,"document_title":"Facts",
            "start_char_index":0,"end_char_index":20}]},
          {"type":"tool_use","id":"toolu_01A","name":"list_files","input":{}},
          {"type":"tool_use","id":"toolu_01B","name":"search","input":{"query":"grass colour",
            "filters":{"lang":["en","fr"],"max":3,"strict":true,"score":0.5}}}],
          "stop_reason":"max_tokens","stop_sequence":null,
          "usage":{"input_tokens":1200,"output_tokens":1024}})",
  };
  for (const char* body : bodies) {
    SCOPED_TRACE(body);
    ExpectRoundTrip(Route::kAnthropicMessages, body, false);
  }
}

TEST(AnthropicStreamTest, ExplodedEventsAreWellFormed) {
  StatusOr<std::vector<StreamEvent>> events =
      ExplodeBody(Route::kAnthropicMessages, ReadFixture("anthropic_tool_use.json"), false);
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  std::vector<json::Value> data = Payloads(*events);
  ASSERT_EQ(data.size(), events->size());
  for (size_t i = 0; i < data.size(); ++i) {
    EXPECT_EQ(data[i].GetString("type"), (*events)[i].event);
  }
  EXPECT_EQ((*events)[0].event, "message_start");
  const json::Value& start = *data[0].Find("message");
  EXPECT_TRUE(start.Find("content")->as_array().empty());
  EXPECT_TRUE(start.Find("stop_reason")->is_null());
  EXPECT_EQ(start.Find("usage")->Find("input_tokens")->as_number(), 472);
  EXPECT_EQ((*events)[1].event, "content_block_start");
  EXPECT_EQ(Canon(json::Write(*data[1].Find("content_block"))),
            Canon(R"({"type":"text","text":""})"));
  std::string partial_json;
  for (const json::Value& d : data) {
    if (d.GetString("type") != "content_block_start") continue;
    const json::Value& block = *d.Find("content_block");
    if (block.GetString("type") == "tool_use") {
      EXPECT_EQ(Canon(json::Write(block)),
                Canon(R"({"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                          "name":"get_weather","input":{}})"));
    }
  }
  for (const json::Value& d : data) {
    const json::Value* delta = d.Find("delta");
    if (delta != nullptr && delta->GetString("type") == "input_json_delta") {
      partial_json += delta->GetString("partial_json");
    }
  }
  EXPECT_EQ(Canon(partial_json), Canon(R"({"location":"San Francisco, CA","unit":"fahrenheit"})"));
  const size_t n = events->size();
  EXPECT_EQ((*events)[n - 2].event, "message_delta");
  EXPECT_EQ(data[n - 2].Find("delta")->GetString("stop_reason"), "tool_use");
  EXPECT_EQ(data[n - 2].Find("usage")->Find("output_tokens")->as_number(), 89);
  EXPECT_EQ((*events)[n - 1], (StreamEvent{"message_stop", R"({"type":"message_stop"})"}));
}

TEST(AnthropicClassifyTest, TruncatedErroredAndRefusedStreams) {
  std::vector<StreamEvent> events = Fixture("anthropic_tool_use");
  std::vector<StreamEvent> no_stop(events.begin(), events.end() - 1);
  EXPECT_EQ(ClassifyStream(Route::kAnthropicMessages, no_stop), StreamEnd::kIncomplete);
  // Cut inside the tool input: incomplete, and the partial JSON cannot be assembled.
  std::vector<StreamEvent> cut(events.begin(), events.begin() + 15);
  EXPECT_EQ(ClassifyStream(Route::kAnthropicMessages, cut), StreamEnd::kIncomplete);
  EXPECT_EQ(AssembleStream(Route::kAnthropicMessages, cut).status().code(),
            StatusCode::kInvalidArgument);
  // message_stop without a message_delta.
  std::vector<StreamEvent> no_delta(events.begin(), events.end() - 2);
  no_delta.push_back(events.back());
  EXPECT_EQ(ClassifyStream(Route::kAnthropicMessages, no_delta), StreamEnd::kIncomplete);

  std::vector<StreamEvent> errored(events.begin(), events.begin() + 5);
  errored.push_back(StreamEvent{
      "error", R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})"});
  EXPECT_EQ(ClassifyStream(Route::kAnthropicMessages, errored), StreamEnd::kError);
  EXPECT_EQ(AssembleStream(Route::kAnthropicMessages, errored).status().code(),
            StatusCode::kFailedPrecondition);

  std::vector<StreamEvent> refused = events;
  refused[refused.size() - 2].data =
      R"({"type":"message_delta","delta":{"stop_reason":"refusal","stop_sequence":null},)"
      R"("usage":{"output_tokens":3}})";
  EXPECT_EQ(ClassifyStream(Route::kAnthropicMessages, refused), StreamEnd::kIncomplete);
  EXPECT_EQ(ClassifyStream(Route::kAnthropicMessages, {}), StreamEnd::kIncomplete);
}

TEST(AnthropicAssembleTest, RejectsStreamWithoutMessageStart) {
  std::vector<StreamEvent> events = Fixture("anthropic_thinking");
  events.erase(events.begin());
  EXPECT_EQ(AssembleStream(Route::kAnthropicMessages, events).status().code(),
            StatusCode::kInvalidArgument);  // message_delta before message_start
  EXPECT_EQ(AssembleStream(Route::kAnthropicMessages, {}).status().code(),
            StatusCode::kFailedPrecondition);
}

TEST(AnthropicStreamTest, AdaptIsANoOp) {
  std::vector<StreamEvent> events = Fixture("anthropic_thinking");
  StatusOr<std::vector<StreamEvent>> out =
      AdaptStreamUsage(Route::kAnthropicMessages, events, true);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, events);
}

TEST(AnthropicUsageTest, CountsCacheTokensAsInput) {
  Usage u = ExtractUsage(Route::kAnthropicMessages, ReadFixture("anthropic_thinking.json"));
  EXPECT_EQ(u.model, "claude-3-7-sonnet-20250219");
  EXPECT_EQ(u.input_tokens, 36 + 1024);
  EXPECT_EQ(u.output_tokens, 112);
  u = ExtractStreamUsage(Route::kAnthropicMessages, Fixture("anthropic_thinking"));
  EXPECT_EQ(u.model, "claude-3-7-sonnet-20250219");
  EXPECT_EQ(u.input_tokens, 36 + 1024);
  EXPECT_EQ(u.output_tokens, 112);
  u = ExtractStreamUsage(Route::kAnthropicMessages, Fixture("anthropic_tool_use"));
  EXPECT_EQ(u.input_tokens, 472);
  EXPECT_EQ(u.output_tokens, 89);
  EXPECT_EQ(MustParse(ReadFixture("anthropic_tool_use.json")).GetString("model"),
            "claude-sonnet-4-20250514");
}

}  // namespace
}  // namespace deja::server
