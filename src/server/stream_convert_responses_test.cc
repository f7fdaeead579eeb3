// OpenAI Responses API: assembly, explosion into a faithful event sequence, classification.
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

// A reasoning model's answer: a reasoning item with a summary, a message with an annotated text
// part, and a function call.
constexpr const char* kMixedBody = R"({
  "id":"resp_689f0a1b2c3d4e5f","object":"response","created_at":1755200000,"status":"completed",
  "background":false,"error":null,"incomplete_details":null,"instructions":null,
  "max_output_tokens":null,"model":"o4-mini-2025-04-16",
  "output":[
    {"id":"rs_689f0a1c","type":"reasoning","summary":[
      {"type":"summary_text","text":"**Checking the forecast**\n\nThe user wants Paris weather; I should call the tool and cite the source."}]},
    {"id":"msg_689f0a1d","type":"message","status":"completed","role":"assistant","content":[
      {"type":"output_text","text":"Per Météo-France, Paris will be sunny — 24 °C. ☀️","logprobs":[],
       "annotations":[{"type":"url_citation","start_index":4,"end_index":16,"title":"Météo-France",
                       "url":"https://meteofrance.com/"}]}]},
    {"id":"fc_689f0a1e","type":"function_call","status":"completed","arguments":"{\"city\":\"Paris\",\"days\":3}",
     "call_id":"call_k2J9","name":"get_forecast"},
    {"id":"ws_689f0a1f","type":"web_search_call","status":"completed","action":{"type":"search","query":"Paris weather"}}
  ],
  "parallel_tool_calls":true,"previous_response_id":null,
  "reasoning":{"effort":"medium","summary":"auto"},"store":true,"temperature":1.0,
  "text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":1.0,
  "truncation":"disabled",
  "usage":{"input_tokens":120,"input_tokens_details":{"cached_tokens":0},"output_tokens":300,
           "output_tokens_details":{"reasoning_tokens":192},"total_tokens":420},
  "user":null,"metadata":{}})";

TEST(ResponsesStreamTest, AssemblesCapturedStreams) {
  for (const char* name : {"responses_text", "responses_function_call"}) {
    SCOPED_TRACE(name);
    std::vector<StreamEvent> events = Fixture(name);
    EXPECT_EQ(ClassifyStream(Route::kResponses, events), StreamEnd::kClean);
    StatusOr<std::string> body = AssembleStream(Route::kResponses, events);
    ASSERT_TRUE(body.ok()) << body.status().ToString();
    EXPECT_EQ(Canon(*body), Canon(ReadFixture(std::string(name) + ".json")));
  }
}

TEST(ResponsesStreamTest, BodiesRoundTrip) {
  ExpectRoundTrip(Route::kResponses, ReadFixture("responses_text.json"), false);
  ExpectRoundTrip(Route::kResponses, ReadFixture("responses_function_call.json"), true);
  ExpectRoundTrip(Route::kResponses, kMixedBody, false);
}

TEST(ResponsesStreamTest, ExplodedTextMatchesTheCapturedSequence) {
  // Same event names in the same order as the captured stream (deltas may be cut differently).
  auto names = [](const std::vector<StreamEvent>& events) {
    std::vector<std::string> out;
    for (const StreamEvent& e : events) {
      if (e.event == "response.output_text.delta" && !out.empty() && out.back() == e.event)
        continue;
      out.push_back(e.event);
    }
    return out;
  };
  StatusOr<std::vector<StreamEvent>> events =
      ExplodeBody(Route::kResponses, ReadFixture("responses_text.json"), false);
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  EXPECT_EQ(names(*events), names(Fixture("responses_text")));

  events = ExplodeBody(Route::kResponses, ReadFixture("responses_function_call.json"), false);
  ASSERT_TRUE(events.ok());
  std::vector<StreamEvent> captured = Fixture("responses_function_call");
  auto collapse = [](std::vector<std::string> v) {
    std::vector<std::string> out;
    for (std::string& s : v) {
      if (!out.empty() && out.back() == s) continue;
      out.push_back(std::move(s));
    }
    return out;
  };
  std::vector<std::string> got, want;
  for (const StreamEvent& e : *events) got.push_back(e.event);
  for (const StreamEvent& e : captured) want.push_back(e.event);
  EXPECT_EQ(collapse(got), collapse(want));
}

TEST(ResponsesStreamTest, ExplodedEventsAreWellFormed) {
  StatusOr<std::vector<StreamEvent>> events = ExplodeBody(Route::kResponses, kMixedBody, true);
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  std::vector<json::Value> data = Payloads(*events);
  ASSERT_EQ(data.size(), events->size());
  std::string text, args, summary;
  for (size_t i = 0; i < data.size(); ++i) {
    SCOPED_TRACE((*events)[i].event);
    EXPECT_EQ(data[i].GetString("type"), (*events)[i].event);
    ASSERT_NE(data[i].Find("sequence_number"), nullptr);
    EXPECT_EQ(data[i].Find("sequence_number")->as_number(), static_cast<double>(i));
    const std::string_view type = data[i].GetString("type");
    if (type == "response.output_text.delta") text += data[i].GetString("delta");
    if (type == "response.function_call_arguments.delta") args += data[i].GetString("delta");
    if (type == "response.reasoning_summary_text.delta") summary += data[i].GetString("delta");
    if (type == "response.output_item.added") {
      const json::Value& item = *data[i].Find("item");
      if (item.GetString("type") == "message") {
        EXPECT_TRUE(item.Find("content")->as_array().empty());
        EXPECT_EQ(item.GetString("status"), "in_progress");
      }
      if (item.GetString("type") == "function_call") {
        EXPECT_EQ(item.GetString("arguments"), "");
      }
    }
  }
  EXPECT_EQ((*events)[0].event, "response.created");
  const json::Value& created = *data[0].Find("response");
  EXPECT_EQ(created.GetString("status"), "in_progress");
  EXPECT_TRUE(created.Find("output")->as_array().empty());
  EXPECT_TRUE(created.Find("usage")->is_null());
  EXPECT_EQ((*events)[1].event, "response.in_progress");
  EXPECT_EQ(events->back().event, "response.completed");
  EXPECT_EQ(text, "Per Météo-France, Paris will be sunny — 24 °C. ☀️");
  EXPECT_EQ(args, "{\"city\":\"Paris\",\"days\":3}");
  EXPECT_EQ(summary.substr(0, 26), "**Checking the forecast**\n");
}

TEST(ResponsesStreamTest, IncompleteResponseEndsWithResponseIncomplete) {
  json::Value body = MustParse(ReadFixture("responses_text.json"));
  body.Set("status", json::Value("incomplete"));
  body.Set("incomplete_details", MustParse(R"({"reason":"max_output_tokens"})"));
  StatusOr<std::vector<StreamEvent>> events =
      ExplodeBody(Route::kResponses, json::Write(body), false);
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(events->back().event, "response.incomplete");
  EXPECT_EQ(ClassifyStream(Route::kResponses, *events), StreamEnd::kIncomplete);
  StatusOr<std::string> assembled = AssembleStream(Route::kResponses, *events);
  ASSERT_TRUE(assembled.ok());
  EXPECT_EQ(Canon(*assembled), Canon(json::Write(body)));
}

TEST(ResponsesClassifyTest, TruncatedFailedAndErroredStreams) {
  std::vector<StreamEvent> events = Fixture("responses_text");
  std::vector<StreamEvent> cut(events.begin(), events.end() - 1);
  EXPECT_EQ(ClassifyStream(Route::kResponses, cut), StreamEnd::kIncomplete);
  EXPECT_EQ(AssembleStream(Route::kResponses, cut).status().code(),
            StatusCode::kFailedPrecondition);

  std::vector<StreamEvent> errored = cut;
  errored.push_back(StreamEvent{
      "error", R"({"type":"error","sequence_number":20,"code":"server_error",)"
               R"("message":"The server had an error processing your request.","param":null})"});
  EXPECT_EQ(ClassifyStream(Route::kResponses, errored), StreamEnd::kError);
  EXPECT_EQ(AssembleStream(Route::kResponses, errored).status().code(),
            StatusCode::kFailedPrecondition);

  std::vector<StreamEvent> failed = cut;
  failed.push_back(StreamEvent{
      "response.failed",
      R"({"type":"response.failed","sequence_number":20,"response":{"id":"resp_1",)"
      R"("object":"response","status":"failed","error":{"code":"server_error","message":"x"}}})"});
  EXPECT_EQ(ClassifyStream(Route::kResponses, failed), StreamEnd::kError);

  // Without event lines (some proxies drop them) the data's type still identifies the events.
  std::vector<StreamEvent> unnamed = events;
  for (StreamEvent& e : unnamed) e.event.clear();
  EXPECT_EQ(ClassifyStream(Route::kResponses, unnamed), StreamEnd::kClean);
  ASSERT_TRUE(AssembleStream(Route::kResponses, unnamed).ok());
}

TEST(ResponsesStreamTest, IncludeUsageAndAdaptAreNoOps) {
  std::vector<StreamEvent> events = Fixture("responses_text");
  for (bool include : {false, true}) {
    StatusOr<std::vector<StreamEvent>> out = AdaptStreamUsage(Route::kResponses, events, include);
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(*out, events);
  }
}

TEST(ResponsesStreamTest, RejectsBadBodies) {
  EXPECT_EQ(ExplodeBody(Route::kResponses, R"({"id":"resp_1"})", false).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ExplodeBody(Route::kResponses, R"({"output":[1]})", false).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(ResponsesUsageTest, ExtractsModelAndTokens) {
  Usage u = ExtractUsage(Route::kResponses, ReadFixture("responses_text.json"));
  EXPECT_EQ(u.model, "gpt-4.1-2025-04-14");
  EXPECT_EQ(u.input_tokens, 37);
  EXPECT_EQ(u.output_tokens, 11);
  u = ExtractStreamUsage(Route::kResponses, Fixture("responses_function_call"));
  EXPECT_EQ(u.model, "gpt-4.1-2025-04-14");
  EXPECT_EQ(u.input_tokens, 58);
  EXPECT_EQ(u.output_tokens, 18);
  std::vector<StreamEvent> cut = Fixture("responses_text");
  cut.resize(3);
  u = ExtractStreamUsage(Route::kResponses, cut);
  EXPECT_EQ(u.model, "gpt-4.1-2025-04-14");  // from response.created
  EXPECT_EQ(u.output_tokens, 0);
}

}  // namespace
}  // namespace deja::server
